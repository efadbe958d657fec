"""MCP client of the AWS MCP Server: SigV4-signed streamable HTTP, one session per credentials.

The bridge makes one kind of call (``tools/call``), so this client speaks just
that part of MCP's streamable-HTTP transport: the ``initialize`` handshake and
``notifications/initialized`` once per session, then one signed POST per call,
whose answer is a JSON body or a server-sent event stream. The ``mcp``
package's general client (memory streams, task groups and a model validation
per message) cost most of the bridge's CPU on a wide fan-out; tests hold this
client to the real ``mcp`` server (the local AWS MCP Server stand-in).

Security properties:
- every request, handshake and ``DELETE`` included, is SigV4-signed with the
  credentials the session belongs to; a session serves only those credentials
  (one per assumed role and caller), so nobody's call rides on another's session;
- the session cap never closes a session with a call in flight; the least
  recently used idle sessions go first;
- a transport or protocol failure drops the session, so the next call opens a
  fresh one; a session the server forgot (404) is reopened once, as the server
  never ran that request.

HTTP connections (``bridge.http11``) are pooled across sessions (they carry no
identity: each request is signed on its own), which keeps a 1,000-account
fan-out to about as many sockets as calls in flight.
"""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from bridge.credentials import AwsCredentials
from bridge.errors import AwsMcpError
from bridge.http11 import HttpError, Pool, Response
from bridge.transport import (
    NOT_PROCESSED_STATUS,
    RETRYABLE_STATUS,
    RetryingTransport,
    SigV4Signer,
    tls_context,
)

logger = logging.getLogger(__name__)

# Revisions reachable with the initialize handshake over streamable HTTP; the newest is offered.
PROTOCOL_VERSIONS = ("2025-03-26", "2025-06-18", "2025-11-25")
_CLIENT_INFO = {"name": "centralops-bridge", "version": "1"}
_ACCEPT = "application/json, text/event-stream"
SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"
_KEEPALIVE = 256  # idle connections kept: at most 256 sockets at rest
_DRAIN_S = 1.0  # how long the rest of an answered event stream may take before the connection is dropped


@dataclass(frozen=True)
class ToolResult:
    """What a tool call returned: its text and whether the tool reported an error."""

    text: str
    is_error: bool


class _Gone(Exception):
    """The server does not know the session (404): it did not process the request."""


class _Failed(Exception):
    """The server answered, but not with a usable answer (HTTP error, bad JSON, no response)."""


class _RpcError(Exception):
    """The server answered the request with a JSON-RPC error."""


class _Session:
    """One MCP session: its credentials, signer, negotiated version and server-assigned id."""

    def __init__(self, credentials: AwsCredentials, region: str, idempotent: bool) -> None:
        self.credentials = credentials
        self.idempotent = idempotent
        self.signer = SigV4Signer(credentials, region)
        self.session_id: str | None = None
        self.version: str | None = None
        self.opening: asyncio.Task[None] | None = None
        self.closed = False
        self._next_id = 0

    def request_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def headers(self) -> dict[str, str]:
        headers = {"accept": _ACCEPT, "content-type": "application/json"}
        if self.session_id:
            headers[SESSION_HEADER] = self.session_id
        if self.version:
            headers[VERSION_HEADER] = self.version
        return headers


class AwsMcpClient:
    """Calls AWS MCP Server tools with a member account's credentials.

    Args:
        url: The server's streamable-HTTP endpoint.
        region: The region in the SigV4 credential scope.
        call_timeout_s: Budget for one tool call (and for opening a session).
        retries: Retries of requests answered 429/5xx.
        max_sessions: Open sessions kept; the least recently used is closed beyond this.
        clock: Epoch seconds (tests).
    """

    def __init__(
        self,
        url: str,
        region: str,
        *,
        call_timeout_s: float = 25.0,
        retries: int = 3,
        max_sessions: int = 1_024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._max_sessions = max_sessions
        self._url = url
        self._region = region
        self._timeout = call_timeout_s
        self._retries = retries
        self._clock = clock
        self._sessions: dict[str, _Session] = {}
        self._busy: dict[str, int] = {}  # calls in flight per session: never evicted while in use
        self._http: RetryingTransport | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.sessions_opened = 0

    def _transport(self) -> RetryingTransport:
        """The pooled connections to the server, with retries (one pool: a connection has no identity)."""
        if self._http is None:
            pool = Pool(
                self._url,
                tls=tls_context() if self._url.startswith("https:") else None,
                connect_timeout_s=self._timeout,
                max_idle=_KEEPALIVE,
            )
            self._http = RetryingTransport(pool, self._retries)
        return self._http

    async def _send(self, session: _Session, method: str, body: bytes = b"") -> Response:
        """Send one signed request; a mutating session's retries are only of answers that promise it did not run."""
        headers = session.headers()
        session.signer.sign(method, self._url, headers, body)
        statuses = RETRYABLE_STATUS if session.idempotent else NOT_PROCESSED_STATUS
        return await self._transport().send(method, headers, body, statuses=statuses)

    async def _session(self, key: str, credentials: AwsCredentials, idempotent: bool) -> _Session:
        self._sweep()
        session = self._sessions.pop(key, None)
        if session is None:
            session = _Session(credentials, self._region, idempotent)
            session.opening = asyncio.get_running_loop().create_task(self._open(session))
            self.sessions_opened += 1
        self._sessions[key] = session  # most recently used last
        self._busy[key] = self._busy.get(key, 0) + 1  # released by call()
        excess = len(self._sessions) - self._max_sessions
        # Least recently used first; a session with a call in flight (a wide fan-out) is kept.
        for idle in [k for k in self._sessions if not self._busy.get(k)][: max(0, excess)]:
            self._drop(idle, self._sessions[idle])
        assert session.opening is not None  # noqa: S101 - set when the session was made
        try:
            # Shielded: one caller's budget running out must not abort the handshake others share.
            await asyncio.wait_for(asyncio.shield(session.opening), self._timeout)
        except TimeoutError:
            self._drop(key, session)
            raise AwsMcpError(
                f"The AWS MCP Server at {self._url} did not complete the MCP handshake within "
                f"{self._timeout:g} s. Try again; if it persists, check the server's health.",
                code="aws_mcp_timeout",
            ) from None
        except (Exception, asyncio.CancelledError) as e:
            if isinstance(e, asyncio.CancelledError) and not session.opening.cancelled():
                raise  # this caller was cancelled, not the handshake
            self._drop(key, session)
            raise AwsMcpError(
                f"The AWS MCP Server at {self._url} could not be reached ({_describe(e)}). "
                "Try again; if it persists, check the bridge's network path and the server's health.",
                code="aws_mcp_unavailable",
            ) from None
        return session

    async def _open(self, session: _Session) -> None:
        """The handshake: ``initialize`` (which assigns the session id), then ``notifications/initialized``."""
        params = {"protocolVersion": PROTOCOL_VERSIONS[-1], "capabilities": {}, "clientInfo": _CLIENT_INFO}
        result = await self._request(session, "initialize", params)
        version = result.get("protocolVersion")
        if version not in PROTOCOL_VERSIONS:
            raise _Failed(f"the server speaks MCP {version!r}, not one of {', '.join(PROTOCOL_VERSIONS)}")
        session.version = version
        await self._post(session, {"jsonrpc": "2.0", "method": "notifications/initialized"}, None)

    async def _request(self, session: _Session, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id = session.request_id()
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        answer = await self._post(session, message, request_id)
        if answer is None or not isinstance(answer.get("result", answer.get("error")), dict):
            raise _Failed(f"the server's answer to {method} is not a JSON-RPC response")
        if "error" in answer:
            error = answer["error"]
            raise _RpcError(f"{error.get('message') or 'error'} ({error.get('code')})")
        result: dict[str, Any] = answer["result"]
        return result

    async def _post(
        self, session: _Session, message: dict[str, Any], request_id: int | None
    ) -> dict[str, Any] | None:
        """POST one message; for a request, the JSON-RPC response (from a JSON body or an event stream)."""
        sent = await self._send(session, "POST", json.dumps(message, separators=(",", ":")).encode())
        close = True
        try:
            if message.get("method") == "initialize" and sent.status < 300:
                session.session_id = sent.headers.get(SESSION_HEADER)
            if sent.status == 404 and session.session_id and request_id is not None:
                raise _Gone("Session terminated")
            kind = sent.headers.get("content-type", "").split(";")[0].strip().lower()
            if sent.status >= 400:
                if kind == "application/json" and request_id is not None:
                    answer = _json(await sent.read())
                    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
                        return answer
                raise _Failed(f"HTTP {sent.status}")
            if request_id is None:
                return None  # a notification: 202, no body
            if kind == "application/json":
                answer = _json(await sent.read())
                return answer if isinstance(answer, dict) and answer.get("id") == request_id else None
            if kind == "text/event-stream":
                answer, rest = await self._events(session, sent, request_id)
                if answer is not None:
                    # The server ends the stream after the response; reading it to its end keeps the
                    # connection for the next call (closing it unread costs a new connection each
                    # time). That is done in the background: the answer does not wait for it.
                    self._spawn(self._finish(sent, rest))
                    close = False
                return answer
            raise _Failed(f"unexpected content type {kind!r}")
        finally:
            if close:
                await sent.aclose()

    @staticmethod
    async def _finish(response: Response, rest: AsyncIterator[str]) -> None:
        try:
            with contextlib.suppress(TimeoutError, HttpError):
                async with asyncio.timeout(_DRAIN_S):
                    async for _ in rest:
                        pass
        finally:
            await response.aclose()

    async def _events(
        self, session: _Session, response: Response, request_id: int
    ) -> tuple[dict[str, Any] | None, AsyncIterator[str]]:
        """Read server-sent events until the response to ``request_id``; answer any ``ping`` on the way."""
        data: list[str] = []
        lines = _lines(response)
        async for line in lines:
            if line:
                field, _, value = line.partition(":")
                if field == "data":
                    data.append(value.removeprefix(" "))
                continue
            if not data:
                continue
            message, data = _json("\n".join(data).encode()), []
            if not isinstance(message, dict):
                continue
            if message.get("id") == request_id and ("result" in message or "error" in message):
                return message, lines
            if "method" in message and "id" in message:  # a request from the server
                self._spawn(self._reply(session, message))
        return None, lines

    async def _reply(self, session: _Session, request: dict[str, Any]) -> None:
        """Answer a server's request: ``ping`` is answered; this client offers no other capability."""
        answer: dict[str, Any] = {"jsonrpc": "2.0", "id": request["id"]}
        if request.get("method") == "ping":
            answer["result"] = {}
        else:
            answer["error"] = {"code": -32601, "message": "Method not found"}
        with contextlib.suppress(HttpError, _Failed, _Gone, TimeoutError):
            await self._post(session, answer, None)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _drop(self, key: str, session: _Session) -> None:
        if self._sessions.get(key) is session:
            del self._sessions[key]
        if session.closed:
            return
        session.closed = True
        if session.opening is not None and not session.opening.done():
            session.opening.cancel()
        elif session.session_id and session.credentials.expires_at > self._clock():
            self._spawn(self._terminate(session))

    async def _terminate(self, session: _Session) -> None:
        """Tell the server the session is over (signed ``DELETE``; best effort)."""
        with contextlib.suppress(HttpError, TimeoutError):
            response = await asyncio.wait_for(self._send(session, "DELETE"), 5.0)
            await response.aclose()

    def _sweep(self) -> None:
        now = self._clock()
        for key, session in list(self._sessions.items()):
            if session.credentials.expires_at <= now:
                self._drop(key, session)

    async def call(
        self,
        credentials: AwsCredentials,
        tool_name: str,
        arguments: dict[str, Any],
        *,
        idempotent: bool = True,
    ) -> ToolResult:
        """Call ``tool_name`` with ``arguments`` as the holder of ``credentials``.

        Args:
            credentials: The assumed role's credentials; one MCP session per set.
            tool_name: The AWS MCP Server tool.
            arguments: Its arguments.
            idempotent: ``False`` for mutating commands: then only answers that promise the request
                was not processed (429, 503) are retried.

        Raises:
            AwsMcpError: The server could not be reached, failed, or did not answer in time.
        """
        key = f"{credentials.access_key_id}#{'r' if idempotent else 'w'}"
        for attempt in (1, 2):
            try:
                session = await self._session(key, credentials, idempotent)
            except BaseException:  # an error, or the account's budget cancelling the wait
                self._release(key)
                raise
            try:
                result = await asyncio.wait_for(
                    self._request(session, "tools/call", {"name": tool_name, "arguments": arguments}),
                    self._timeout + 1,
                )
            except _RpcError as e:
                raise AwsMcpError(
                    f"The AWS MCP Server refused the call ({e}). Try again; "
                    "if it persists, check the server's health.",
                    code="aws_mcp_error",
                ) from e
            except (_Gone, _Failed, HttpError, TimeoutError) as e:
                self._drop(key, session)  # the next call opens a fresh session
                # A session the server forgot (restart, expiry) never ran the request: open a new one once.
                if isinstance(e, _Gone) and attempt == 1:
                    continue
                if isinstance(e, TimeoutError):
                    raise AwsMcpError(
                        f"The AWS MCP Server did not answer within {self._timeout:g} s. "
                        "Narrow the command (a region, a filter) or try again.",
                        code="aws_mcp_timeout",
                    ) from e
                raise AwsMcpError(
                    f"The AWS MCP Server refused or failed the call ({_describe(e)}). Try again; "
                    "if it persists, check the server's health.",
                    code="aws_mcp_error",
                ) from e
            finally:
                self._release(key)
            return ToolResult(_text(result), result.get("isError") is True)
        raise AssertionError("unreachable")  # pragma: no cover

    def _release(self, key: str) -> None:
        left = self._busy.get(key, 0) - 1
        if left > 0:
            self._busy[key] = left
        else:
            self._busy.pop(key, None)

    async def aclose(self) -> None:
        """Close every session and the pooled connections."""
        for key, session in list(self._sessions.items()):
            self._drop(key, session)
        if self._background:
            with contextlib.suppress(Exception):
                await asyncio.wait(list(self._background), timeout=5)
        http, self._http = self._http, None
        if http is not None:
            with contextlib.suppress(Exception):
                await http.aclose()


async def _lines(response: Response) -> AsyncIterator[str]:
    """The body's lines as they arrive, without their end (CRLF, LF or CR), decoded as UTF-8."""
    pending = b""
    async for chunk in response.chunks():
        pending += chunk
        held = b"\r" if pending.endswith(b"\r") else b""  # its LF may come with the next chunk
        if held:
            pending = pending[:-1]
        if b"\r" in pending:
            pending = pending.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *lines, pending = pending.split(b"\n")
        pending += held
        for line in lines:
            yield line.decode("utf-8", "replace")
    if pending:
        yield pending.rstrip(b"\r").decode("utf-8", "replace")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "no answer"
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    text = str(error)
    return (f"{type(error).__name__}: {text}" if text else type(error).__name__)[:300]


def _text(result: dict[str, Any]) -> str:
    """The text blocks of a ``CallToolResult``, one per line (other kinds of content are not text)."""
    content = result.get("content")
    if not isinstance(content, list):
        return ""
    return "\n".join(
        block["text"]
        for block in content
        if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)
    )
