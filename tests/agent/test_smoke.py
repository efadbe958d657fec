"""Smoke: the planner answers a question through the real Gateway."""

from agent.runner import AgentRuntime
from tests.fixtures.agent_stack import AgentWorld, collect, texts


async def test_list_buckets_in_staging(runtime: AgentRuntime, env: AgentWorld, alice: str) -> None:
    evs = await collect(
        runtime.invoke({"prompt": "list buckets in staging", "access_token": alice}, session_id="s-smoke-1")
    )
    print(evs)
    assert "acme-staging-assets" in texts(evs)
    assert env.bridge.calls[0][0] == "query"
