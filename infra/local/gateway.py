"""The local AgentCore Gateway: MCP over streamable HTTP in front of the bridge.

Like the real Gateway it validates the caller's Cognito JWT (``aud`` = the app
client id) before anything else, lists the tools of ``bridge/tool_schema.json``
under the target prefix (``bridge-lambda___query``), and invokes the bridge's
Lambda handler with the tool's arguments as the event and the prefixed tool
name in ``context.client_context.custom["bedrockAgentCoreToolName"]``.

Run: ``python -m infra.local.gateway --port 5102`` with the bridge's and
Cognito's settings in the environment.
"""

import argparse
import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import uvicorn
from mcp import types
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.lowlevel import Server
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from centralops import logs, settings, tracing
from centralops.errors import InvalidTokenError
from centralops.tokens import CognitoVerifier, cognito_issuer

logger = logging.getLogger("centralops.gateway")

TARGET = "bridge-lambda"
LambdaHandler = Callable[[dict[str, Any], Any], Any]


def load_tool_schema() -> list[dict[str, Any]]:
    """The bridge's tool definitions, the same file the CDK stack inlines."""
    text = resources.files("bridge").joinpath("tool_schema.json").read_text()
    tools: list[dict[str, Any]] = json.loads(text)
    return tools


@dataclass
class ClientContext:
    """The part of Lambda's ``client_context`` the Gateway fills in."""

    custom: dict[str, str]
    env: dict[str, str] = field(default_factory=dict)
    client: None = None


@dataclass
class LambdaContext:
    """A Lambda context object as the Gateway's invocation produces it."""

    client_context: ClientContext
    function_name: str = "centralops-bridge"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_s: float = 60.0
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the invocation would time out."""
        return max(0, int((self.timeout_s - (time.monotonic() - self._started)) * 1000))


class CognitoTokenVerifier:
    """Adapts :class:`CognitoVerifier` to the ``mcp`` server's token verifier protocol."""

    def __init__(self, verifier: CognitoVerifier) -> None:
        self._verifier = verifier

    async def verify_token(self, token: str) -> AccessToken | None:
        """Return the token's principal, or ``None`` (the server answers 401)."""
        try:
            claims = await asyncio.to_thread(self._verifier.verify, token)
        except InvalidTokenError as e:
            logger.info("gateway refused a token", extra={"reason": e.message})
            return None
        return AccessToken(
            token=token,
            client_id=self._verifier.audience,
            scopes=[],
            expires_at=int(claims["exp"]),
            subject=str(claims.get("sub")),
            claims=claims,
        )


def build_server(handler: LambdaHandler, tools: list[dict[str, Any]], *, target: str = TARGET) -> Server[Any]:
    """An MCP server that exposes ``tools`` under ``target`` and invokes ``handler``."""
    listed = [
        types.Tool(
            name=f"{target}___{t['name']}", description=t.get("description"), input_schema=t["inputSchema"]
        )
        for t in tools
    ]
    known = {t.name for t in listed}

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        if params.name not in known:
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=f"Unknown tool {params.name!r}.")], is_error=True
            )
        context = LambdaContext(ClientContext(custom={"bedrockAgentCoreToolName": params.name}))
        event = dict(params.arguments or {})
        started = time.monotonic()
        # Strands carries the agent's trace context in the request's _meta (traceparent).
        carrier = {k: v for k, v in dict(params.meta or {}).items() if isinstance(v, str)}
        try:
            with tracing.span(f"gateway {params.name}", carrier=carrier):
                result = await asyncio.to_thread(handler, event, context)
        except Exception:
            # A Lambda that raises surfaces as a tool error, as the real Gateway reports it.
            logger.exception("bridge invocation failed", extra={"tool": params.name})
            return types.CallToolResult(
                content=[types.TextContent(type="text", text="The bridge failed; see its log.")],
                is_error=True,
            )
        logger.info(
            "tool invoked",
            extra={"tool": params.name, "ms": int((time.monotonic() - started) * 1000)},
        )
        return types.CallToolResult(content=[types.TextContent(type="text", text=json.dumps(result))])

    return Server("centralops-gateway", on_list_tools=list_tools, on_call_tool=call_tool)


def build_app(handler: LambdaHandler, verifier: CognitoVerifier, *, host: str = "127.0.0.1") -> Any:
    """The Gateway's ASGI app: ``/mcp`` behind JWT verification, ``/health`` open."""
    server = build_server(handler, load_tool_schema())

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return server.streamable_http_app(
        host=host,
        auth=AuthSettings(issuer_url=verifier.issuer, resource_server_url=None),  # type: ignore[arg-type]
        token_verifier=CognitoTokenVerifier(verifier),
        custom_starlette_routes=[Route("/health", health)],
    )


def verifier_from_env() -> CognitoVerifier:
    """The Cognito verifier configured by the environment."""
    region = settings.env_str(settings.AWS_REGION, "us-east-1")
    pool = settings.env_str(settings.COGNITO_USER_POOL_ID)
    issuer = settings.env_str(settings.COGNITO_ISSUER, cognito_issuer(region, pool))
    return CognitoVerifier(
        issuer=issuer,
        audience=settings.env_str(settings.COGNITO_CLIENT_ID),
        jwks_url=settings.env_opt(settings.COGNITO_JWKS_URL),
    )


def main() -> None:
    """Serve the local Gateway."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5102)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    logs.configure()
    tracing.setup("gateway")
    from bridge.handler import handler  # the Lambda target, loaded as Lambda would

    app = build_app(handler, verifier_from_env(), host=args.host)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
