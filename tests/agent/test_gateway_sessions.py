"""A pooled Gateway session heals itself: after a Gateway restart the next question just works."""

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from agent.runner import AgentRuntime
from infra.local.gateway import build_app
from tests.fixtures.agent_stack import AgentWorld, RecordingBridge, collect, gateway_verifier, texts
from tests.fixtures.aws import free_port

RAW_LIBRARY_TEXT = ("client session is not running", "Tool execution failed", "Traceback")


class RestartableGateway:
    """The real local Gateway on one fixed port, stopped and started again at will."""

    def __init__(self, world: AgentWorld, bridge: RecordingBridge) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self._build = lambda: build_app(bridge, gateway_verifier(world.pool, world.exchange))
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # A new app each time, as a restarted process has: it knows none of the old MCP sessions.
        config = uvicorn.Config(
            self._build(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        while not self._server.started:
            assert self._thread.is_alive(), "the Gateway did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture
def gateway(env: AgentWorld) -> Iterator[RestartableGateway]:
    gw = RestartableGateway(env, env.bridge)
    gw.start()
    try:
        yield gw
    finally:
        with contextlib.suppress(AssertionError):
            gw.stop()


async def _ask(runtime: AgentRuntime, token: str, prompt: str) -> str:
    """Everything the person is shown: the answer's text and any error message."""
    evs = await collect(runtime.invoke({"prompt": prompt, "access_token": token}, session_id="heal-1"))
    return texts(evs) + "".join(e["message"] for e in evs if e["type"] == "error")


@pytest.mark.parametrize("prompt", ["run aws s3 ls in staging", "list buckets in staging"])
async def test_after_a_gateway_outage_the_next_question_answers_without_library_text(
    make_runtime: Any,
    env: AgentWorld,
    gateway: RestartableGateway,
    alice: str,
    prompt: str,
) -> None:
    runtime = make_runtime(gateway_url=gateway.url)
    assert "acme-staging-assets" in await _ask(runtime, alice, prompt)

    gateway.stop()
    during = await _ask(runtime, alice, prompt)
    gateway.start()
    after = await _ask(runtime, alice, prompt)

    assert "tool gateway" in during.lower()
    assert "acme-staging-assets" in after
    for shown in (during, after):
        assert not any(raw in shown for raw in RAW_LIBRARY_TEXT), shown


async def test_a_restart_between_questions_is_invisible(
    make_runtime: Any, env: AgentWorld, gateway: RestartableGateway, alice: str
) -> None:
    runtime = make_runtime(gateway_url=gateway.url)
    assert "acme-staging-assets" in await _ask(runtime, alice, "run aws s3 ls in staging")
    gateway.stop()
    gateway.start()  # the pooled session names a session the new Gateway never heard of

    answer = await _ask(runtime, alice, "run aws s3 ls in staging")

    assert "acme-staging-assets" in answer
    assert not any(raw in answer for raw in RAW_LIBRARY_TEXT)
