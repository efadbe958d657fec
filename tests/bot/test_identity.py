"""Identity links and the per-request token exchange, against DynamoDB, KMS and Cognito in moto."""

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bot.identity import (
    CognitoSettings,
    IdentityError,
    IdentityService,
    NotLinkedError,
    RelinkRequiredError,
    link_key,
)
from centralops.errors import CentralOpsError, ConfigurationError
from tests.fixtures.aws import session
from tests.fixtures.identity_stack import (  # noqa: F401 - fixtures
    PEOPLE,
    TEAM,
    Clock,
    IdentityEnv,
    build_service,
    create_tables,
    identity_env_fixture,
)

ALICE = PEOPLE["alice"].chat_user
CAROL = PEOPLE["carol"].chat_user


class Services:
    """Two bot replicas sharing the same tables, and a count of real InitiateAuth calls."""

    def __init__(self, env: IdentityEnv) -> None:
        self.env = env
        self.links_table, self.states_table = create_tables(env)
        self.clock = Clock()
        self.a = build_service(env, self.links_table, self.states_table, self.clock)
        self.b = build_service(env, self.links_table, self.states_table, self.clock)
        self.initiate_auth_calls = 0
        for service in (self.a, self.b):
            service.idp().meta.events.register("before-call.cognito-idp.InitiateAuth", self._count)

    def _count(self, **_: Any) -> None:
        self.initiate_auth_calls += 1

    async def link(self, who: str = "alice", service: IdentityService | None = None) -> None:
        person = PEOPLE[who]
        await (service or self.a).store.save(
            "slack",
            TEAM,
            person.chat_user,
            username=person.email,
            email=person.email,
            refresh_token=self.env.refresh_token(who),
        )


@pytest.fixture
def services(identity_env: IdentityEnv) -> Iterator[Services]:
    yield Services(identity_env)


async def test_the_refresh_token_is_stored_as_kms_ciphertext_bound_to_the_link(services: Services) -> None:
    refresh_token = services.env.refresh_token("alice")
    await services.a.store.save(
        "slack",
        TEAM,
        ALICE,
        username="alice@example.com",
        email="alice@example.com",
        refresh_token=refresh_token,
    )

    table = services.env.resource("dynamodb").Table(services.links_table)
    item = table.get_item(Key={"link_id": link_key("slack", TEAM, ALICE)})["Item"]
    ciphertext = base64.b64decode(item["refresh_token"])
    assert refresh_token not in item["refresh_token"] and refresh_token.encode() not in ciphertext
    assert set(item) == {
        "link_id",
        "platform",
        "team",
        "user",
        "username",
        "email",
        "linked_at",
        "refresh_token",
    }
    kms = services.env.client("kms")
    plain = kms.decrypt(CiphertextBlob=ciphertext, EncryptionContext={"link_id": item["link_id"]})[
        "Plaintext"
    ]
    assert plain.decode() == refresh_token
    # Copied onto another user's link, the ciphertext does not decrypt.
    with pytest.raises(ClientError, match="InvalidCiphertext"):
        kms.decrypt(
            CiphertextBlob=ciphertext, EncryptionContext={"link_id": link_key("slack", TEAM, "U0MALLORY")}
        )
    assert await services.a.store.refresh_token("slack", TEAM, ALICE) == refresh_token


async def test_links_can_be_read_and_deleted(services: Services) -> None:
    store = services.a.store
    assert await store.get("slack", TEAM, ALICE) is None
    assert await store.refresh_token("slack", TEAM, ALICE) is None
    await services.link()

    link = await store.get("slack", TEAM, ALICE)

    assert link is not None
    assert (link.platform, link.team, link.user, link.email) == ("slack", TEAM, ALICE, "alice@example.com")
    assert link.link_id == f"slack#{TEAM}#{ALICE}"
    assert link.display_name == "alice@example.com"
    assert await store.delete("slack", TEAM, ALICE) is True
    assert await store.delete("slack", TEAM, ALICE) is False
    assert await store.get("slack", TEAM, ALICE) is None


async def test_a_cached_id_token_avoids_a_second_cognito_call(services: Services) -> None:
    await services.link()

    first = await services.a.id_token("slack", TEAM, ALICE)
    second = await services.a.id_token("slack", TEAM, ALICE)

    assert first == second
    assert services.initiate_auth_calls == 1
    assert services.a.claims(first)["cognito:groups"] == ["centralops-operators"]


async def test_concurrent_requests_of_one_user_share_one_exchange(services: Services) -> None:
    await services.link()

    tokens = await asyncio.gather(*(services.a.id_token("slack", TEAM, ALICE) for _ in range(5)))

    assert len(set(tokens)) == 1
    assert services.initiate_auth_calls == 1


async def test_a_token_close_to_expiry_is_exchanged_again(services: Services) -> None:
    await services.link()
    first = await services.a.id_token("slack", TEAM, ALICE)
    exp = services.a.claims(first)["exp"]

    services.clock.offset = exp - services.clock() - services.a.refresh_margin_s + 1

    second = await services.a.id_token("slack", TEAM, ALICE)
    assert services.initiate_auth_calls == 2
    assert services.a.claims(second)["jti"] != services.a.claims(first)["jti"]


async def test_each_replica_serves_any_user_and_a_logout_anywhere_applies_everywhere(
    services: Services,
) -> None:
    await services.link(service=services.b)
    assert await services.a.id_token("slack", TEAM, ALICE)  # replica A caches the link and a token
    assert await services.b.id_token("slack", TEAM, ALICE)

    assert await services.b.unlink("slack", TEAM, ALICE) is True

    with pytest.raises(NotLinkedError):  # on the replica that unlinked: at once
        await services.b.id_token("slack", TEAM, ALICE)
    # On another replica the link it read is kept for at most link_ttl_s; then the logout applies.
    services.clock.offset = services.a.link_ttl_s + 0.001
    with pytest.raises(NotLinkedError):
        await services.a.id_token("slack", TEAM, ALICE)


async def test_a_kept_link_saves_the_read_and_never_answers_for_another_person(services: Services) -> None:
    await services.link()
    await services.link("carol")
    reads: list[str] = []
    store_get = services.a.store.get

    async def counted(platform: str, team: str, user: str) -> Any:
        reads.append(user)
        return await store_get(platform, team, user)

    services.a.store.get = counted  # type: ignore[method-assign]
    alice = [await services.a.id_token("slack", TEAM, ALICE) for _ in range(3)]
    carol = await services.a.id_token("slack", TEAM, CAROL)

    assert reads == [ALICE, CAROL]  # one read per person while the link is kept
    assert services.a.claims(alice[0])["email"] == "alice@example.com"
    assert services.a.claims(carol)["email"] == "carol@example.com"
    await services.a.unlink("slack", TEAM, ALICE)
    with pytest.raises(NotLinkedError):
        await services.a.id_token("slack", TEAM, ALICE)
    assert await services.a.id_token("slack", TEAM, CAROL) == carol  # only the person who left is dropped


async def test_a_revoked_refresh_token_asks_the_user_to_link_again(services: Services) -> None:
    await services.link()
    services.env.client("cognito-idp").admin_user_global_sign_out(
        UserPoolId=services.env.pool_id, Username="alice@example.com"
    )

    with pytest.raises(RelinkRequiredError, match="/aws login") as raised:
        await services.a.id_token("slack", TEAM, ALICE)

    assert raised.value.code == "relink_required"
    assert await services.a.whoami("slack", TEAM, ALICE) is not None  # the link stays until the user re-links


async def test_an_unlinked_user_is_told_to_link_in_their_own_platforms_words(services: Services) -> None:
    with pytest.raises(NotLinkedError, match="/aws login") as slack:
        await services.a.id_token("slack", TEAM, ALICE)
    with pytest.raises(NotLinkedError, match="`login`") as teams:
        await services.a.id_token("teams", "tenant", "aad-user")

    for error in (slack.value, teams.value):
        assert isinstance(error, CentralOpsError) and error.code == "not_linked"
    assert services.initiate_auth_calls == 0


async def test_cognito_out_of_reach_is_a_retryable_error_not_a_relink(services: Services) -> None:
    await services.link()
    services.a.cognito_idp = session().client(
        "cognito-idp",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )

    with pytest.raises(IdentityError, match="Try again") as raised:
        await services.a.id_token("slack", TEAM, ALICE)

    assert not isinstance(raised.value, (NotLinkedError, RelinkRequiredError))


async def test_the_login_url_points_at_the_bot_and_carries_a_state_bound_to_the_user(
    services: Services,
) -> None:
    url = await services.a.login_url("slack", TEAM, ALICE)

    assert url.startswith(f"{services.env.bot_url}/auth/start?state=")
    state = await services.a.oauth_states.peek(url.partition("state=")[2])
    assert state is not None and state.link_id == link_key("slack", TEAM, ALICE)
    assert state.expires_at - services.clock() <= 600


async def test_a_state_is_consumed_exactly_once_even_concurrently(services: Services) -> None:
    states = services.a.oauth_states
    state = await states.create("slack", TEAM, ALICE)

    results = await asyncio.gather(*(states.consume(state.state) for _ in range(4)))

    assert [r.state for r in results if r is not None] == [state.state]
    assert await states.consume(state.state) is None


def test_claims_of_something_that_is_not_a_jwt_is_an_identity_error() -> None:
    with pytest.raises(IdentityError, match="/aws login"):
        IdentityService.claims("not-a-jwt")


def test_settings_come_from_the_environment_and_a_missing_one_is_named() -> None:
    environ = {
        "CENTRALOPS_IDENTITY_LINKS_TABLE": "links",
        "CENTRALOPS_OAUTH_STATES_TABLE": "states",
        "CENTRALOPS_KMS_KEY_ID": "alias/centralops",
        "CENTRALOPS_COGNITO_USER_POOL_ID": "us-east-1_abc",
        "CENTRALOPS_COGNITO_CLIENT_ID": "client",
        "CENTRALOPS_COGNITO_DOMAIN_URL": "https://login.example.com/",
        "CENTRALOPS_PUBLIC_URL": "https://bot.example.com/",
    }

    service = IdentityService.from_env(environ)

    assert service.public_url == "https://bot.example.com"
    assert service.cognito.domain_url == "https://login.example.com"
    assert service.cognito.expected_issuer == "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc"
    assert service.cognito_idp is None  # clients are created on first use
    with pytest.raises(ConfigurationError, match="CENTRALOPS_COGNITO_DOMAIN_URL"):
        CognitoSettings.from_env({k: v for k, v in environ.items() if k != "CENTRALOPS_COGNITO_DOMAIN_URL"})
