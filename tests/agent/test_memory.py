"""Conversation memory: one item per thread, one read and one write per turn, failures told, answers kept."""

import uuid
from typing import Any

import boto3
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from agent import memory
from agent.memory import MAX_MESSAGES, ThreadMemory
from agent.runner import AgentRuntime
from tests.fixtures.agent_stack import REGION, AgentWorld, RuntimeFactory, collect, of_type, texts


class CountingClient:
    """A real DynamoDB client (moto) that counts the calls made through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            self.calls.append(name)
            return method(**kwargs)

        return call


def _counted(runtime: AgentRuntime, env: AgentWorld) -> CountingClient:
    client = CountingClient(boto3.client("dynamodb", endpoint_url=env.moto_url, region_name=REGION))
    runtime.memory = ThreadMemory(env.tables["memory"], client=client)
    return client


class FailingClient:
    """A DynamoDB client whose every call fails as an unreachable table would."""

    def __getattr__(self, name: str) -> Any:
        def fail(**kwargs: Any) -> Any:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "gone"}}, name)

        return fail


async def test_a_direct_answer_writes_once_and_reads_nothing(
    runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    client = _counted(runtime, env)
    sid = f"mem-direct-{uuid.uuid4()}"
    evs = await collect(
        runtime.invoke(
            {"prompt": "run aws lambda list-functions in staging", "access_token": alice}, session_id=sid
        )
    )
    assert "staging-api" in texts(evs)
    assert client.calls == ["update_item"]
    follow = await collect(
        runtime.invoke({"prompt": "and in production?", "access_token": alice}, session_id=sid)
    )
    assert "prod-billing" in texts(follow)
    # The model turn: one read before the model runs, one write after the answer.
    assert client.calls == ["update_item", "get_item", "put_item"]


async def test_a_long_thread_keeps_its_most_recent_turns_starting_at_a_question(
    runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    sid = f"mem-long-{uuid.uuid4()}"
    store = ThreadMemory(
        env.tables["memory"], client=boto3.client("dynamodb", endpoint_url=env.moto_url, region_name=REGION)
    )
    for i in range(MAX_MESSAGES // 2 + 3):
        store.append(sid, f"run aws s3 ls in staging #{i}", "x" * (memory.MAX_TEXT_CHARS + 50))
    kept = store.load(sid)
    assert len(kept) <= MAX_MESSAGES
    assert kept[0]["role"] == "user"
    assert kept[-1]["role"] == "assistant"
    assert f"#{MAX_MESSAGES // 2 + 2}" in kept[-2]["content"][0]["text"]
    assert kept[-1]["content"][0]["text"].endswith(memory.CUT)
    assert len(kept[-1]["content"][0]["text"]) < memory.MAX_TEXT_CHARS + 100


async def test_a_failed_save_keeps_the_answer_and_says_the_conversation_was_not_saved(
    make_runtime: RuntimeFactory, env: AgentWorld, alice: str
) -> None:
    for prompt in ("run aws s3 ls in staging", "list buckets in staging"):
        runtime = make_runtime()
        runtime.memory = ThreadMemory(env.tables["memory"], client=FailingClient())
        evs = await collect(runtime.invoke({"prompt": prompt, "access_token": alice}))
        assert "acme-staging-assets" in texts(evs)
        errors = of_type(evs, "error")
        assert [e["code"] for e in errors] == ["memory_unavailable"], prompt
        assert "could not be saved" in errors[0]["message"]
        assert "complete" in errors[0]["message"]
        assert evs[-1]["type"] == "done"


async def test_an_unreadable_thread_still_answers_and_says_so(
    runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    real = boto3.client("dynamodb", endpoint_url=env.moto_url, region_name=REGION)
    with Stubber(real) as stub:
        stub.add_client_error("get_item", "ProvisionedThroughputExceededException")
        stub.add_response("put_item", {})
        runtime.memory = ThreadMemory(env.tables["memory"], client=real)
        evs = await collect(runtime.invoke({"prompt": "list buckets in staging", "access_token": alice}))
    assert "acme-staging-assets" in texts(evs)
    assert "could not read this thread's earlier messages" in texts(evs)
    assert not of_type(evs, "error")


async def test_threads_do_not_share_memory(runtime: AgentRuntime, env: AgentWorld, alice: str) -> None:
    sid = f"mem-a-{uuid.uuid4()}"
    await collect(
        runtime.invoke(
            {"prompt": "how many lambda functions in staging", "access_token": alice}, session_id=sid
        )
    )
    other = await collect(
        runtime.invoke(
            {"prompt": "and in production?", "access_token": alice}, session_id=f"mem-b-{uuid.uuid4()}"
        )
    )
    assert not of_type(other, "tool")
