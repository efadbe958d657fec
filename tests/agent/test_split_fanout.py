"""A read over several accounts is split into concurrent bridge calls: each account's line ends as it answers.

Against the real local Gateway (MCP over streamable HTTP) and a recording bridge whose calls can be
held per account, so "the fast account ended while the slow one still runs" is shown by order, not time.
"""

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from agent import split
from agent.gate import GATEWAY_FAILED
from agent.gateway import GatewayError
from agent.runner import GATEWAY_FAILED_READ, AgentRuntime
from agent.split_tool import joined
from tests.fixtures.agent_scripted import ScriptedModel, TextStep, ToolStep
from tests.fixtures.agent_stack import AgentWorld, RuntimeFactory, collect, of_type, texts

STG, PRD, DEV = "222222222222", "333333333333", "444444444444"
LIST = "run aws s3api list-buckets --account staging,prod,dev"


def _payload(token: str, prompt: str = LIST) -> dict[str, Any]:
    return {"prompt": prompt, "access_token": token, "context": {"platform": "slack"}}


def _ends(evs: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    return [(e["account"], e["ok"]) for e in of_type(evs, "tool") if e["phase"] == "end"]


@pytest.mark.parametrize(
    ("n", "calls", "sizes"),
    [(3, 8, [1, 1, 1]), (10, 4, [3, 3, 2, 2]), (1, 8, [1]), (5, 1, [5]), (7, 0, [7]), (1000, 8, [125] * 8)],
)
def test_accounts_are_spread_evenly_in_their_order(n: int, calls: int, sizes: list[int]) -> None:
    ids = [f"{i:012d}" for i in range(n)]
    groups = split.spread(ids, calls)
    assert [len(g) for g in groups] == sizes
    assert [a for g in groups for a in g] == ids


def test_a_call_that_is_not_split_is_sent_as_it_is() -> None:
    args = {"account_id": STG, "arguments": {"cli_command": "aws s3 ls"}, "tool_name": "aws___call_aws"}
    assert split.plan("query", args, [STG], 8) == [([STG], "query", args)]
    many = {**args, "account_ids": [STG, PRD]}
    del many["account_id"]
    assert split.plan("query_accounts", many, [STG, PRD], 1) == [([STG, PRD], "query_accounts", many)]
    # An account named twice runs once, as within one bridge call.
    assert [ids for ids, _, _ in split.plan("query_accounts", many, [STG, PRD, STG], 8)] == [[STG], [PRD]]
    parts = split.plan("query_accounts", many, [STG, PRD, DEV], 2)
    assert [(ids, tool, a["account_ids"], a["inline_share"]) for ids, tool, a in parts] == [
        ([STG, PRD], "query_accounts", [STG, PRD], 0.5),
        ([DEV], "query_accounts", [DEV], 0.5),
    ]


async def test_the_fast_accounts_end_before_the_slow_one_answers(
    make_runtime: RuntimeFactory, env: AgentWorld, alice: str
) -> None:
    release = threading.Event()
    env.bridge.held[STG] = release
    runtime = make_runtime()
    seen: list[dict[str, Any]] = []
    stream = runtime.invoke(_payload(alice), session_id=f"split-{uuid.uuid4()}")
    async for event in stream:
        seen.append(dict(event))
        if sorted(_ends(seen)) == [("development", True), ("production", True)]:
            break
    # Production and development ended while staging's call is still held in the bridge.
    assert not release.is_set()
    assert ("staging", True) not in _ends(seen)
    release.set()
    seen.extend([dict(e) async for e in stream])
    assert sorted(_ends(seen)) == [("development", True), ("production", True), ("staging", True)]
    assert seen[-1]["type"] == "done"


async def test_the_answer_is_the_same_whatever_order_the_calls_returned_in(
    make_runtime: RuntimeFactory, env: AgentWorld, alice: str
) -> None:
    def answer(evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in evs if e["type"] in {"text", "table", "followups", "file"}]

    whole = await collect(make_runtime(fanout_calls=1).invoke(_payload(alice)))
    assert len(env.bridge.executed()) == 1
    env.bridge.reset()
    release = threading.Event()
    env.bridge.held[STG] = release  # the first account answers last
    threading.Timer(0.5, release.set).start()
    parts = await collect(make_runtime().invoke(_payload(alice)))
    assert len(env.bridge.executed()) == 3
    assert answer(parts) == answer(whole)
    [table] = of_type(parts, "table")
    assert [row[0] for row in table["rows"]][:1] == ["staging"]


async def test_a_call_that_fails_marks_only_its_accounts_and_the_session_is_replaced(
    make_runtime: RuntimeFactory, env: AgentWorld, alice: str
) -> None:
    env.bridge.crash_with.add(PRD)
    runtime = make_runtime()
    evs = await collect(runtime.invoke(_payload(alice)))
    assert sorted(_ends(evs)) == [("development", True), ("production", False), ("staging", True)]
    answer = texts(evs)
    assert "acme-staging-assets" in answer and "acme-dev-sandbox" in answer
    assert GATEWAY_FAILED_READ.split(",")[0] in answer
    assert "2 account(s) answered, 1 failed." in answer
    # Production's call was sent twice (once more on a fresh session), the others once.
    named = [tuple(e["account_ids"]) for _, e in env.bridge.executed()]
    assert sorted(named) == [(STG,), (PRD,), (PRD,), (DEV,)]
    assert runtime.gateways.opened == 2
    assert "session is not running" not in answer


async def test_an_approved_change_is_one_call_naming_all_its_accounts(
    make_runtime: RuntimeFactory, env: AgentWorld, alice: str
) -> None:
    from tests.agent.test_approvals import CONTEXT, _decide, _resume

    runtime = make_runtime()
    sid = f"split-ap-{uuid.uuid4()}"
    command = "aws ec2 terminate-instances --instance-ids i-1"
    evs = await collect(
        runtime.invoke(
            {"prompt": f"run {command} --account staging,dev", "access_token": alice, "context": CONTEXT},
            session_id=sid,
        )
    )
    [approval] = of_type(evs, "approval")
    _decide(env, approval["approval_id"], "approved")
    await _resume(runtime, alice, sid, approval["approval_id"], "approved")
    [(tool, event)] = env.bridge.executed()
    assert tool == "query_accounts" and event["account_ids"] == [STG, DEV]
    assert event["approval_id"] == approval["approval_id"] and "inline_share" not in event


class _SlowGateway:
    """A Gateway session whose calls answer when their accounts are released (for Stop)."""

    def __init__(self) -> None:
        self.started: list[list[str]] = []
        self.cancelled = 0

    async def call(self, suffix: str, arguments: dict[str, Any]) -> tuple[bool, str]:
        ids = arguments["account_ids"]
        self.started.append(ids)
        try:
            if ids != [STG]:
                await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return True, json.dumps({"results": [{"ok": True, "account_id": a, "result": {}} for a in ids]})


async def test_a_listener_that_goes_away_leaves_no_call_running() -> None:
    gw = _SlowGateway()

    @asynccontextmanager
    async def session() -> AsyncIterator[Any]:
        yield gw

    args = {"account_ids": [STG, PRD, DEV], "arguments": {"cli_command": "aws s3 ls"}}
    parts = split.run_parts(session, "query_accounts", args, [STG, PRD, DEV], calls=8, retry=True)
    first = await anext(parts)
    assert first.account_ids == [STG] and first.ok
    await parts.aclose()  # Stop, or the bot's connection closed
    for _ in range(3):  # let the cancelled calls run their handlers
        await asyncio.sleep(0)
    assert gw.cancelled == 2


def _offloaded(bucket: str, key: str, accounts: int, size: int) -> str:
    ref = {"bucket": bucket, "key": key, "bytes": size, "accounts": accounts}
    return json.dumps({"results": [], "full_results": ref})


def test_offloaded_results_of_several_calls_are_one_file_each_and_one_note() -> None:
    texts_ = [
        _offloaded("b", "results/1.json", 2, 2048),
        json.dumps({"results": []}),
        _offloaded("b", "results/3.json", 1, 1024),
    ]
    files, note = split.attachments(texts_)
    assert [(f["name"], f["key"]) for f in files] == [
        ("centralops-results-1-of-2.json", "results/1.json"),
        ("centralops-results-2-of-2.json", "results/3.json"),
    ]
    assert files[0]["summary"] == "Full results of 2 accounts (2.0 KiB), part 1 of 2"
    assert "full results of 3 accounts (3.0 KiB) are attached as 2 files" in note


def test_one_offloaded_call_among_several_gives_the_file_it_gives_alone() -> None:
    alone = split.attachments([_offloaded("b", "results/1.json", 2, 2048)])
    among = split.attachments([json.dumps({"results": []}), _offloaded("b", "results/1.json", 2, 2048)])
    assert alone == among
    assert [f["name"] for f in alone[0]] == ["centralops-results.json"]
    problem = json.dumps({"results": [], "full_results_error": "Could not be stored."})
    files, note = split.attachments([problem, problem, json.dumps({"results": []})])
    assert files == [] and note == "\n\n_Could not be stored._"


def _three_accounts(text: str) -> ScriptedModel:
    call = {
        "account_ids": [STG, PRD, DEV],
        "tool_name": "aws___call_aws",
        "arguments": {"cli_command": "aws s3api list-buckets"},
    }
    return ScriptedModel([ToolStep([("query_accounts", call)]), TextStep(text)])


async def test_on_the_model_path_the_fast_accounts_end_before_the_slow_one_answers(
    scripted: Callable[[ScriptedModel], AgentRuntime], env: AgentWorld, alice: str
) -> None:
    release = threading.Event()
    env.bridge.held[STG] = release
    model = _three_accounts("Buckets in three accounts.")
    stream = scripted(model).invoke({"prompt": "buckets everywhere", "access_token": alice})
    seen: list[dict[str, Any]] = []
    async for event in stream:
        seen.append(dict(event))
        if sorted(_ends(seen)) == [("development", True), ("production", True)]:
            break
    assert not release.is_set() and ("staging", True) not in _ends(seen)
    release.set()
    seen.extend([dict(e) async for e in stream])
    assert sorted(_ends(seen)) == [("development", True), ("production", True), ("staging", True)]
    # The model read one result with every account, in the order it asked for them.
    [result] = model.tool_results()
    assert [r["account_id"] for r in json.loads(result)["results"]] == [STG, PRD, DEV]
    assert "_Ran `aws s3api list-buckets` in staging, production, development._" in texts(seen)


async def test_on_the_model_path_a_failed_call_marks_only_its_accounts(
    scripted: Callable[[ScriptedModel], AgentRuntime], env: AgentWorld, alice: str
) -> None:
    env.bridge.crash_with.add(PRD)
    model = _three_accounts("Two of three answered.")
    runtime = scripted(model)
    evs = await collect(runtime.invoke({"prompt": "buckets everywhere", "access_token": alice}))
    assert sorted(_ends(evs)) == [("development", True), ("production", False), ("staging", True)]
    [result] = model.tool_results()
    doc = json.loads(result)
    assert [(r["account_id"], r["ok"]) for r in doc["results"]] == [(STG, True), (PRD, False), (DEV, True)]
    assert doc["results"][1]["error"] == {"code": "gateway_failed", "message": GATEWAY_FAILED}
    assert "session" not in result.lower()  # no library text reaches the model
    # The broken session was not kept for the next question.
    assert runtime.gateways._idle == {}


def test_the_model_reads_one_result_with_every_part_and_their_references() -> None:
    ref1 = {"bucket": "b", "key": "results/1.json", "bytes": 10, "accounts": 2}
    ref2 = {"bucket": "b", "key": "results/2.json", "bytes": 20, "accounts": 1}
    a = json.dumps(
        {"results": [{"ok": True, "account_id": STG}, {"ok": False, "account_id": PRD}], "full_results": ref1}
    )
    b = json.dumps({"results": [{"ok": True, "account_id": DEV}], "full_results": ref2})
    out = joined([a, b])
    assert [r["account_id"] for r in out["results"]] == [STG, PRD, DEV]
    assert (out["ok_count"], out["error_count"]) == (2, 1)
    assert out["full_results"] == {"parts": [ref1, ref2], "accounts": 3, "bytes": 30}
    assert joined([a])["full_results"] == ref1


class _FlakyGateway:
    """Calls naming a failing account do not get through; the others answer."""

    def __init__(self, failing: str) -> None:
        self.failing = failing
        self.sent: list[list[str]] = []

    async def call(self, suffix: str, arguments: dict[str, Any]) -> tuple[bool, str]:
        ids = arguments["account_ids"]
        self.sent.append(ids)
        if self.failing in ids:
            return False, ""
        return True, json.dumps({"results": [{"ok": True, "account_id": a, "result": {}} for a in ids]})


async def test_a_retry_that_finds_no_gateway_fails_only_the_calls_that_had_failed() -> None:
    gw = _FlakyGateway(PRD)
    opened = 0

    @asynccontextmanager
    async def session() -> AsyncIterator[Any]:
        nonlocal opened
        opened += 1
        if opened > 1:
            raise GatewayError("The tool gateway could not be reached.")
        yield gw

    args = {"account_ids": [STG, PRD, DEV], "arguments": {"cli_command": "aws s3 ls"}}
    parts = [
        p
        async for p in split.run_parts(session, "query_accounts", args, [STG, PRD, DEV], calls=8, retry=True)
    ]
    assert sorted((p.account_ids[0], p.ok) for p in parts) == [(STG, True), (PRD, False), (DEV, True)]
    assert opened == 2


async def test_a_gateway_that_cannot_be_reached_before_anything_was_sent_is_an_error() -> None:
    @asynccontextmanager
    async def session() -> AsyncIterator[Any]:
        raise GatewayError("The tool gateway could not be reached.")
        yield  # pragma: no cover - an async generator that fails on entry

    args = {"account_ids": [STG, PRD], "arguments": {"cli_command": "aws s3 ls"}}
    with pytest.raises(GatewayError):
        [p async for p in split.run_parts(session, "query_accounts", args, [STG, PRD], calls=8, retry=True)]


async def test_an_unexpected_failure_on_the_model_path_fails_the_accounts_left_in_plain_words() -> None:
    from agent.gate import EventSink, GateHook
    from agent.split_tool import SplitTool

    class _Breaking:
        async def call(self, suffix: str, arguments: dict[str, Any]) -> tuple[bool, str]:
            if arguments["account_ids"] == [STG]:
                return True, json.dumps({"results": [{"ok": True, "account_id": STG, "result": {}, "ms": 3}]})
            await asyncio.sleep(0.01)
            raise RuntimeError("the library's own words")

    sink = EventSink()
    hook = GateHook(None, sink, {STG: "staging", PRD: "production"})  # type: ignore[arg-type]
    hook._started["t1"] = ([STG, PRD], "aws s3 ls", None)
    tool = SplitTool(object(), _Breaking(), hook, 8)  # type: ignore[arg-type]
    use = {"toolUseId": "t1", "name": "bridge___query_accounts", "input": {"account_ids": [STG, PRD]}}
    [last] = [e async for e in tool.stream(use, {})]  # type: ignore[arg-type]
    doc = json.loads(last.tool_result["content"][0]["text"])
    assert [(r["account_id"], r["ok"]) for r in doc["results"]] == [(STG, True), (PRD, False)]
    assert doc["results"][1]["error"]["message"] == GATEWAY_FAILED
    emitted = []
    while not sink.queue.empty():
        emitted.append(sink.queue.get_nowait())
    assert [(e["account"], e["ok"]) for e in emitted if e and e["type"] == "tool"] == [
        ("staging", True),
        ("production", False),
    ]
    assert sink.executed == [("aws s3 ls", ["staging"])]


async def test_on_the_model_path_a_one_account_fan_out_is_sent_as_it_is(
    scripted: Callable[[ScriptedModel], AgentRuntime], env: AgentWorld, alice: str
) -> None:
    call = {
        "account_ids": [STG],
        "tool_name": "aws___call_aws",
        "arguments": {"cli_command": "aws s3api list-buckets"},
    }
    model = ScriptedModel([ToolStep([("query_accounts", call)]), TextStep("Staging's buckets.")])
    evs = await collect(scripted(model).invoke({"prompt": "buckets in staging", "access_token": alice}))
    [(tool, event)] = env.bridge.bridge_calls()
    assert tool == "query_accounts" and event["account_ids"] == [STG] and "inline_share" not in event
    assert _ends(evs) == [("staging", True)]


async def test_a_share_a_model_writes_is_dropped_by_the_gate(
    scripted: Callable[[ScriptedModel], AgentRuntime], env: AgentWorld, alice: str
) -> None:
    call = {
        "account_ids": [STG],
        "tool_name": "aws___call_aws",
        "arguments": {"cli_command": "aws s3api list-buckets"},
        "inline_share": 0,
    }
    model = ScriptedModel([ToolStep([("query_accounts", call)]), TextStep("Staging's buckets.")])
    await collect(scripted(model).invoke({"prompt": "buckets in staging", "access_token": alice}))
    [(_, event)] = env.bridge.bridge_calls()
    assert "inline_share" not in event
