"""MCP client of the AWS MCP Server: SigV4-signed streamable HTTP, one session per credentials.

Each session is owned by one long-lived task (the ``mcp`` client's task groups
must be entered and left by the same task); calls from any task of the same
event loop share it. Sessions whose credentials expired are closed.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx2
import mcp_types
from mcp import MCPError
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from bridge.credentials import AwsCredentials
from bridge.errors import AwsMcpError
from bridge.transport import NOT_PROCESSED_STATUS, RETRYABLE_STATUS, RetryingTransport, SigV4HttpAuth

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolResult:
    """What a tool call returned: its text and whether the tool reported an error."""

    text: str
    is_error: bool


class _Session:
    """One MCP session, kept open by its owner task until closed."""

    def __init__(
        self,
        url: str,
        credentials: AwsCredentials,
        region: str,
        retries: int,
        timeout_s: float,
        idempotent: bool,
    ):
        self.statuses = RETRYABLE_STATUS if idempotent else NOT_PROCESSED_STATUS
        self.credentials = credentials
        self.client: Client | None = None
        self.error: BaseException | None = None
        self.ready = asyncio.Event()
        self._close = asyncio.Event()
        self._url = url
        self._region = region
        self._retries = retries
        self._timeout = timeout_s
        self.task = asyncio.get_running_loop().create_task(self._own())

    async def _own(self) -> None:
        try:
            async with httpx2.AsyncClient(
                auth=SigV4HttpAuth(self.credentials, self._region),
                transport=RetryingTransport(self._retries, statuses=self.statuses),
                timeout=httpx2.Timeout(self._timeout, read=300.0),
            ) as http:
                transport = streamable_http_client(self._url, http_client=http)
                async with Client(transport, mode="legacy", cache=None) as client:
                    self.client = client
                    self.ready.set()
                    await self._close.wait()
        except Exception as e:
            self.error = e
        finally:
            self.client = None
            self.ready.set()

    def close(self) -> None:
        self._close.set()


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
        max_sessions: int = 256,
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
        self.sessions_opened = 0

    async def _session(self, key: str, credentials: AwsCredentials, idempotent: bool) -> Client:
        self._sweep()
        session = self._sessions.pop(key, None)
        if session is None:
            session = _Session(self._url, credentials, self._region, self._retries, self._timeout, idempotent)
            self.sessions_opened += 1
        self._sessions[key] = session  # most recently used last
        self._busy[key] = self._busy.get(key, 0) + 1  # released by call()
        excess = len(self._sessions) - self._max_sessions
        # Least recently used first; a session with a call in flight (a wide fan-out) is kept.
        for idle in [k for k in self._sessions if not self._busy.get(k)][: max(0, excess)]:
            self._drop(idle, self._sessions[idle])
        try:
            await asyncio.wait_for(session.ready.wait(), self._timeout)
        except TimeoutError:
            self._drop(key, session)
            raise AwsMcpError(
                f"The AWS MCP Server at {self._url} did not complete the MCP handshake within "
                f"{self._timeout:g} s. Try again; if it persists, check the server's health.",
                code="aws_mcp_timeout",
            ) from None
        if session.client is None:
            self._drop(key, session)
            raise AwsMcpError(
                f"The AWS MCP Server at {self._url} could not be reached ({_describe(session.error)}). "
                "Try again; if it persists, check the bridge's network path and the server's health.",
                code="aws_mcp_unavailable",
            )
        return session.client

    def _drop(self, key: str, session: _Session) -> None:
        if self._sessions.get(key) is session:
            del self._sessions[key]
        session.close()

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
                client = await self._session(key, credentials, idempotent)
            except BaseException:  # an error, or the account's budget cancelling the wait
                self._release(key)
                raise
            try:
                result = await asyncio.wait_for(
                    client.call_tool(tool_name, arguments, read_timeout_seconds=self._timeout),
                    self._timeout + 1,
                )
            except (MCPError, TimeoutError) as e:
                stale = self._sessions.get(key)
                if stale is not None:
                    self._drop(key, stale)
                message = str(e) or type(e).__name__
                # A session the server forgot (restart, expiry) never ran the request: open a new one once.
                if attempt == 1 and "Session terminated" in message:
                    continue
                if isinstance(e, TimeoutError) or "timed out" in message.lower():
                    raise AwsMcpError(
                        f"The AWS MCP Server did not answer within {self._timeout:g} s. "
                        "Narrow the command (a region, a filter) or try again.",
                        code="aws_mcp_timeout",
                    ) from e
                raise AwsMcpError(
                    f"The AWS MCP Server refused or failed the call ({message}). Try again; "
                    "if it persists, check the server's health.",
                    code="aws_mcp_error",
                ) from e
            finally:
                self._release(key)
            return ToolResult(_text(result), bool(result.is_error))
        raise AssertionError("unreachable")  # pragma: no cover

    def _release(self, key: str) -> None:
        left = self._busy.get(key, 0) - 1
        if left > 0:
            self._busy[key] = left
        else:
            self._busy.pop(key, None)

    async def aclose(self) -> None:
        """Close every session."""
        sessions = list(self._sessions.values())
        self._sessions.clear()
        for session in sessions:
            session.close()
        for session in sessions:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(session.task, 5)


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "no answer"
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return f"{type(error).__name__}: {error}"[:300]


def _text(result: mcp_types.CallToolResult) -> str:
    parts = [block.text for block in result.content if isinstance(block, mcp_types.TextContent)]
    return "\n".join(parts)
