"""The AgentCore Gateway as the agent sees it: MCP over streamable HTTP, as the user.

Every request carries the caller's own ID token, so the Gateway authorises
the person, not the agent. Tools are named ``<target>___<tool>``; the agent
looks them up by their suffix (``query``, ``query_accounts``).
"""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from strands.tools.mcp import MCPClient

from centralops.errors import CentralOpsError

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
        """Call a bridge tool; ``(ok, text)`` where ``text`` is the tool's JSON result."""
        result = await self.client.call_tool_async(
            f"direct-{uuid.uuid4().hex[:12]}", self.name_of(suffix), arguments
        )
        text = "".join(c.get("text", "") for c in result.get("content", []) if isinstance(c, dict))
        return result.get("status") == "success", text


@asynccontextmanager
async def connect(url: str, token: str, *, startup_timeout: int = 20) -> AsyncIterator[Gateway]:
    """Open an MCP session with the Gateway as the caller.

    Raises:
        GatewayError: The Gateway is unreachable or rejected the token.
    """
    client = MCPClient(url=url, headers={"Authorization": f"Bearer {token}"}, startup_timeout=startup_timeout)
    started = False
    try:
        await asyncio.to_thread(client.start)  # cleans up after itself when it fails
        started = True
        gateway = await asyncio.to_thread(Gateway, client)
    except Exception as e:
        logger.warning("gateway connection failed", extra={"url": url, "error": type(e).__name__})
        if started:
            await asyncio.to_thread(_stop, client)
        raise GatewayError(
            "The tool gateway could not be reached or refused your sign-in; try again, "
            "and sign in again (`/aws login`) if it persists."
        ) from e
    try:
        yield gateway
    finally:
        await asyncio.to_thread(_stop, client)


def _stop(client: MCPClient) -> None:
    try:
        client.stop(None, None, None)
    except Exception:  # closing a broken session must not hide the real error
        logger.debug("gateway session close failed", exc_info=True)
