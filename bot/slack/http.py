"""Slack on the bot's aiohttp server: one URL for commands, events and interactivity; or Socket Mode."""

import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.slack.app import SlackEdge

logger = logging.getLogger(__name__)

EDGE_KEY: web.AppKey[SlackEdge] = web.AppKey("centralops_slack_edge")
PATH = "/slack/events"
# Slack's own payloads are a few kilobytes; a modal submission with every block stays far below this.
MAX_BODY_BYTES = 256 * 1024


def setup_slack(app: web.Application, edge: SlackEdge, *, app_token: str | None = None) -> None:
    """Serve ``POST /slack/events``; with ``app_token``, also connect over Socket Mode.

    Args:
        app: The bot's aiohttp application.
        edge: The Slack edge (its Bolt app verifies every signature).
        app_token: An ``xapp-`` token: Slack then talks over a WebSocket instead of HTTP.
    """
    app[EDGE_KEY] = edge

    async def open_session(_: web.Application) -> None:
        # One connection pool for every Web API call (Bolt copies it into each request's client);
        # without it slack-sdk opens a new session and connection per call.
        edge.app.client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def close_session(_: web.Application) -> None:
        if edge.app.client.session is not None:
            await edge.app.client.session.close()

    app.on_startup.append(open_session)
    app.on_cleanup.append(close_session)

    # Without a signing secret nothing over HTTP could be verified: serve Slack over Socket Mode only.
    if edge.config.slack_signing_secret:
        app.router.add_post(PATH, _events_handler(edge, SignatureVerifier(edge.config.slack_signing_secret)))
    if app_token:
        handler = AsyncSocketModeHandler(edge.app, app_token)

        async def connect(_: web.Application) -> None:
            await handler.connect_async()
            logger.info("slack socket mode connected")

        async def disconnect(_: web.Application) -> None:
            await handler.close_async()

        app.on_startup.append(connect)
        app.on_cleanup.append(disconnect)


def _events_handler(
    edge: SlackEdge, verifier: SignatureVerifier
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """``POST /slack/events``: size and signature checked on the raw bytes, then Bolt."""

    async def events(request: web.Request) -> web.Response:
        # Signature and size first: nothing unsigned reaches Bolt's body parser.
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return _refused(request, 413, "body too large")
        try:
            raw = await _read_capped(request, MAX_BODY_BYTES)
        except (aiohttp.ClientPayloadError, ConnectionError):
            return _refused(request, 400, "body not readable")
        if raw is None:
            return _refused(request, 413, "body too large")
        if not verifier.is_valid_request(raw, request.headers):
            return _refused(request, 401, "invalid signature")
        try:
            bolt_request = AsyncBoltRequest(
                body=raw.decode("utf-8"),
                query=request.query_string,
                headers=request.headers,  # type: ignore[arg-type]
            )
        except Exception:  # the constructor only parses: signed, yet not a body Slack sends
            return _refused(request, 400, "malformed body")
        return await to_aiohttp_response(await edge.app.async_dispatch(bolt_request))

    return events


def _refused(request: web.Request, status: int, reason: str) -> web.Response:
    """One log line, no traceback, and a 4xx that says nothing an attacker can use."""
    logger.warning(
        "slack request refused",
        extra={"reason": reason, "status": status, "remote": request.remote, "bytes": request.content_length},
    )
    return web.Response(status=status, text=reason)


async def _read_capped(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or ``None`` as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
