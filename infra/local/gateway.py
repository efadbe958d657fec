"""The local AgentCore Gateway: MCP over streamable HTTP in front of the bridge.

Like the real Gateway's JWT authorizer it accepts only access tokens issued for
its own audience (``aud`` = the Gateway's resource server, what the agent's
token exchange asks for) before anything else, then hands every MCP request
to the REQUEST interceptor (the bridge's ``bridge.interceptor.handler``, with
the documented event shape and the request headers passed) and goes on with
the body it returns, or answers with the response it returns. It lists the
tools of ``bridge/tool_schema.json`` under the target prefix
(``bridge-lambda___query``), and invokes the bridge's Lambda handler with the
tool's arguments as the event and the prefixed tool name in
``context.client_context.custom["bedrockAgentCoreToolName"]``.

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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class InterceptedMcp:
    """Runs the REQUEST interceptor on every MCP request, as AgentCore Gateway does after its authorizer.

    The interceptor receives ``{"interceptorInputVersion": "1.0", "mcp": {"rawGatewayRequest": {"body"},
    "gatewayRequest": {"path", "httpMethod", "headers", "body"}}}``. Its ``transformedGatewayResponse`` is
    sent as is (the target is not called); otherwise its ``transformedGatewayRequest.body`` replaces the
    request's body.
    """

    def __init__(self, app: ASGIApp, interceptor: LambdaHandler) -> None:
        self.app = app
        self.interceptor = interceptor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        raw = await _read_body(receive)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            await _send_json(send, 400, _rpc_error(None, -32700, "The request body is not JSON."))
            return
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers[name.decode("latin-1")] = value.decode("latin-1")
        event = {
            "interceptorInputVersion": "1.0",
            "mcp": {
                "rawGatewayRequest": {"body": raw.decode("utf-8", "replace")},
                "gatewayRequest": {
                    "path": scope["path"],
                    "httpMethod": "POST",
                    "headers": headers,
                    "body": body,
                },
            },
        }
        context = LambdaContext(ClientContext(custom={}), function_name="centralops-interceptor")
        try:
            output = await asyncio.to_thread(self.interceptor, event, context)
            mcp_out = output["mcp"]
            if output.get("interceptorOutputVersion") != "1.0":
                raise ValueError("interceptorOutputVersion must be 1.0")
        except Exception:
            # The real Gateway fails the request when its interceptor fails; the target is never called.
            logger.exception("request interceptor failed")
            await _send_json(send, 500, _rpc_error(_id(body), -32603, "The Gateway's interceptor failed."))
            return
        answer = mcp_out.get("transformedGatewayResponse")
        if isinstance(answer, dict):
            await _send_json(send, int(answer.get("statusCode", 200)), answer.get("body"))
            return
        new_raw = json.dumps(mcp_out["transformedGatewayRequest"]["body"]).encode()
        new_headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
        new_headers.append((b"content-length", str(len(new_raw)).encode()))
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": new_raw, "more_body": False}
            return await receive()

        await self.app({**scope, "headers": new_headers}, replay, send)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _id(body: Any) -> Any:
    return body.get("id") if isinstance(body, dict) else None


def _rpc_error(rid: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


async def _send_json(send: Send, status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})


def build_app(
    handler: LambdaHandler,
    verifier: CognitoVerifier,
    *,
    interceptor: LambdaHandler | None = None,
    host: str = "127.0.0.1",
) -> Any:
    """The Gateway's ASGI app: ``/mcp`` behind JWT verification and the REQUEST interceptor, ``/health`` open.

    Args:
        handler: The Lambda target (the bridge's handler).
        verifier: The authorizer's verifier.
        interceptor: The REQUEST interceptor's handler; the bridge's interceptor on ``verifier`` when omitted.
        host: The host the app is served on (DNS-rebinding protection).
    """
    server = build_server(handler, load_tool_schema())
    if interceptor is None:
        from bridge.interceptor import Interceptor  # the interceptor Lambda's own code

        interceptor = Interceptor(verifier)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = server.streamable_http_app(
        host=host,
        auth=AuthSettings(issuer_url=verifier.issuer, resource_server_url=None),  # type: ignore[arg-type]
        token_verifier=CognitoTokenVerifier(verifier),
        custom_starlette_routes=[Route("/health", health)],
    )
    # Inside the authorizer (RequireAuthMiddleware), in front of the MCP transport: the Gateway's order.
    mcp_route = next(r for r in app.routes if isinstance(r, Route) and r.path == "/mcp")
    authorizer = mcp_route.app
    authorizer.app = InterceptedMcp(authorizer.app, interceptor)  # type: ignore[attr-defined]
    return app


def verifier_from_env() -> CognitoVerifier:
    """The authorizer's verifier: access tokens of the pool whose ``aud`` is the Gateway's."""
    region = settings.env_str(settings.AWS_REGION, "us-east-1")
    pool = settings.env_str(settings.COGNITO_USER_POOL_ID)
    issuer = settings.env_str(settings.COGNITO_ISSUER, cognito_issuer(region, pool))
    return CognitoVerifier(
        issuer=issuer,
        audience=settings.env_str(settings.GATEWAY_AUDIENCE),
        jwks_url=settings.env_opt(settings.COGNITO_JWKS_URL),
        token_use=frozenset({"access"}),
    )


def main() -> None:
    """Serve the local Gateway."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5102)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    logs.configure()
    tracing.setup("gateway")
    from bridge.handler import handler, warm  # the Lambda target, loaded as Lambda would

    warm()  # what Lambda's init phase does before the first invocation
    from bridge.interceptor import handler as interceptor  # the REQUEST interceptor Lambda, the same way

    app = build_app(handler, verifier_from_env(), interceptor=interceptor, host=args.host)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
