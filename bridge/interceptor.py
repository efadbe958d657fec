"""The AgentCore Gateway REQUEST interceptor: stamp the verified caller into every tool call.

A second Lambda handler of the bridge's deployable (``bridge.interceptor.handler``).
The Gateway invokes it before the target with its documented contract:

- input ``{"interceptorInputVersion": "1.0", "mcp": {"gatewayRequest": {"headers", "body"}}}``
  (headers only when the interceptor is configured with ``passRequestHeaders``);
- output ``{"interceptorOutputVersion": "1.0", "mcp": {"transformedGatewayRequest": {"body"}}}``
  to go on, or ``{"mcp": {"transformedGatewayResponse": {"statusCode", "body"}}}`` to answer
  at once; the target is then never called.

For a ``tools/call`` it verifies the bearer token with the kernel's verifier (its
JWKS cached across invocations), optionally requires the RFC 8693 ``act`` claim
to name an expected actor, then removes whatever the client wrote under the
reserved key :data:`~centralops.identity.CALLER_KEY` (anywhere in the params) or
under ``requester`` and writes the verified caller there. Every other method
passes through unchanged. The token is never logged.
"""

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from centralops import settings
from centralops.errors import CentralOpsError, InvalidTokenError
from centralops.identity import CALLER_KEY, IdentityError, VerifiedCaller, actor_of
from centralops.tokens import CognitoVerifier, bearer_token, cognito_issuer

logger = logging.getLogger("bridge.interceptor")

VERSION = "1.0"
TOOLS_CALL = "tools/call"
# JSON-RPC error codes: the reserved "invalid request/params" and two server-defined ones.
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
UNAUTHENTICATED = -32001
FORBIDDEN = -32003
INTERNAL = -32603
SPOOFABLE_KEYS = ("requester",)


class Refusal(CentralOpsError):
    """A request the interceptor answers itself, with a JSON-RPC error."""

    code = "refused"

    def __init__(self, message: str, *, code: str, rpc_code: int) -> None:
        super().__init__(message, code=code)
        self.rpc_code = rpc_code


def _without_reserved(value: Any) -> Any:
    """A copy of ``value`` with the reserved caller key removed at every depth."""
    if isinstance(value, dict):
        return {k: _without_reserved(v) for k, v in value.items() if k != CALLER_KEY}
    if isinstance(value, list):
        return [_without_reserved(v) for v in value]
    return value


def _authorization(headers: Any) -> str | None:
    if not isinstance(headers, Mapping):
        return None
    values = [v for k, v in headers.items() if isinstance(k, str) and k.lower() == "authorization"]
    # Two Authorization headers are ambiguous: which one the Gateway's authorizer checked is unknown.
    return values[0] if len(values) == 1 and isinstance(values[0], str) else None


@dataclass
class Interceptor:
    """The interceptor's logic, bound to a verifier.

    Args:
        verifier: Verifies the bearer token (the same pool and audience as the Gateway's authorizer).
        required_actor: When set, the token's ``act.sub`` (RFC 8693 immediate actor) must equal it.
    """

    verifier: CognitoVerifier
    required_actor: str | None = None

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Handle one Gateway request (the Lambda handler's signature)."""
        mcp = event.get("mcp") if isinstance(event, Mapping) else None
        request = mcp.get("gatewayRequest") if isinstance(mcp, Mapping) else None
        if not isinstance(request, Mapping):
            return _respond(None, INVALID_REQUEST, "invalid_event", "The Gateway request could not be read.")
        body = request.get("body")
        try:
            if isinstance(body, list):
                return _forward(self._batch(body))
            if isinstance(body, dict) and body.get("method") == TOOLS_CALL:
                return _forward(self._stamp(body, request.get("headers")))
        except Refusal as e:
            rid = body.get("id") if isinstance(body, dict) else None
            logger.info("gateway request refused", extra={"code": e.code, "method": TOOLS_CALL})
            return _respond(rid, e.rpc_code, e.code, e.message)
        return _forward(body)

    def _batch(self, body: list[Any]) -> list[Any]:
        # JSON-RPC batches left MCP in 2025-06-18; a batch may carry no tool call the stamp could miss.
        if any(not isinstance(m, dict) or m.get("method") == TOOLS_CALL for m in body):
            raise Refusal(
                "Tool calls cannot be sent in a JSON-RPC batch here. Send each tools/call as its own request.",
                code="batch_refused",
                rpc_code=INVALID_REQUEST,
            )
        return body

    def _stamp(self, body: dict[str, Any], headers: Any) -> dict[str, Any]:
        params = body.get("params")
        if not isinstance(params, dict) or not isinstance(params.get("name"), str):
            raise Refusal(
                "tools/call needs params with a tool name.", code="invalid_params", rpc_code=INVALID_PARAMS
            )
        arguments = params.get("arguments", {})
        if not isinstance(arguments, dict):
            raise Refusal(
                "The tool arguments must be a JSON object.", code="invalid_arguments", rpc_code=INVALID_PARAMS
            )
        caller = self._caller(headers)
        try:
            clean = _without_reserved(params)
        except RecursionError as e:
            raise Refusal(
                "The tool arguments are nested too deeply to check.",
                code="invalid_arguments",
                rpc_code=INVALID_PARAMS,
            ) from e
        args = {k: v for k, v in clean.get("arguments", {}).items() if k not in SPOOFABLE_KEYS}
        args[CALLER_KEY] = caller.to_stamp()
        return {**body, "params": {**clean, "arguments": args}}

    def _caller(self, headers: Any) -> VerifiedCaller:
        token = bearer_token(_authorization(headers))
        if not token:
            raise Refusal(
                "The request carries no bearer token (Authorization: Bearer <token>). Sign in and send your "
                "own token.",
                code="missing_token",
                rpc_code=UNAUTHENTICATED,
            )
        try:
            claims = self.verifier.verify(token)
        except InvalidTokenError as e:
            raise Refusal(e.message, code=e.code, rpc_code=UNAUTHENTICATED) from e
        if self.required_actor is not None:
            actor = actor_of(claims)
            if actor != self.required_actor:
                raise Refusal(
                    "This token was not issued to the CentralOps agent acting for you (its act claim "
                    f"{'names another actor' if actor else 'is missing'}). Ask through chat, which calls the "
                    "tools on your behalf.",
                    code="wrong_actor" if actor else "missing_actor",
                    rpc_code=FORBIDDEN,
                )
        try:
            return VerifiedCaller.from_claims(claims)
        except IdentityError as e:
            raise Refusal(e.message, code=e.code, rpc_code=FORBIDDEN) from e


def _forward(body: Any) -> dict[str, Any]:
    return {"interceptorOutputVersion": VERSION, "mcp": {"transformedGatewayRequest": {"body": body}}}


def _respond(rid: Any, rpc_code: int, code: str, message: str) -> dict[str, Any]:
    rid = rid if isinstance(rid, (str, int)) and not isinstance(rid, bool) else None
    error = {"code": rpc_code, "message": message, "data": {"code": code}}
    return {
        "interceptorOutputVersion": VERSION,
        "mcp": {
            "transformedGatewayResponse": {
                "statusCode": 200,
                "body": {"jsonrpc": "2.0", "id": rid, "error": error},
            }
        },
    }


def from_env() -> Interceptor:
    """The interceptor configured by the environment: the Gateway authorizer's pool and audience (access
    tokens exchanged for the Gateway), and the actor it requires (the agent's app client).

    Raises:
        ConfigurationError: A required variable is missing.
    """
    region = settings.env_str(settings.AWS_REGION, "us-east-1")
    issuer = settings.env_opt(settings.COGNITO_ISSUER) or cognito_issuer(
        region, settings.env_str(settings.COGNITO_USER_POOL_ID)
    )
    verifier = CognitoVerifier(
        issuer=issuer,
        audience=settings.env_str(settings.GATEWAY_AUDIENCE),
        jwks_url=settings.env_opt(settings.COGNITO_JWKS_URL),
        token_use=frozenset({"access"}),
    )
    return Interceptor(verifier, required_actor=settings.env_opt(settings.GATEWAY_REQUIRED_ACTOR))


_interceptor: Interceptor | None = None
_lock = threading.Lock()


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point; the interceptor (and its JWKS cache) is built once per process."""
    global _interceptor
    with _lock:
        if _interceptor is None:
            try:
                _interceptor = from_env()
            except CentralOpsError as e:
                logger.error("interceptor misconfigured", extra={"code": e.code, "reason": e.message})
                return _respond(
                    None,
                    INTERNAL,
                    "interceptor_unavailable",
                    "The Gateway cannot verify callers right now, so no tool was run. Tell an administrator.",
                )
    return _interceptor(event, context)
