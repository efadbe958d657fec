"""The AgentCore Runtime contract (DESIGN §2.1) through ``bedrock-agentcore``'s app.

``POST /invocations`` streams the typed events of :mod:`centralops.events`
as server-sent events (or, with ``Accept: application/json`` only, returns
them in one JSON object: ``{"session_id", "text", "events"}``); ``GET /ping`` answers ``HealthyBusy`` while an
invocation runs. The same container entry point serves AgentCore Runtime in
AWS and the local stack (``python -m agent``).
"""

import logging
from collections.abc import AsyncIterator
from typing import Any

from bedrock_agentcore.runtime import BedrockAgentCoreApp
from bedrock_agentcore.runtime.context import RequestContext

from agent.config import AgentSettings
from agent.runner import AgentRuntime
from centralops import events, tracing
from centralops.errors import CentralOpsError

logger = logging.getLogger("centralops.agent.app")


def wants_json(context: RequestContext) -> bool:
    """Whether the client asked for one JSON body instead of an event stream."""
    request = context.request
    accept = str(request.headers.get("accept", "")) if request is not None else ""
    return "application/json" in accept and "text/event-stream" not in accept


def create_app(runtime: AgentRuntime | None = None) -> BedrockAgentCoreApp:
    """Build the Runtime app around an :class:`AgentRuntime` (from the environment when omitted).

    Raises:
        ConfigurationError: A required setting is missing.
    """
    app = BedrockAgentCoreApp()
    state: dict[str, AgentRuntime] = {}
    if runtime is not None:
        state["runtime"] = runtime
    else:
        state["runtime"] = AgentRuntime.from_settings(AgentSettings.from_env())

    async def stream(payload: Any, context: RequestContext) -> AsyncIterator[dict[str, Any]]:
        task_id = app.add_async_task("invocation")  # /ping answers HealthyBusy until it completes
        try:
            if not isinstance(payload, dict):
                yield dict(events.error("bad_request", "The request body must be a JSON object."))
                yield dict(events.done(context.session_id or ""))
                return
            invocation = state["runtime"].invoke(
                payload, session_id=context.session_id, headers=context.request_headers or {}
            )
            incoming = dict(context.request.headers) if context.request is not None else {}
            with tracing.span("agent invocation", carrier=incoming):
                async for event in invocation:
                    yield dict(event)
        except CentralOpsError as e:
            yield dict(events.error(e.code, e.message))
            yield dict(events.done(context.session_id or ""))
        finally:
            app.complete_async_task(task_id)

    @app.entrypoint
    async def invoke(payload: Any, context: RequestContext) -> Any:
        """SSE by default; one JSON object when the client accepts only JSON."""
        if wants_json(context):
            collected = [event async for event in stream(payload, context)]
            return {
                "session_id": next((e["session_id"] for e in collected if e["type"] == "done"), ""),
                "text": "".join(str(e["delta"]) for e in collected if e["type"] == "text"),
                "events": collected,
            }
        return stream(payload, context)

    return app
