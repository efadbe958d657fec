"""Slack on the bot's aiohttp server: one URL for commands, events and interactivity; or Socket Mode."""

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
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
        acks.enter()
        try:
            return await _events(request)
        finally:
            acks.leave()

    async def _events(request: web.Request) -> web.Response:
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
        if _acked_at_once(raw):
            # Every listener of these acks with an empty 200 and works in the background: answer now,
            # and let Bolt (its own checks included, and building its request) run once the burst of
            # acks has left.
            acks.later(_dispatch(edge, raw, request.query_string, request.headers.copy()))
            return web.Response(status=200)
        try:
            bolt_request = AsyncBoltRequest(
                body=raw.decode("utf-8"),
                query=request.query_string,
                headers=request.headers,  # type: ignore[arg-type]
            )
        except Exception:  # the constructor only parses: signed, yet not a body Slack sends
            return _refused(request, 400, "malformed body")
        if _acked_empty(bolt_request.body):
            # Every listener of these acks with an empty 200 and works in the background: answer now,
            # and let Bolt (its own checks included) run once the burst of acks has left.
            acks.later(edge.app.async_dispatch(bolt_request))
            return web.Response(status=200)
        return await to_aiohttp_response(await edge.app.async_dispatch(bolt_request))

    acks = _AckFirst()
    return events


_FIELD = re.compile(rb"(?:^|&)(command|ssl_check|payload)=")


def _acked_at_once(raw: bytes) -> bool:
    """A signed slash command or event callback, told cheaply (without building Bolt's request).

    A form body is a slash command when it has a ``command`` field and no ``ssl_check`` or
    ``payload`` (interactivity) one; a JSON body is an event callback by its ``type``.
    """
    if raw[:1] == b"{":
        try:
            body = json.loads(raw)
        except ValueError:
            return False
        return isinstance(body, dict) and _acked_empty(body)
    return {m.group(1) for m in _FIELD.finditer(raw)} == {b"command"}


async def _dispatch(edge: SlackEdge, raw: bytes, query: str, headers: Any) -> BoltResponse:
    """Bolt's request built and dispatched after the ack (a body it cannot read is refused, logged once)."""
    try:
        bolt_request = AsyncBoltRequest(body=raw.decode("utf-8"), query=query, headers=headers)
    except Exception:  # the constructor only parses: signed, yet not a body Slack sends
        return BoltResponse(status=400, body="malformed body")
    return await edge.app.async_dispatch(bolt_request)


def _acked_empty(body: dict[str, Any]) -> bool:
    """A slash command or an event callback: what the edge's listeners always ack with an empty 200."""
    if body.get("ssl_check") or body.get("type") == "url_verification":
        return False
    return bool(body.get("command")) or body.get("type") == "event_callback"


class _AckFirst:
    """Starts acknowledged work between acks: a burst of commands is acked before the work piles in.

    Work waits for a moment with no ack in flight, then starts one piece at a time, yielding to the
    loop between two, so an ack that arrives meanwhile goes first; under sustained load a piece
    waits at most ``max_wait_s``.

    Args:
        max_wait_s: Longest a piece of work waits for a quiet moment.
    """

    def __init__(self, max_wait_s: float = 0.5) -> None:
        self.in_flight = 0
        self.max_wait_s = max_wait_s
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._queue: list[tuple[float, Coroutine[Any, Any, BoltResponse]]] = []
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def enter(self) -> None:
        self.in_flight += 1
        self._quiet.clear()

    def leave(self) -> None:
        self.in_flight -= 1
        if not self.in_flight:
            self._quiet.set()

    def later(self, dispatch: Coroutine[Any, Any, BoltResponse]) -> None:
        loop = asyncio.get_running_loop()
        self._queue.append((loop.time() + self.max_wait_s, dispatch))
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain())

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            due, _ = self._queue[0]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), max(0.0, due - loop.time()))
            _, dispatch = self._queue.pop(0)
            task = loop.create_task(self._run(dispatch))
            self._tasks.add(task)  # keep a reference until it finishes
            task.add_done_callback(self._tasks.discard)
            await asyncio.sleep(0)  # let an ack that arrived meanwhile go first

    @staticmethod
    async def _run(dispatch: Coroutine[Any, Any, BoltResponse]) -> None:
        try:
            response = await dispatch
        except Exception:
            logger.exception("slack request failed after its ack")
            return
        if response.status != 200:
            logger.warning("slack request refused after its ack", extra={"status": response.status})


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
