"""JWT verification against moto's real Cognito tokens and keys."""

import pytest

from centralops.errors import InvalidTokenError
from centralops.tokens import CognitoVerifier, actor_chain, actor_of, audiences_of, bearer_token
from tests.fixtures.aws import CognitoPool


@pytest.fixture
def verifier(cognito: CognitoPool) -> CognitoVerifier:
    return CognitoVerifier(issuer=cognito.issuer, audience=cognito.client_id, jwks_url=cognito.jwks_url)


def test_a_real_id_token_is_accepted_with_its_groups(cognito: CognitoPool, verifier: CognitoVerifier) -> None:
    claims = verifier.verify(cognito.id_token("bob@example.com"))
    assert claims["cognito:username"] == "bob@example.com"
    assert "centralops-approvers" in claims["cognito:groups"]


def test_an_expired_token_is_refused(cognito: CognitoPool, verifier: CognitoVerifier) -> None:
    with pytest.raises(InvalidTokenError, match="expired"):
        verifier.verify(cognito.mint(expires_in=-3600))


def test_a_token_for_another_audience_is_refused(cognito: CognitoPool, verifier: CognitoVerifier) -> None:
    with pytest.raises(InvalidTokenError, match="audience"):
        verifier.verify(cognito.mint(aud="some-other-client"))


def test_a_token_from_another_issuer_is_refused(cognito: CognitoPool, verifier: CognitoVerifier) -> None:
    with pytest.raises(InvalidTokenError, match="claims"):
        verifier.verify(cognito.mint(iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"))


def test_an_access_token_is_refused_where_id_tokens_are_expected(
    cognito: CognitoPool, verifier: CognitoVerifier
) -> None:
    with pytest.raises(InvalidTokenError, match="access"):
        verifier.verify(cognito.tokens("alice@example.com")["AccessToken"])


def test_a_tampered_signature_is_refused(cognito: CognitoPool, verifier: CognitoVerifier) -> None:
    header, payload, signature = cognito.id_token("alice@example.com").split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    with pytest.raises(InvalidTokenError):
        verifier.verify(forged)


def test_an_unsigned_token_is_refused(verifier: CognitoVerifier) -> None:
    with pytest.raises(InvalidTokenError, match="RS256"):
        verifier.verify("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")


def test_keys_are_fetched_once_and_cached(cognito: CognitoPool) -> None:
    fetched: list[str] = []

    def fetch(url: str) -> dict:
        import httpx

        fetched.append(url)
        return httpx.get(url).json()

    verifier = CognitoVerifier(cognito.issuer, cognito.client_id, cognito.jwks_url, fetch=fetch)
    token = cognito.id_token("alice@example.com")
    verifier.verify(token)
    verifier.verify(token)
    assert fetched == [cognito.jwks_url]


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("Basic abc", None),
        ("", None),
        (None, None),
        ("Bearer ", None),
    ],
)
def test_bearer_token_extraction(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def _access(cognito: CognitoPool, **claims: object) -> str:
    return cognito.mint(token_use="access", client_id="exchanging-client", **claims)


@pytest.mark.parametrize("aud", ["centralops-gateway", ["other", "centralops-gateway"]])
def test_an_exchanged_access_token_is_accepted_for_its_audience_as_string_or_list(
    cognito: CognitoPool, aud: object
) -> None:
    gateway = CognitoVerifier(
        issuer=cognito.issuer,
        audience="centralops-gateway",
        jwks_url=cognito.jwks_url,
        token_use=frozenset({"access"}),
        required_actor="agent-client",
    )
    claims = gateway.verify(_access(cognito, aud=aud, act={"sub": "agent-client", "act": {"sub": "bot"}}))
    assert actor_chain(claims) == ("agent-client", "bot")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "centralops-runtime", "act": {"sub": "agent-client"}}, "audience"),
        ({"act": {"sub": "agent-client"}}, "audience"),  # no aud: client_id is not the Gateway
        ({"aud": ["centralops-runtime"], "act": {"sub": "agent-client"}}, "audience"),
        ({"aud": "centralops-gateway"}, "names no acting service"),
        ({"aud": "centralops-gateway", "act": {"sub": "bot"}}, "another service"),
        ({"aud": "centralops-gateway", "act": "agent-client"}, "names no acting service"),
        ({"aud": "centralops-gateway", "act": {"client_id": "agent-client"}}, "names no acting service"),
    ],
)
def test_the_gateway_refuses_other_audiences_and_other_or_missing_actors(
    cognito: CognitoPool, claims: dict[str, object], reason: str
) -> None:
    gateway = CognitoVerifier(
        issuer=cognito.issuer,
        audience="centralops-gateway",
        jwks_url=cognito.jwks_url,
        token_use=frozenset({"access"}),
        required_actor="agent-client",
    )
    with pytest.raises(InvalidTokenError, match=reason):
        gateway.verify(_access(cognito, **claims))


def test_actor_helpers_read_rfc_8693_act_claims() -> None:
    assert actor_of({}) is None
    assert actor_of({"act": {"sub": "a", "act": {"sub": "b"}}}) == "a"
    assert actor_chain({"act": {"sub": "a", "act": {"sub": ""}}}) == ("a",)
    assert audiences_of({"aud": "x"}) == ("x",)
    assert audiences_of({"token_use": "access", "client_id": "c"}) == ("c",)
    assert audiences_of({"aud": ["x", 3]}) == ("x",)


def test_prefetch_loads_the_keys_once_so_the_first_token_needs_no_fetch(cognito: CognitoPool) -> None:
    fetched: list[str] = []
    real = CognitoVerifier(issuer=cognito.issuer, audience=cognito.client_id, jwks_url=cognito.jwks_url)

    def fetch(url: str) -> dict[str, object]:
        fetched.append(url)
        return real.fetch(url)

    verifier = CognitoVerifier(
        issuer=cognito.issuer, audience=cognito.client_id, jwks_url=cognito.jwks_url, fetch=fetch
    )
    verifier.prefetch()
    verifier.prefetch()
    assert fetched == [cognito.jwks_url]
    assert verifier.verify(cognito.id_token("bob@example.com"))["cognito:username"] == "bob@example.com"
    assert len(fetched) == 1


def test_prefetch_says_when_the_keys_cannot_be_fetched(cognito: CognitoPool) -> None:
    verifier = CognitoVerifier(
        issuer=cognito.issuer, audience=cognito.client_id, jwks_url="http://127.0.0.1:9/jwks.json"
    )
    with pytest.raises(InvalidTokenError, match="signing keys"):
        verifier.prefetch()
