"""The token exchanger against the local Cognito stand-in: what it caches, and for whom."""

import time

import pytest
from jose import jwt

from centralops.errors import InvalidTokenError
from centralops.exchange import TokenExchangeError, TokenExchanger
from centralops.tokens import CognitoVerifier
from infra.local import org
from tests.fixtures.aws import REGION, CognitoPool, free_port
from tests.fixtures.exchange import Exchange


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """GetDerivedToken is SigV4-signed with the service's own credentials, as in AWS."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def bot_exchanger(exchange: Exchange, clock: Clock | None = None, **overrides: object) -> TokenExchanger:
    values: dict[str, object] = {
        "client_id": exchange.clients.bot.client_id,
        "client_secret": exchange.clients.bot.client_secret,
        "token_url": f"{exchange.url}/oauth2/token",
        "audience": org.RUNTIME_AUDIENCE,
        "region": REGION,
        "endpoint_url": exchange.url,
        "clock": clock or time.time,
    }
    values.update(overrides)
    return TokenExchanger(**values)  # type: ignore[arg-type]


def test_the_issued_token_is_for_the_audience_with_this_service_as_actor(
    exchange: Exchange, cognito: CognitoPool
) -> None:
    issued = bot_exchanger(exchange).exchange(cognito.id_token("alice@example.com"), "ID_TOKEN")
    verifier = CognitoVerifier(
        issuer=cognito.issuer,
        audience=org.RUNTIME_AUDIENCE,
        jwks_url=cognito.jwks_url,
        token_use=frozenset({"access"}),
        required_actor=exchange.clients.bot.client_id,
    )
    claims = verifier.verify(issued.token)
    assert claims["exp"] - 2 <= issued.expires_at <= claims["exp"]
    assert "token" not in repr(issued).replace("Issued(", "")


def test_issued_tokens_are_cached_per_subject_token_and_never_shared(
    exchange: Exchange, cognito: CognitoPool
) -> None:
    clock = Clock()
    exchanger = bot_exchanger(exchange, clock)
    alice, bob = cognito.id_token("alice@example.com"), cognito.id_token("bob@example.com")
    first = exchanger.exchange(alice, "ID_TOKEN")
    assert exchanger.exchange(alice, "ID_TOKEN") is first
    other = exchanger.exchange(bob, "ID_TOKEN")
    assert jwt.get_unverified_claims(other.token)["sub"] != jwt.get_unverified_claims(first.token)["sub"]
    assert exchanger.calls == 2
    actor = exchanger.actor_token()
    # Shortly before expiry both tokens are replaced.
    clock.now = first.expires_at - 30
    assert exchanger.exchange(alice, "ID_TOKEN") is not first
    assert exchanger.calls == 3
    assert exchanger.actor_token() != actor


def test_the_cache_is_bounded(exchange: Exchange, cognito: CognitoPool) -> None:
    exchanger = bot_exchanger(exchange, max_cached=1)
    alice, bob = cognito.id_token("alice@example.com"), cognito.id_token("bob@example.com")
    exchanger.exchange(alice, "ID_TOKEN")
    exchanger.exchange(bob, "ID_TOKEN")
    exchanger.exchange(alice, "ID_TOKEN")
    assert exchanger.calls == 3


def test_a_refused_subject_asks_the_person_to_sign_in_again(exchange: Exchange, cognito: CognitoPool) -> None:
    with pytest.raises(InvalidTokenError, match="sign in again"):
        bot_exchanger(exchange).exchange(cognito.mint(expires_in=-60), "ID_TOKEN")


def test_a_refused_service_client_is_an_outage_not_the_persons_fault(
    exchange: Exchange, cognito: CognitoPool
) -> None:
    exchanger = bot_exchanger(exchange, client_secret="not-the-secret")
    with pytest.raises(TokenExchangeError, match="administrators"):
        exchanger.exchange(cognito.id_token("alice@example.com"), "ID_TOKEN")


def test_an_unreachable_cognito_says_try_again(exchange: Exchange, cognito: CognitoPool) -> None:
    exchanger = bot_exchanger(exchange, token_url=f"http://127.0.0.1:{free_port()}/oauth2/token")
    with pytest.raises(TokenExchangeError, match="Try again"):
        exchanger.exchange(cognito.id_token("alice@example.com"), "ID_TOKEN")
