"""The local Cognito hosted UI: ``/oauth2/authorize``, ``/oauth2/token``, ``/oauth2/revoke`` on top of moto.

moto implements Cognito's API but not the hosted UI, so this stand-in serves
the OAuth 2.0 endpoints the bot's sign-in flow uses, the way Cognito does:
authorization code grant with PKCE (``S256`` only), codes that are single-use,
short-lived and bound to the client, the redirect URI and the challenge, and
a redirect URI checked against the app client's callback URLs. The password is
checked by moto (``AdminInitiateAuth`` ``ADMIN_USER_PASSWORD_AUTH``) and the
tokens returned are moto's own RS256 tokens, so the bot verifies them exactly as
it verifies Cognito's.

One difference, because moto has no per-token revocation: ``/oauth2/revoke``
signs the token's user out everywhere (``AdminUserGlobalSignOut``), which
revokes all of that user's refresh tokens rather than the one given.

It also serves what moto lacks for token exchange (:mod:`infra.local.token_exchange`):
``GetDerivedToken`` on ``POST /`` (the AWS JSON protocol, so a boto3
``cognito-idp`` client with this stand-in as ``endpoint_url`` calls it), and the
``client_credentials`` and token-exchange grants at ``/oauth2/token``.

Run: ``python -m infra.local.hosted_ui --port 5104 --moto http://127.0.0.1:5100 --pool <id> --client <id>``.
"""

import argparse
import asyncio
import base64
import hashlib
import html
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import boto3
from aiohttp import web
from botocore.exceptions import ClientError
from jose import jwt

from centralops import logs
from infra.local.token_exchange import EXCHANGE_GRANT, TARGET_PREFIX, CognitoError, TokenService

logger = logging.getLogger("centralops.local.hosted_ui")

CODE_TTL_S = 300

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · CentralOps (local)</title>
<style>body{{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem}}
label,input,button{{display:block;width:100%;margin:.4rem 0}}input{{padding:.4rem}}
.error{{color:#a00}}</style></head>
<body><h1>Sign in</h1><p>Local Cognito hosted UI (user pool {pool}).</p>{error}
<form method="post" action="/login">
{hidden}
<label for="username">Email or username</label><input id="username" name="username" autocomplete="username">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password">
<button type="submit">Sign in</button></form></body></html>
"""

_AUTHORIZE_FIELDS = ("client_id", "redirect_uri", "state", "scope", "code_challenge", "code_challenge_method")


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    code_challenge: str | None
    tokens: dict[str, Any]
    expires_at: float


def s256(verifier: str) -> str:
    """The PKCE ``S256`` challenge of a verifier."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


@dataclass
class HostedUI:
    """The hosted-UI endpoints for one user pool and app client, backed by moto.

    Args:
        moto_url: The moto server.
        user_pool_id: The user pool.
        client_id: The app client allowed to sign in here.
        region: The pool's region.
        idp: A ``cognito-idp`` client (created for ``moto_url`` when omitted).
    """

    moto_url: str
    user_pool_id: str
    client_id: str
    region: str = "us-east-1"
    idp: Any | None = None
    _codes: dict[str, _Code] = field(default_factory=dict, init=False)
    _token_service: TokenService | None = field(default=None, init=False)

    def client(self) -> Any:
        """The ``cognito-idp`` client, created on first use."""
        if self.idp is None:
            self.idp = boto3.client("cognito-idp", endpoint_url=self.moto_url, region_name=self.region)
        return self.idp

    def token_service(self) -> TokenService:
        """Client credentials and token exchange for this pool, sharing the moto client."""
        if self._token_service is None:
            self._token_service = TokenService(
                self.moto_url, self.user_pool_id, region=self.region, idp=self.client()
            )
        return self._token_service

    async def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = await asyncio.to_thread(getattr(self.client(), operation), **kwargs)
        return result

    async def _check_client(self, client_id: str, redirect_uri: str) -> str | None:
        """Why this client and redirect URI are refused, or ``None``."""
        if client_id != self.client_id:
            return "unauthorized_client"
        described = await self._call(
            "describe_user_pool_client", UserPoolId=self.user_pool_id, ClientId=client_id
        )
        callbacks = described["UserPoolClient"].get("CallbackURLs") or []
        if not redirect_uri or (callbacks and redirect_uri not in callbacks):
            return "redirect_mismatch"
        return None

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_get("/health", self.health)
        app.router.add_post("/", self.api)
        app.router.add_get("/oauth2/authorize", self.authorize)
        app.router.add_post("/login", self.login)
        app.router.add_post("/oauth2/token", self.token)
        app.router.add_post("/oauth2/revoke", self.revoke)
        return app

    async def health(self, request: web.Request) -> web.Response:
        """Liveness for the supervisor."""
        return web.json_response({"status": "ok"})

    def _form(self, fields: dict[str, str], error: str = "", status: int = 200) -> web.Response:
        hidden = "\n".join(
            f'<input type="hidden" name="{name}" value="{html.escape(fields.get(name, ""), quote=True)}">'
            for name in _AUTHORIZE_FIELDS
        )
        body = _PAGE.format(
            pool=html.escape(self.user_pool_id),
            hidden=hidden,
            error=f'<p class="error">{html.escape(error)}</p>' if error else "",
        )
        return web.Response(text=body, content_type="text/html", status=status)

    async def _validate(self, fields: dict[str, str]) -> str | None:
        """Why an authorization request is refused, or ``None``."""
        refused = await self._check_client(fields.get("client_id", ""), fields.get("redirect_uri", ""))
        if refused:
            return refused
        if fields.get("response_type", "code") != "code":
            return "unsupported_response_type"
        method = fields.get("code_challenge_method")
        if fields.get("code_challenge") and method != "S256":
            return "invalid_request: code_challenge_method must be S256"
        return None

    async def authorize(self, request: web.Request) -> web.Response:
        """``GET /oauth2/authorize``: the sign-in form."""
        fields = dict(request.query)
        refused = await self._validate(fields)
        if refused:
            # Like Cognito: never redirect to an unvetted redirect URI; show the error instead.
            return web.Response(text=f"Sign-in refused: {refused}", status=400)
        return self._form(fields)

    async def login(self, request: web.Request) -> web.Response:
        """``POST /login``: check the password with moto and redirect back with a code."""
        fields = {k: str(v) for k, v in (await request.post()).items()}
        refused = await self._validate(fields)
        if refused:
            return web.Response(text=f"Sign-in refused: {refused}", status=400)
        try:
            result = await self._call(
                "admin_initiate_auth",
                UserPoolId=self.user_pool_id,
                ClientId=self.client_id,
                AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                AuthParameters={
                    "USERNAME": fields.get("username", ""),
                    "PASSWORD": fields.get("password", ""),
                },
            )
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in {"NotAuthorizedException", "UserNotFoundException"}:
                return self._form(fields, "Incorrect username or password.", status=401)
            return self._form(fields, f"Sign-in failed ({code}); see the moto server's log.", status=400)
        if "AuthenticationResult" not in result:
            message = (
                f"This account needs {result.get('ChallengeName')}, which the local sign-in does not support."
            )
            return self._form(fields, message, status=400)
        code = secrets.token_urlsafe(32)
        self._codes[code] = _Code(
            client_id=fields["client_id"],
            redirect_uri=fields["redirect_uri"],
            code_challenge=fields.get("code_challenge") or None,
            tokens=result["AuthenticationResult"],
            expires_at=time.time() + CODE_TTL_S,
        )
        logger.info("signed in", extra={"client_id": self.client_id})
        query = {"code": code} | ({"state": fields["state"]} if fields.get("state") else {})
        separator = "&" if "?" in fields["redirect_uri"] else "?"
        raise web.HTTPFound(f"{fields['redirect_uri']}{separator}{urlencode(query)}")

    @staticmethod
    def _error(error: str, status: int = 400) -> web.Response:
        return web.json_response({"error": error}, status=status)

    @staticmethod
    def _client_auth(request: web.Request, form: dict[str, str]) -> tuple[str, str | None]:
        """The client id and secret: HTTP Basic, else the form's ``client_id`` / ``client_secret``."""
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return "", None
            return client_id, secret or None
        return form.get("client_id", ""), form.get("client_secret") or None

    def _client_id(self, request: web.Request, form: dict[str, str]) -> str:
        return self._client_auth(request, form)[0]

    async def api(self, request: web.Request) -> web.Response:
        """``POST /``: the Cognito API's JSON protocol, for the operations moto lacks (``GetDerivedToken``)."""
        target = request.headers.get("X-Amz-Target", "")
        operation = target.removeprefix(TARGET_PREFIX) if target.startswith(TARGET_PREFIX) else ""
        if operation != "GetDerivedToken":
            return _api_error("UnknownOperationException", f"{target or 'No operation'} is not served here.")
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            return _api_error("SerializationException", "The request body is not JSON.")
        if not isinstance(body, dict):
            return _api_error("SerializationException", "The request body is not a JSON object.")
        try:
            result = await asyncio.to_thread(self.token_service().get_derived_token, body)
        except CognitoError as e:
            logger.info("token exchange refused", extra={"error_code": e.code, "reason": e.message})
            return _api_error(e.code, e.message, e.status)
        return web.json_response(result, content_type="application/x-amz-json-1.1")

    async def _service_grant(self, request: web.Request, form: dict[str, str], grant: str) -> web.Response:
        client_id, secret = self._client_auth(request, form)
        service = self.token_service()
        try:
            if grant == "client_credentials":
                body = await asyncio.to_thread(
                    service.client_credentials, client_id, secret, form.get("scope", "")
                )
            else:
                body = await asyncio.to_thread(service.token_exchange_grant, form, client_id, secret)
        except CognitoError as e:
            logger.info("token request refused", extra={"grant": grant, "error": e.code})
            return web.json_response({"error": e.code}, status=e.status)
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    async def token(self, request: web.Request) -> web.Response:
        """``POST /oauth2/token``: authorization code (PKCE checked), refresh, client credentials, token exchange."""
        form = {k: str(v) for k, v in (await request.post()).items()}
        if form.get("grant_type") in {"client_credentials", EXCHANGE_GRANT}:
            return await self._service_grant(request, form, form["grant_type"])
        client_id = self._client_id(request, form)
        if client_id != self.client_id:
            return self._error("invalid_client", 401)
        grant = form.get("grant_type")
        if grant == "refresh_token":
            try:
                result = await self._call(
                    "initiate_auth",
                    ClientId=client_id,
                    AuthFlow="REFRESH_TOKEN_AUTH",
                    AuthParameters={"REFRESH_TOKEN": form.get("refresh_token", "")},
                )
            except ClientError:
                return self._error("invalid_grant")
            return self._tokens(result["AuthenticationResult"])
        if grant != "authorization_code":
            return self._error("unsupported_grant_type")
        issued = self._codes.pop(form.get("code", ""), None)  # single-use, even when refused below
        if issued is None or issued.expires_at < time.time():
            return self._error("invalid_grant")
        if issued.client_id != client_id or issued.redirect_uri != form.get("redirect_uri"):
            return self._error("invalid_grant")
        if issued.code_challenge is not None:
            verifier = form.get("code_verifier", "")
            if not verifier or not secrets.compare_digest(s256(verifier), issued.code_challenge):
                return self._error("invalid_grant")
        return self._tokens(issued.tokens)

    @staticmethod
    def _tokens(result: dict[str, Any]) -> web.Response:
        body = {
            "id_token": result["IdToken"],
            "access_token": result["AccessToken"],
            "token_type": "Bearer",
            "expires_in": result.get("ExpiresIn", 3600),
        }
        if result.get("RefreshToken"):
            body["refresh_token"] = result["RefreshToken"]
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    async def revoke(self, request: web.Request) -> web.Response:
        """``POST /oauth2/revoke``: revoke a refresh token (here: sign its user out everywhere)."""
        form = {k: str(v) for k, v in (await request.post()).items()}
        if self._client_id(request, form) != self.client_id:
            return self._error("invalid_client", 401)
        try:
            # moto has no token lookup: a refresh tells whose token it is.
            result = await self._call(
                "initiate_auth",
                ClientId=self.client_id,
                AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters={"REFRESH_TOKEN": form.get("token", "")},
            )
        except ClientError:
            return web.Response(status=200)  # RFC 7009: an unknown or revoked token is not an error
        claims = jwt.get_unverified_claims(result["AuthenticationResult"]["IdToken"])
        for username in {claims.get("email"), claims.get("cognito:username")} - {None}:
            try:
                await self._call(
                    "admin_user_global_sign_out", UserPoolId=self.user_pool_id, Username=username
                )
            except ClientError:
                continue
        logger.info("refresh token revoked", extra={"client_id": self.client_id})
        return web.Response(status=200)


def _api_error(code: str, message: str, status: int = 400) -> web.Response:
    """An error in the AWS JSON protocol, as botocore parses it."""
    return web.json_response(
        {"__type": code, "message": message},
        status=status,
        headers={"x-amzn-ErrorType": code},
        content_type="application/x-amz-json-1.1",
    )


def main(argv: list[str] | None = None) -> None:
    """Serve the local hosted UI until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5104)
    parser.add_argument("--moto", required=True, help="the moto server's URL")
    parser.add_argument("--pool", required=True, help="the user pool id")
    parser.add_argument("--client", required=True, help="the app client id")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)
    logs.configure()
    ui = HostedUI(args.moto, args.pool, args.client, region=args.region)
    logger.info("hosted UI listening", extra={"port": args.port})
    # No access log: authorize URLs carry states and challenges.
    web.run_app(ui.app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
