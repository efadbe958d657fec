"""``GET /auth/start`` and ``GET /auth/callback``: linking a chat user to Cognito.

The flow (DESIGN §3): the sign-in button of ``/aws login`` opens
``/auth/start?state=…``; the state was created in DynamoDB for exactly one chat
user, with a PKCE verifier, and lives 10 minutes. Start redirects to the
Cognito hosted UI (authorization code + PKCE ``S256``). The callback uses the
state up with one atomic delete (a replay gets nothing), exchanges the code
with the state's verifier, verifies the ID token, checks that the Cognito
email is the chat profile's email, and stores the link.

The email check is what stops a sign-in link being forwarded: without it,
whoever opens someone else's link would link their own Cognito account to the
other person's chat identity. Turn it off (``CENTRALOPS_REQUIRE_EMAIL_MATCH=false``)
only where chat profiles carry no email.
"""

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from aiohttp import web
from botocore.exceptions import BotoCoreError, ClientError

from bot.identity import IdentityError, IdentityLink, IdentityService, OAuthState
from centralops import settings
from centralops.errors import ConfigurationError, InvalidTokenError
from centralops.platforms import LOGIN_COMMANDS, SLACK, TEAMS, login_command
from centralops.tokens import CognitoVerifier

logger = logging.getLogger("centralops.bot.auth")

EmailLookup = Callable[[str, str, str], Awaitable[str | None]]
"""``(platform, team, user) -> email`` of the chat profile, ``None`` when it has none."""

OnLinked = Callable[[IdentityLink], Awaitable[None]]
"""Called after a link is stored (to tell the user in chat, say)."""

APP_KEY: web.AppKey["AuthRoutes"] = web.AppKey("centralops_auth_routes")

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · CentralOps</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}</style>
</head><body><h1>{title}</h1><p>{body}</p></body></html>
"""

_HEADERS = {
    # The callback URL carries an authorization code: keep it out of caches and referrers.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}


class LinkRefusedError(IdentityError):
    """The sign-in cannot complete; ``message`` is shown to the person in the browser."""

    code = "link_refused"

    def __init__(self, message: str, *, status: int = 400, reason: str = "refused") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


def page(title: str, body: str, *, status: int = 200) -> web.Response:
    """A small HTML page (``body`` is text, escaped here)."""
    text = _PAGE.format(title=html.escape(title), body=html.escape(body))
    return web.Response(text=text, status=status, content_type="text/html", headers=_HEADERS)


def _again(platform: str | None) -> str:
    """What to do for a new sign-in link; both platforms' command when the sign-in's platform is unknown."""
    if platform is None:
        return (
            f"Go back to chat and run {LOGIN_COMMANDS[SLACK]} again (in Teams: {LOGIN_COMMANDS[TEAMS]}) "
            "for a new sign-in link."
        )
    return f"Go back to chat and run {login_command(platform)} again for a new sign-in link."


@dataclass
class AuthRoutes:
    """The two routes and the sign-in logic behind them.

    Args:
        service: Identity links, states and Cognito settings.
        verifier: Verifies the ID token of the code exchange.
        email_lookup: The chat profile's email; required when ``require_email_match``.
        require_email_match: Refuse a sign-in whose Cognito email is not the chat profile's.
        on_linked: Called after a link is stored.
    """

    service: IdentityService
    verifier: CognitoVerifier
    email_lookup: EmailLookup | None = None
    require_email_match: bool = True
    on_linked: OnLinked | None = None

    @property
    def redirect_uri(self) -> str:
        """The callback URL registered with the app client."""
        return f"{self.service.public_url}/auth/callback"

    def authorize_url(self, state: OAuthState) -> str:
        """The hosted UI's authorize URL for a pending sign-in."""
        cognito = self.service.cognito
        query = {
            "response_type": "code",
            "client_id": cognito.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": " ".join(cognito.scopes),
            "state": state.state,
            "code_challenge": state.code_challenge,
            "code_challenge_method": "S256",
        }
        return f"{cognito.domain_url}/oauth2/authorize?{urlencode(query)}"

    async def start(self, request: web.Request) -> web.Response:
        """``GET /auth/start?state=…``: redirect to the hosted UI."""
        state = await self.service.oauth_states.peek(request.query.get("state", ""))
        if state is None:
            return page(
                "This sign-in link has expired",
                "Sign-in links work once and for 10 minutes. " + _again(None),
                status=400,
            )
        raise web.HTTPFound(self.authorize_url(state), headers=_HEADERS)

    async def callback(self, request: web.Request) -> web.Response:
        """``GET /auth/callback?code=…&state=…``: complete the sign-in and store the link."""
        try:
            link = await self.complete(request.query)
        except LinkRefusedError as e:
            logger.warning("sign-in refused", extra={"reason": e.reason})
            return page("Not linked", e.message, status=e.status)
        if self.on_linked is not None:
            try:
                await self.on_linked(link)
            except Exception:
                logger.exception("could not announce the link", extra={"link_id": link.link_id})
        return page(
            "Linked",
            f"Your chat account is now linked to {link.display_name}. "
            "You can close this tab and go back to chat.",
        )

    async def complete(self, query: Mapping[str, str]) -> IdentityLink:
        """Consume the state, exchange the code, verify, check the email and store the link.

        Raises:
            LinkRefusedError: With what the person should do next.
        """
        state_value = str(query.get("state", ""))
        if query.get("error"):
            # Cognito reports a cancelled or refused sign-in here; the state is used up either way.
            used = await self.service.oauth_states.consume(state_value) if state_value else None
            raise LinkRefusedError(
                f"The sign-in did not complete ({query.get('error')}). "
                + _again(used.platform if used else None),
                reason="idp_error",
            )
        code = str(query.get("code", ""))
        if not state_value or not code:
            raise LinkRefusedError(
                "This page expects a sign-in response. " + _again(None), reason="malformed"
            )
        try:
            state = await self.service.oauth_states.consume(state_value)
        except IdentityError as e:
            raise LinkRefusedError(e.message, status=503, reason="store") from e
        if state is None:
            raise LinkRefusedError(
                "This sign-in link was already used or has expired (links work once and for 10 minutes). "
                + _again(None),
                reason="state",
            )
        tokens = await self._exchange(state, code)
        claims = await self._verify(state, tokens["id_token"])
        email = str(claims.get("email") or "") or await self._cognito_email(tokens.get("access_token", ""))
        if self.require_email_match and str(claims.get("email_verified", "true")).lower() == "false":
            raise LinkRefusedError(
                "Your CentralOps account's email address is not verified yet. Verify it, then "
                + _again(state.platform),
                status=403,
                reason="email_unverified",
            )
        await self._check_email(state, email)
        refresh_token = tokens.get("refresh_token")
        if not refresh_token:
            raise LinkRefusedError(
                "Cognito did not return a refresh token; the app client must allow the refresh-token flow. "
                "Ask your CentralOps administrator.",
                status=502,
                reason="no_refresh_token",
            )
        username = str(claims.get("cognito:username") or claims.get("sub") or "")
        try:
            link = await self.service.store.save(
                state.platform,
                state.team,
                state.user,
                username=username,
                email=email,
                refresh_token=str(refresh_token),
            )
        except IdentityError as e:
            raise LinkRefusedError(e.message, status=503, reason="store") from e
        self.service.forget(state.platform, state.team, state.user)
        return link

    async def _exchange(self, state: OAuthState, code: str) -> dict[str, Any]:
        cognito = self.service.cognito
        form = {
            "grant_type": "authorization_code",
            "client_id": cognito.client_id,
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": state.code_verifier,
        }
        try:
            response = await self.service.http_client().post(
                f"{cognito.domain_url}/oauth2/token", data=form, headers=cognito.client_auth_headers()
            )
        except httpx.HTTPError as e:
            raise LinkRefusedError(
                "Cognito could not be reached to finish the sign-in. " + _again(state.platform),
                status=502,
                reason="token_unreachable",
            ) from e
        if response.status_code != 200:
            error = _json(response).get("error", f"HTTP {response.status_code}")
            raise LinkRefusedError(
                f"Cognito did not accept this sign-in ({error}). " + _again(state.platform),
                reason=f"token_{error}",
            )
        tokens = _json(response)
        if not tokens.get("id_token"):
            raise LinkRefusedError(
                "Cognito returned no ID token. " + _again(state.platform), status=502, reason="no_id"
            )
        return tokens

    async def _verify(self, state: OAuthState, id_token: str) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(self.verifier.verify, id_token)
        except InvalidTokenError as e:
            raise LinkRefusedError(
                f"The sign-in token could not be verified: {e.message} " + _again(state.platform),
                reason="invalid_token",
            ) from e

    async def _cognito_email(self, access_token: str) -> str:
        """The email attribute of the signed-in user, when the ID token did not carry it."""
        if not access_token:
            return ""
        try:
            user = await asyncio.to_thread(lambda: self.service.idp().get_user(AccessToken=access_token))
        except (ClientError, BotoCoreError):
            logger.warning("could not read the Cognito user's attributes")
            return ""
        attributes = {a["Name"]: a["Value"] for a in user.get("UserAttributes", [])}
        return str(attributes.get("email", ""))

    async def _check_email(self, state: OAuthState, cognito_email: str) -> None:
        if not self.require_email_match:
            return
        assert self.email_lookup is not None  # noqa: S101 - checked in setup_auth_routes
        chat_email = await self.email_lookup(state.platform, state.team, state.user)
        if not chat_email:
            raise LinkRefusedError(
                "Your chat profile shows no email address to CentralOps, so the sign-in cannot be matched "
                "to you. Add an email to your chat profile or ask your administrator.",
                status=403,
                reason="no_chat_email",
            )
        if not cognito_email or cognito_email.strip().lower() != chat_email.strip().lower():
            # Never show the chat profile's email: whoever holds this page may not own that chat account.
            raise LinkRefusedError(
                f"You signed in as {cognito_email or 'an account without an email'}, which is not the email "
                "of the chat account that asked for this link. Sign in with your own account: "
                + _again(state.platform),
                status=403,
                reason="email_mismatch",
            )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def setup_auth_routes(
    app: web.Application,
    service: IdentityService,
    *,
    verifier: CognitoVerifier | None = None,
    email_lookup: EmailLookup | None = None,
    require_email_match: bool | None = None,
    on_linked: OnLinked | None = None,
) -> AuthRoutes:
    """Add ``/auth/start`` and ``/auth/callback`` to the bot's aiohttp application.

    Args:
        app: The application.
        service: The identity service.
        verifier: ID-token verifier; from the service's Cognito settings when omitted.
        email_lookup: The chat profile's email (Slack: ``users.info``, scope ``users:read.email``).
        require_email_match: Defaults to ``CENTRALOPS_REQUIRE_EMAIL_MATCH`` (true when unset).
        on_linked: Called after a link is stored.

    Raises:
        ConfigurationError: The email check is required but no ``email_lookup`` was given.
    """
    if require_email_match is None:
        require_email_match = settings.env_bool(settings.REQUIRE_EMAIL_MATCH, True)
    if require_email_match and email_lookup is None:
        raise ConfigurationError(
            "Linking checks the chat profile's email, but no email lookup is wired: "
            f"pass email_lookup or set {settings.REQUIRE_EMAIL_MATCH}=false."
        )
    routes = AuthRoutes(
        service,
        verifier or service.cognito.verifier(),
        email_lookup=email_lookup,
        require_email_match=require_email_match,
        on_linked=on_linked,
    )
    app[APP_KEY] = routes
    app.router.add_get("/auth/start", routes.start)
    app.router.add_get("/auth/callback", routes.callback)
    return routes
