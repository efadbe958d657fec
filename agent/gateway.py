"""The AgentCore Gateway as the agent sees it: MCP over streamable HTTP, as the user.

Every request carries the caller's own ID token, so the Gateway authorises
the person, not the agent. Tools are named ``<target>___<tool>``; the agent
looks them up by their suffix (``query``, ``query_accounts``).
"""

import asyncio
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from strands.tools.mcp import MCPClient

from centralops.errors import CentralOpsError
from centralops.platforms import login_hint

logger = logging.getLogger("centralops.agent.gateway")

BRIDGE_TOOLS = ("query", "query_accounts")


class GatewayError(CentralOpsError):
    """The Gateway could not be reached or refused the call."""

    code = "gateway_unavailable"


def tool_suffix(name: str) -> str:
    """``query`` for ``bridge-lambda___query``."""
    return name.rsplit("___", 1)[-1]


class Gateway:
    """A started MCP session with the Gateway, for one invocation.

    Args:
        client: A started :class:`MCPClient`.
    """

    def __init__(self, client: MCPClient) -> None:
        self.client = client
        self.tools = client.list_tools_sync()
        self._names = {tool_suffix(t.tool_name): t.tool_name for t in self.tools}
        # Set by any failed call: the pool then closes the session instead of reusing it.
        self.broken = False

    def name_of(self, suffix: str) -> str:
        """The full tool name for a suffix.

        Raises:
            GatewayError: The Gateway offers no such tool.
        """
        try:
            return self._names[suffix]
        except KeyError:
            raise GatewayError(
                f"The Gateway offers no '{suffix}' tool; check that its bridge target is deployed."
            ) from None

    async def call(self, suffix: str, arguments: dict[str, Any]) -> tuple[bool, str]:
        """Call a bridge tool; ``(ok, text)`` where ``text`` is the tool's JSON result.

        A failed call (transport, session or Gateway error) marks the session broken and
        returns ``(False, "")``: the library's text is logged, never passed on to a person.
        """
        name = self.name_of(suffix)
        try:
            result = await self.client.call_tool_async(f"direct-{uuid.uuid4().hex[:12]}", name, arguments)
        except Exception as e:  # the session is no longer running: the library raises instead of answering
            self.broken = True
            logger.warning("gateway call failed", extra={"tool": name, "error": type(e).__name__})
            return False, ""
        text = "".join(c.get("text", "") for c in result.get("content", []) if isinstance(c, dict))
        if result.get("status") != "success":
            self.broken = True
            logger.warning("gateway call failed", extra={"tool": name, "detail": text[:300]})
            return False, ""
        return True, text


async def _open(url: str, token: str, *, startup_timeout: int = 20, platform: str | None = None) -> Gateway:
    client = MCPClient(url=url, headers={"Authorization": f"Bearer {token}"}, startup_timeout=startup_timeout)
    started = False
    try:
        await asyncio.to_thread(client.start)  # cleans up after itself when it fails
        started = True
        return await asyncio.to_thread(Gateway, client)
    except Exception as e:
        logger.warning("gateway connection failed", extra={"url": url, "error": type(e).__name__})
        if started:
            await asyncio.to_thread(_stop, client)
        raise GatewayError(
            "The tool gateway could not be reached or refused your sign-in; try again, "
            f"and sign in again ({login_hint(platform)}) if it persists."
        ) from e


@asynccontextmanager
async def connect(
    url: str, token: str, *, startup_timeout: int = 20, platform: str | None = None
) -> AsyncIterator[Gateway]:
    """Open a fresh MCP session with the Gateway as the caller, closed on exit.

    Raises:
        GatewayError: The Gateway is unreachable or rejected the token.
    """
    gateway = await _open(url, token, startup_timeout=startup_timeout, platform=platform)
    try:
        yield gateway
    finally:
        await asyncio.to_thread(_stop, gateway.client)


@dataclass
class _Idle:
    gateway: Gateway
    token_expires_at: float
    idle_since: float


class GatewayPool:
    """Started Gateway sessions, kept per token between invocations.

    Opening an MCP session costs several round trips; the bot reuses a
    person's ID token until shortly before it expires, so consecutive
    invocations of that person reuse one session. A session is only ever used
    with the token it was opened with, by one invocation at a time, and is
    closed when that token expires, after ``idle_s`` unused, or after any error.

    Args:
        url: The Gateway's MCP endpoint.
        max_idle: How many unused sessions to keep.
        idle_s: How long an unused session is kept.
    """

    def __init__(self, url: str, *, max_idle: int = 32, idle_s: float = 300.0) -> None:
        self.url = url
        self.max_idle = max_idle
        self.idle_s = idle_s
        self.opened = 0
        self._idle: dict[str, _Idle] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def _checkout(self, key: str) -> Gateway | None:
        now, wall = time.monotonic(), time.time()
        stale: list[Gateway] = []
        found: Gateway | None = None
        with self._lock:
            for k, idle in list(self._idle.items()):
                if idle.token_expires_at - 30 < wall or now - idle.idle_since > self.idle_s:
                    stale.append(self._idle.pop(k).gateway)
            entry = self._idle.pop(key, None)
            if entry is not None:
                found = entry.gateway
        for gw in stale:
            _close_later(gw.client)
        if found is not None and found.client.connection_failed:
            _close_later(found.client)
            return None
        return found

    def _checkin(self, key: str, gateway: Gateway, token_expires_at: float) -> None:
        displaced: list[Gateway] = []
        with self._lock:
            if key in self._idle:
                displaced.append(self._idle.pop(key).gateway)
            self._idle[key] = _Idle(gateway, token_expires_at, time.monotonic())
            while len(self._idle) > self.max_idle:
                oldest = min(self._idle, key=lambda k: self._idle[k].idle_since)
                displaced.append(self._idle.pop(oldest).gateway)
        for gw in displaced:
            _close_later(gw.client)

    @asynccontextmanager
    async def session(
        self, token: str, token_expires_at: float, *, platform: str | None = None
    ) -> AsyncIterator[Gateway]:
        """A started session for ``token``, reused when one is idle (``platform``: the person's, for messages).

        Raises:
            GatewayError: The Gateway is unreachable or rejected the token.
        """
        key = self._key(token)
        gateway = self._checkout(key)
        if gateway is None:
            gateway = await _open(self.url, token, platform=platform)
            self.opened += 1
        try:
            yield gateway
        except BaseException:
            await asyncio.to_thread(_stop, gateway.client)
            raise
        if (
            token_expires_at - 30 > time.time()
            and not gateway.broken
            and not gateway.client.connection_failed
        ):
            self._checkin(key, gateway, token_expires_at)
        else:
            await asyncio.to_thread(_stop, gateway.client)

    def close(self) -> None:
        """Close every idle session."""
        with self._lock:
            idle = [i.gateway for i in self._idle.values()]
            self._idle.clear()
        for gw in idle:
            _stop(gw.client)


def _close_later(client: MCPClient) -> None:
    threading.Thread(target=_stop, args=(client,), name="gateway-close", daemon=True).start()


def _stop(client: MCPClient) -> None:
    try:
        client.stop(None, None, None)
    except Exception:  # closing a broken session must not hide the real error
        logger.debug("gateway session close failed", exc_info=True)
