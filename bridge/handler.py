"""The Lambda entry point behind AgentCore Gateway.

The event is the tool's arguments; the tool's name arrives in
``context.client_context.custom["bedrockAgentCoreToolName"]`` as
``<target>___<tool>``. Errors are results, never exceptions. Nothing calls
AWS at import time. In Lambda, the init phase (this module's import) runs
:func:`warm`: the engine's imports, the bridge and its AWS clients (creating
a client sends no request) and the AWS CLI's command model, which would
otherwise make the first invocation about a second slower.
"""

import asyncio
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from bridge.runtime import BackgroundLoop
from centralops import logs, tracing
from centralops.errors import CentralOpsError

if TYPE_CHECKING:
    from bridge.engine import Bridge

logger = logging.getLogger("bridge")
TOOLS = ("query", "query_accounts")

# Parsed (never run) at init: the services most questions touch.
WARM_COMMANDS = (
    "sts get-caller-identity",
    "s3api list-buckets",
    "ec2 describe-instances",
    "lambda list-functions",
)

_loop = BackgroundLoop()
_bridge: "Bridge | None" = None
_build_lock = threading.Lock()


def tool_name(context: Any) -> str | None:
    """The bridge tool named by the Gateway, without its target prefix (``None`` when absent)."""
    custom = getattr(getattr(context, "client_context", None), "custom", None)
    if not isinstance(custom, dict):
        return None
    name = custom.get("bedrockAgentCoreToolName")
    if not isinstance(name, str):
        return None
    return name.split("___", 1)[1] if "___" in name else name


def get_bridge() -> "Bridge":
    """The process's bridge, built from the environment on first use."""
    global _bridge
    with _build_lock:
        if _bridge is None:
            from bridge.config import BridgeConfig
            from bridge.engine import Bridge
            from bridge.metrics import MeteredAuditLog

            logs.configure_for_lambda()
            bridge = Bridge(BridgeConfig.from_env())
            bridge.audit = MeteredAuditLog(bridge.audit)  # type: ignore[assignment]
            _bridge = bridge
        return _bridge


def warm() -> None:
    """Pay at init what the first invocation would: imports, the bridge, its clients, the CLI model.

    A failure here is only logged: the first invocation then meets it again and answers with an
    error result that says what to do.
    """
    try:
        from bridge.resolve import MODEL
        from bridge.transport import tls_context

        bridge = get_bridge()
        bridge.registry._dynamodb()
        bridge.credentials._client()
        tls_context()  # the CA certificates: about 0.1 s
        for command in WARM_COMMANDS:  # the CLI's parsers, shared code paths and the usual models
            MODEL.resolve(command.split())
        _loop.run(asyncio.sleep(0))  # the loop's thread
    except Exception:
        logger.exception("bridge warm-up failed; the first invocation will retry")


def _account_spans(results: list[dict[str, Any]]) -> None:
    """One span per account run, timed by the run itself (its ``ms``), ending now."""
    end = time.time_ns()
    for result in results:
        if result.get("account_id") and "ms" in result:
            tracing.record(
                f"account {result['account_id']}",
                end - int(result["ms"]) * 1_000_000,
                end,
                service="bridge",
                account_id=result["account_id"],
                ok=bool(result.get("ok")),
                command=result.get("command", ""),
            )


def _failure(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message, "account_id": None}}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run the ``query`` or ``query_accounts`` tool and return its JSON result."""
    name = tool_name(context)
    if name not in TOOLS:
        return _failure(
            "unknown_tool",
            f"The bridge serves the tools {', '.join(TOOLS)}, not {name!r}. Check the Gateway target's tool schema.",
        )
    if not isinstance(event, dict):
        return _failure("invalid_arguments", "The tool arguments must be a JSON object.")
    logs.bind(request_id=getattr(context, "aws_request_id", None))
    started = time.monotonic()
    try:
        with tracing.span(f"bridge {name}", service="bridge"):
            bridge = get_bridge()
            if name == "query":
                out = _loop.run(bridge.query(event))
            else:
                out = _loop.run(bridge.query_accounts(event))
            results = out.get("results", [out])
            _account_spans(results)
        logger.info(
            "tool call answered",
            extra={
                "tool": name,
                "accounts": len(results),
                "errors": sum(1 for r in results if not r.get("ok")),
                "ms": int((time.monotonic() - started) * 1000),
            },
        )
        return out
    except CentralOpsError as e:
        logger.error("bridge refused to start", extra={"code": e.code})
        return _failure(e.code, e.message)
    except Exception:
        logger.exception("bridge invocation failed", extra={"tool": name})
        return _failure(
            "internal_error", "The bridge failed unexpectedly. Try again; its log has the details."
        )


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # Lambda's init phase
    warm()
