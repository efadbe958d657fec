"""The local Cognito hosted-UI stand-in behaves like Cognito's for the bot's sign-in.

Driven over HTTP against the real process (``python -m infra.local.hosted_ui``)
on moto's Cognito.
"""

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import httpx
import pytest
from jose import jwt

from tests.fixtures.identity_stack import (  # noqa: F401 - fixtures
    HIDDEN_FIELD,
    PEOPLE,
    Browser,
    IdentityEnv,
    identity_env_fixture,
    query_of,
)


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _authorize_url(env: IdentityEnv, verifier: str, **overrides: str) -> str:
    params = {
        "response_type": "code",
        "client_id": env.client_id,
        "redirect_uri": f"{env.bot_url}/auth/callback",
        "scope": "openid email",
        "state": "s-" + secrets.token_hex(4),
        "code_challenge": _challenge(verifier),
        "code_challenge_method": "S256",
    } | overrides
    return f"{env.hosted_ui_url}/oauth2/authorize?{urlencode(params)}"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with httpx.AsyncClient(timeout=20) as http:
        yield Browser(http)


async def _code(env: IdentityEnv, browser: Browser, verifier: str, who: str = "alice") -> str:
    callback = await browser.callback_url_from(_authorize_url(env, verifier), who)
    assert callback.startswith(f"{env.bot_url}/auth/callback?")
    return query_of(callback)["code"]


async def _token(env: IdentityEnv, browser: Browser, **form: str) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "client_id": env.client_id,
        "redirect_uri": f"{env.bot_url}/auth/callback",
    } | form
    return await browser.http.post(f"{env.hosted_ui_url}/oauth2/token", data=data)


async def test_a_code_exchanged_with_the_right_verifier_yields_moto_tokens_once(
    identity_env: IdentityEnv, browser: Browser
) -> None:
    verifier = secrets.token_urlsafe(48)
    code = await _code(identity_env, browser, verifier)

    first = await _token(identity_env, browser, code=code, code_verifier=verifier)

    assert first.status_code == 200
    body = first.json()
    assert set(body) >= {"id_token", "access_token", "refresh_token", "expires_in"}
    claims = jwt.get_unverified_claims(body["id_token"])
    assert claims["aud"] == identity_env.client_id and claims["email"] == "alice@example.com"
    replay = await _token(identity_env, browser, code=code, code_verifier=verifier)
    assert replay.status_code == 400 and replay.json() == {"error": "invalid_grant"}


async def test_a_wrong_verifier_burns_the_code(identity_env: IdentityEnv, browser: Browser) -> None:
    verifier = secrets.token_urlsafe(48)
    code = await _code(identity_env, browser, verifier)

    wrong = await _token(identity_env, browser, code=code, code_verifier=secrets.token_urlsafe(48))
    right_too_late = await _token(identity_env, browser, code=code, code_verifier=verifier)

    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert right_too_late.status_code == 400


async def test_a_code_is_bound_to_its_redirect_uri(identity_env: IdentityEnv, browser: Browser) -> None:
    verifier = secrets.token_urlsafe(48)
    code = await _code(identity_env, browser, verifier)

    response = await _token(
        identity_env,
        browser,
        code=code,
        code_verifier=verifier,
        redirect_uri="http://127.0.0.1:1/auth/callback",
    )

    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_a_wrong_password_shows_the_form_again(identity_env: IdentityEnv, browser: Browser) -> None:
    form = await browser.http.get(_authorize_url(identity_env, "v" * 43))
    fields = dict(HIDDEN_FIELD.findall(form.text))

    response = await browser.http.post(
        f"{identity_env.hosted_ui_url}/login",
        data=fields | {"username": PEOPLE["alice"].email, "password": "not-her-password"},
    )

    assert response.status_code == 401
    assert "Incorrect username or password." in response.text
    assert dict(HIDDEN_FIELD.findall(response.text))["state"] == fields["state"]


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"redirect_uri": "https://evil.example.com/cb"}, "redirect_mismatch"),
        ({"client_id": "another-client"}, "unauthorized_client"),
        ({"code_challenge_method": "plain"}, "S256"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
async def test_the_authorize_endpoint_refuses_what_cognito_refuses(
    identity_env: IdentityEnv, browser: Browser, override: dict[str, str], reason: str
) -> None:
    response = await browser.http.get(_authorize_url(identity_env, "v" * 43, **override))

    assert response.status_code == 400 and reason in response.text


async def test_refresh_and_revoke(identity_env: IdentityEnv, browser: Browser) -> None:
    refresh_token = identity_env.refresh_token("dave")
    token_url = f"{identity_env.hosted_ui_url}/oauth2/token"
    form = {
        "grant_type": "refresh_token",
        "client_id": identity_env.client_id,
        "refresh_token": refresh_token,
    }

    refreshed = await browser.http.post(token_url, data=form)
    assert refreshed.status_code == 200 and "id_token" in refreshed.json()

    revoked = await browser.http.post(
        f"{identity_env.hosted_ui_url}/oauth2/revoke",
        data={"token": refresh_token, "client_id": identity_env.client_id},
    )
    assert revoked.status_code == 200
    after = await browser.http.post(token_url, data=form)
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"


async def test_an_unknown_client_is_refused_at_the_token_endpoint(
    identity_env: IdentityEnv, browser: Browser
) -> None:
    response = await _token(identity_env, browser, code="x", code_verifier="y", client_id="another-client")

    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
