"""The local Cognito stand-in's token exchange, driven by a real boto3 client and real HTTP.

``GetDerivedToken`` goes through botocore (AWS JSON protocol, error parsing);
client credentials and the token-exchange grant through ``/oauth2/token``.
Issued tokens are checked with the kernel's verifier against moto's JWKS.
"""

import time
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwt

from centralops.errors import InvalidTokenError
from centralops.tokens import CognitoVerifier, actor_chain
from infra.local import org
from infra.local.token_exchange import CognitoError, TokenService
from tests.fixtures.aws import REGION, CognitoPool, session
from tests.fixtures.exchange import Exchange

ALICE = "alice@example.com"


def verifier(pool: CognitoPool, audience: str, actor: str | None = None) -> CognitoVerifier:
    return CognitoVerifier(
        issuer=pool.issuer,
        audience=audience,
        jwks_url=pool.jwks_url,
        token_use=frozenset({"access"}),
        required_actor=actor,
    )


def refused(call: Any, **kwargs: Any) -> str:
    """The Cognito error code of a refused ``GetDerivedToken``."""
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return str(caught.value.response["Error"]["Code"])


@pytest.fixture
def request_(exchange: Exchange, cognito: CognitoPool) -> dict[str, Any]:
    """A valid request of the bot: alice's ID token for the Runtime, the bot as actor."""
    bot = exchange.clients.bot
    return {
        "ClientId": bot.client_id,
        "ClientSecret": bot.client_secret,
        "SubjectToken": cognito.id_token(ALICE),
        "SubjectTokenType": "ID_TOKEN",
        "ActorToken": exchange.actor_token(bot),
        "ActorTokenType": "ACCESS_TOKEN",
        "Resources": [org.RUNTIME_AUDIENCE],
    }


def test_client_credentials_issue_the_clients_own_verifiable_access_token(
    exchange: Exchange, cognito: CognitoPool
) -> None:
    agent = exchange.clients.agent
    claims = verifier(cognito, agent.client_id).verify(exchange.actor_token(agent))
    assert claims["sub"] == claims["client_id"] == agent.client_id
    assert claims["scope"] == f"{org.GATEWAY_AUDIENCE}/invoke"
    assert "username" not in claims and "act" not in claims


@pytest.mark.parametrize(
    ("auth", "form", "error", "status"),
    [
        ("wrong-secret", {}, "invalid_client", 401),
        ("public", {}, "invalid_client", 401),
        ("ok", {"scope": f"{org.RUNTIME_AUDIENCE}/invoke"}, "invalid_scope", 400),
    ],
)
def test_client_credentials_are_refused_as_cognito_refuses_them(
    exchange: Exchange, cognito: CognitoPool, auth: str, form: dict[str, str], error: str, status: int
) -> None:
    agent = exchange.clients.agent
    credentials = {
        "wrong-secret": (agent.client_id, "not-the-secret"),
        "public": (cognito.client_id, ""),
        "ok": (agent.client_id, agent.client_secret),
    }[auth]
    response = httpx.post(
        f"{exchange.url}/oauth2/token", data={"grant_type": "client_credentials", **form}, auth=credentials
    )
    assert (response.status_code, response.json()) == (status, {"error": error})


def test_the_bot_exchanges_an_id_token_for_a_runtime_token_that_names_it(
    exchange: Exchange, cognito: CognitoPool, request_: dict[str, Any]
) -> None:
    subject = jwt.get_unverified_claims(request_["SubjectToken"])
    result = exchange.idp().get_derived_token(**request_)
    assert (result["IssuedTokenType"], result["TokenType"]) == ("ACCESS_TOKEN", "Bearer")
    bot = exchange.clients.bot.client_id
    claims = verifier(cognito, org.RUNTIME_AUDIENCE, actor=bot).verify(result["IssuedToken"])
    assert claims["sub"] == subject["sub"]
    assert claims["act"] == {"sub": bot}
    assert claims["aud"] == org.RUNTIME_AUDIENCE
    assert claims["client_id"] == bot
    assert claims["cognito:groups"] == ["centralops-operators"]
    assert claims["email"] == ALICE
    assert claims["exp"] <= subject["exp"]
    assert 0 < result["ExpiresIn"] <= 3600


def test_the_agents_exchange_nests_the_bot_as_the_earlier_actor(
    exchange: Exchange, cognito: CognitoPool
) -> None:
    runtime_token = exchange.runtime_token(cognito.id_token(ALICE))
    gateway_token = exchange.gateway_token(runtime_token)
    agent, bot = exchange.clients.agent.client_id, exchange.clients.bot.client_id
    claims = verifier(cognito, org.GATEWAY_AUDIENCE, actor=agent).verify(gateway_token)
    assert claims["act"] == {"sub": agent, "act": {"sub": bot}}
    assert actor_chain(claims) == (agent, bot)
    # Bound to its hop: the Gateway's token is no Runtime token, and the reverse.
    with pytest.raises(InvalidTokenError, match="audience"):
        verifier(cognito, org.RUNTIME_AUDIENCE).verify(gateway_token)
    with pytest.raises(InvalidTokenError, match="another service"):
        verifier(cognito, org.RUNTIME_AUDIENCE, actor=agent).verify(runtime_token)


def test_the_token_exchange_grant_at_the_token_endpoint_issues_the_same_token(
    exchange: Exchange, cognito: CognitoPool
) -> None:
    bot = exchange.clients.bot
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": cognito.id_token(ALICE),
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "actor_token": exchange.actor_token(bot),
        "actor_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "resource": org.RUNTIME_AUDIENCE,
    }
    response = httpx.post(f"{exchange.url}/oauth2/token", data=form, auth=(bot.client_id, bot.client_secret))
    assert response.status_code == 200
    claims = verifier(cognito, org.RUNTIME_AUDIENCE, actor=bot.client_id).verify(
        response.json()["access_token"]
    )
    assert claims["act"] == {"sub": bot.client_id}
    form["subject_token"] = cognito.mint(expires_in=-60)
    response = httpx.post(f"{exchange.url}/oauth2/token", data=form, auth=(bot.client_id, bot.client_secret))
    assert (response.status_code, response.json()) == (400, {"error": "invalid_grant"})


def _foreign_key_token(claims: dict[str, Any]) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return str(jwt.encode(claims, pem.decode(), algorithm="RS256", headers={"kid": "dummy"}))


SUBJECT_REFUSALS = {
    "expired": lambda ex, pool: pool.mint(expires_in=-60),
    "forged signature": lambda ex, pool: _foreign_key_token(jwt.get_unverified_claims(pool.id_token(ALICE))),
    "another issuer": lambda ex, pool: pool.mint(
        iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_x"
    ),
    "another pool's client": lambda ex, pool: pool.mint(aud="not-a-client-of-this-pool"),
    "an access token declared as ID token": lambda ex, pool: pool.tokens(ALICE)["AccessToken"],
    "no user behind it": lambda ex, pool: pool.mint(**{"cognito:username": "nobody@example.com"}),
}


@pytest.mark.parametrize("case", list(SUBJECT_REFUSALS))
def test_an_invalid_subject_token_is_refused(
    exchange: Exchange, cognito: CognitoPool, request_: dict[str, Any], case: str
) -> None:
    request_["SubjectToken"] = SUBJECT_REFUSALS[case](exchange, cognito)
    assert refused(exchange.idp().get_derived_token, **request_) in {
        "NotAuthorizedException",
        "UserNotFoundException",
    }


def test_a_client_credentials_token_cannot_be_the_subject(
    exchange: Exchange, request_: dict[str, Any]
) -> None:
    request_["SubjectToken"] = exchange.actor_token(exchange.clients.agent)
    request_["SubjectTokenType"] = "ACCESS_TOKEN"
    assert refused(exchange.idp().get_derived_token, **request_) == "NotAuthorizedException"


def test_the_actor_token_must_be_the_requesting_clients_own(
    exchange: Exchange, cognito: CognitoPool, request_: dict[str, Any]
) -> None:
    idp = exchange.idp()
    request_["ActorToken"] = exchange.actor_token(exchange.clients.agent)  # the agent's, presented by the bot
    assert refused(idp.get_derived_token, **request_) == "NotAuthorizedException"
    request_["ActorToken"] = cognito.tokens(ALICE)["AccessToken"]  # a person is no actor
    assert refused(idp.get_derived_token, **request_) == "NotAuthorizedException"
    request_["ActorToken"] = cognito.mint(token_use="access", client_id=exchange.clients.bot.client_id, exp=1)
    assert refused(idp.get_derived_token, **request_) == "NotAuthorizedException"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"ClientSecret": "not-the-secret-of-this-client-at-all"}, "NotAuthorizedException"),
        ({"ClientId": "no-such-client"}, "ResourceNotFoundException"),
        ({"Audiences": ["x"]}, "InvalidParameterException"),  # with Resources: not both
        ({"Resources": ["not-a-resource-server"]}, "InvalidParameterException"),
        ({"Resources": [org.RUNTIME_AUDIENCE, org.GATEWAY_AUDIENCE]}, "InvalidParameterException"),
        ({"ActorTokenType": None}, "InvalidParameterException"),
        ({"SubjectTokenType": "SAML2"}, "InvalidParameterException"),
        ({"RequestedTokenType": "ID_TOKEN"}, "InvalidParameterException"),
    ],
)
def test_malformed_or_unauthorised_requests_get_cognitos_error_codes(
    exchange: Exchange, request_: dict[str, Any], change: dict[str, Any], code: str
) -> None:
    request_.update(change)
    request_ = {k: v for k, v in request_.items() if v is not None}
    assert refused(exchange.idp().get_derived_token, **request_) == code


def test_a_client_without_the_delegation_flow_may_not_exchange(
    exchange: Exchange, cognito: CognitoPool, request_: dict[str, Any]
) -> None:
    request_.update(ClientId=cognito.client_id)  # the public sign-in client: no secret, no exchange flow
    request_.pop("ClientSecret")
    assert refused(exchange.idp().get_derived_token, **request_) == "InvalidParameterException"


def test_a_disabled_user_cannot_be_exchanged_for(exchange: Exchange, cognito: CognitoPool) -> None:
    cognito.add_user("exchange-carol@example.com")
    id_token = cognito.id_token("exchange-carol@example.com")
    idp = session().client("cognito-idp", endpoint_url=cognito.moto_url)
    idp.admin_disable_user(UserPoolId=cognito.pool_id, Username="exchange-carol@example.com")
    with pytest.raises(ClientError) as caught:
        exchange.runtime_token(id_token)
    assert caught.value.response["Error"]["Code"] == "NotAuthorizedException"


def test_a_pool_on_the_lite_plan_cannot_exchange(cognito: CognitoPool, exchange: Exchange) -> None:
    idp = session().client("cognito-idp", endpoint_url=cognito.moto_url)
    pool = idp.create_user_pool(PoolName="lite", UserPoolTier="LITE")["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool,
        ClientName="svc",
        GenerateSecret=True,
        ExplicitAuthFlows=["ALLOW_TOKEN_EXCHANGE_DELEGATION"],
    )["UserPoolClient"]
    service = TokenService(cognito.moto_url, pool, region=REGION, idp=idp)
    with pytest.raises(CognitoError) as caught:
        service.get_derived_token(
            {
                "ClientId": client["ClientId"],
                "ClientSecret": client["ClientSecret"],
                "SubjectToken": "x",
                "SubjectTokenType": "ID_TOKEN",
            }
        )
    assert caught.value.code == "OperationNotEnabledException"


def test_an_issued_token_never_outlives_its_subject(exchange: Exchange, cognito: CognitoPool) -> None:
    sub = jwt.get_unverified_claims(cognito.id_token(ALICE))["sub"]
    short = cognito.mint(expires_in=120, sub=sub, **{"cognito:username": ALICE})
    claims = jwt.get_unverified_claims(exchange.runtime_token(short))
    assert claims["exp"] <= int(time.time()) + 120


def test_another_operation_is_not_served(exchange: Exchange) -> None:
    with pytest.raises(ClientError) as caught:
        exchange.idp().list_user_pools(MaxResults=1)
    assert caught.value.response["Error"]["Code"] == "UnknownOperationException"
