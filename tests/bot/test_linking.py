"""The whole linking flow: sign-in button → /auth/start → hosted UI → /auth/callback → link → tokens.

Real peers throughout: moto's Cognito (real RS256 tokens, JWKS), the hosted-UI
stand-in as its own process, DynamoDB and KMS in moto, and the bot's aiohttp
routes on a real socket.
"""

import pytest
from botocore.exceptions import ClientError

from bot.auth_routes import setup_auth_routes
from bot.identity import NotLinkedError
from centralops.errors import ConfigurationError
from tests.fixtures.identity_stack import (  # noqa: F401 - fixtures
    PEOPLE,
    TEAM,
    Linking,
    identity_env_fixture,
    linking_fixture,
    query_of,
)

ALICE = PEOPLE["alice"].chat_user


async def test_login_links_and_the_linked_user_gets_verified_id_tokens_until_logout(linking: Linking) -> None:
    service = linking.service
    login_url = await service.login_url("slack", TEAM, ALICE)

    page = await linking.browser.sign_in(login_url, "alice")

    assert page.status_code == 200
    assert "Linked" in page.text and "alice@example.com" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    link = await service.whoami("slack", TEAM, ALICE)
    assert link is not None and link.email == "alice@example.com"
    assert [a.link_id for a in linking.announced] == [link.link_id]

    token = await service.id_token("slack", TEAM, ALICE)
    claims = linking.routes.verifier.verify(token)  # signature, iss, aud, exp, token_use
    assert claims["cognito:groups"] == ["centralops-operators"]
    assert service.claims(token)["sub"] == claims["sub"]

    refresh_token = await service.store.refresh_token("slack", TEAM, ALICE)
    assert refresh_token
    assert await service.unlink("slack", TEAM, ALICE) is True
    with pytest.raises(NotLinkedError, match="/aws login"):
        await service.id_token("slack", TEAM, ALICE)
    assert await service.unlink("slack", TEAM, ALICE) is False
    # Logout revoked the refresh token at Cognito too (through the hosted UI's /oauth2/revoke).
    with pytest.raises(ClientError, match="NotAuthorized"):
        linking.env.client("cognito-idp").initiate_auth(
            ClientId=linking.env.client_id,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": refresh_token},
        )


async def test_start_redirects_to_the_hosted_ui_with_pkce_s256_and_only_the_state(linking: Linking) -> None:
    login_url = await linking.service.login_url("slack", TEAM, ALICE)
    assert set(query_of(login_url)) == {"state"}
    assert ALICE not in login_url and TEAM not in login_url

    authorize = await linking.browser.authorize_url(login_url)

    params = query_of(authorize)
    assert authorize.startswith(f"{linking.env.hosted_ui_url}/oauth2/authorize?")
    assert params["state"] == query_of(login_url)["state"]
    assert params["code_challenge_method"] == "S256"
    assert params["redirect_uri"] == f"{linking.env.bot_url}/auth/callback"
    assert params["client_id"] == linking.env.client_id
    item = linking.state_table().get_item(Key={"state": params["state"]})["Item"]
    assert item["link_id"] == f"slack#{TEAM}#{ALICE}"
    assert params["code_challenge"] != item["code_verifier"]  # the verifier never leaves the server


async def test_a_replayed_callback_is_refused_and_changes_nothing(linking: Linking) -> None:
    callback = await linking.browser.callback_url(
        await linking.service.login_url("slack", TEAM, ALICE), "alice"
    )
    first = await linking.browser.http.get(callback)
    assert first.status_code == 200
    linked_at = (await linking.service.whoami("slack", TEAM, ALICE)).linked_at  # type: ignore[union-attr]

    replay = await linking.browser.http.get(callback)

    assert replay.status_code == 400
    assert "already used or has expired" in replay.text and "/aws login" in replay.text
    assert (await linking.service.whoami("slack", TEAM, ALICE)).linked_at == linked_at  # type: ignore[union-attr]
    assert len(linking.announced) == 1


async def test_a_used_sign_in_button_cannot_start_another_sign_in(linking: Linking) -> None:
    login_url = await linking.service.login_url("slack", TEAM, ALICE)
    assert (await linking.browser.sign_in(login_url, "alice")).status_code == 200

    again = await linking.browser.http.get(login_url)

    assert again.status_code == 400
    assert "expired" in again.text and "/aws login" in again.text


async def test_a_code_issued_for_another_users_state_is_refused(linking: Linking) -> None:
    # Carol's sign-in yields a code bound to Carol's PKCE challenge; presenting it with
    # Alice's state (and so Alice's verifier) must not link anyone.
    carol = PEOPLE["carol"].chat_user
    carol_callback = await linking.browser.callback_url(
        await linking.service.login_url("slack", TEAM, carol), "carol"
    )
    alice_state = query_of(await linking.service.login_url("slack", TEAM, ALICE))["state"]

    response = await linking.browser.http.get(
        f"{linking.env.bot_url}/auth/callback",
        params={"code": query_of(carol_callback)["code"], "state": alice_state},
    )

    assert response.status_code == 400
    assert "invalid_grant" in response.text
    assert linking.link_item(ALICE) is None and linking.link_item(carol) is None


async def test_a_forwarded_sign_in_link_is_refused_by_the_email_check(linking: Linking) -> None:
    # Carol forwards her sign-in button to Dave; Dave signs in with his own Cognito account.
    carol = PEOPLE["carol"].chat_user
    login_url = await linking.service.login_url("slack", TEAM, carol)

    page = await linking.browser.sign_in(login_url, "dave")

    assert page.status_code == 403
    assert "dave@example.com" in page.text and "not the email" in page.text
    assert "carol@example.com" not in page.text  # whoever holds the page learns nothing of Carol
    assert linking.link_item(carol) is None
    with pytest.raises(NotLinkedError):
        await linking.service.id_token("slack", TEAM, carol)


async def test_an_unverified_cognito_email_cannot_link(linking: Linking) -> None:
    erin = PEOPLE["erin"].chat_user

    page = await linking.browser.sign_in(await linking.service.login_url("slack", TEAM, erin), "erin")

    assert page.status_code == 403
    assert "not verified" in page.text
    assert linking.link_item(erin) is None


async def test_a_chat_profile_without_email_cannot_link_while_the_check_is_on(linking: Linking) -> None:
    del linking.chat_emails[ALICE]

    page = await linking.browser.sign_in(await linking.service.login_url("slack", TEAM, ALICE), "alice")

    assert page.status_code == 403
    assert "no email address" in page.text
    assert linking.link_item(ALICE) is None


async def test_the_email_check_can_be_turned_off(linking: Linking) -> None:
    from aiohttp import web

    app = web.Application()
    routes = setup_auth_routes(app, linking.service, require_email_match=False)
    carol = PEOPLE["carol"].chat_user
    state = await linking.service.oauth_states.create("slack", TEAM, carol)
    callback = await linking.browser.callback_url_from(routes.authorize_url(state), "dave")

    link = await routes.complete(query_of(callback))

    assert link.link_id == f"slack#{TEAM}#{carol}" and link.email == "dave@example.com"


def test_requiring_the_email_check_without_a_lookup_is_a_configuration_error(linking: Linking) -> None:
    from aiohttp import web

    with pytest.raises(ConfigurationError, match="CENTRALOPS_REQUIRE_EMAIL_MATCH"):
        setup_auth_routes(web.Application(), linking.service, require_email_match=True)


async def test_an_expired_state_is_refused_at_start_and_at_callback(linking: Linking) -> None:
    login_url = await linking.service.login_url("slack", TEAM, ALICE)
    callback = await linking.browser.callback_url(login_url, "alice")

    linking.clock.offset = 601  # past the 10-minute lifetime

    start = await linking.browser.http.get(login_url)
    assert start.status_code == 400 and "expired" in start.text
    late = await linking.browser.http.get(callback)
    assert late.status_code == 400 and "already used or has expired" in late.text
    assert linking.link_item(ALICE) is None


async def test_a_pkce_verifier_that_does_not_match_the_challenge_is_refused(linking: Linking) -> None:
    login_url = await linking.service.login_url("slack", TEAM, ALICE)
    callback = await linking.browser.callback_url(login_url, "alice")
    # The verifier kept server-side no longer matches the challenge the code is bound to.
    linking.state_table().update_item(
        Key={"state": query_of(login_url)["state"]},
        UpdateExpression="SET code_verifier = :v",
        ExpressionAttributeValues={":v": "x" * 64},
    )

    page = await linking.browser.http.get(callback)

    assert page.status_code == 400
    assert "Cognito did not accept this sign-in (invalid_grant)" in page.text
    assert linking.link_item(ALICE) is None


async def test_a_cancelled_sign_in_uses_the_state_up(linking: Linking) -> None:
    state = query_of(await linking.service.login_url("slack", TEAM, ALICE))["state"]

    page = await linking.browser.http.get(
        f"{linking.env.bot_url}/auth/callback", params={"error": "access_denied", "state": state}
    )

    assert page.status_code == 400 and "access_denied" in page.text
    assert await linking.service.oauth_states.peek(state) is None


async def test_a_callback_without_code_or_state_says_how_to_start(linking: Linking) -> None:
    page = await linking.browser.http.get(f"{linking.env.bot_url}/auth/callback")

    assert page.status_code == 400 and "/aws login" in page.text


async def test_relinking_replaces_the_identity_and_the_cached_token(linking: Linking) -> None:
    service = linking.service
    assert (
        await linking.browser.sign_in(await service.login_url("slack", TEAM, ALICE), "alice")
    ).status_code == 200
    first = service.claims(await service.id_token("slack", TEAM, ALICE))
    linking.chat_emails[ALICE] = "dave@example.com"  # Alice's chat profile now carries another email

    assert (
        await linking.browser.sign_in(await service.login_url("slack", TEAM, ALICE), "dave")
    ).status_code == 200

    second = service.claims(await service.id_token("slack", TEAM, ALICE))
    assert first["email"] == "alice@example.com" and second["email"] == "dave@example.com"
