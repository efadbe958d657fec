"""On the local stack: an answer over the bridge's response limit arrives cut, with the full results as files."""

import json
from collections.abc import AsyncIterator, Iterator

import pytest

from centralops import settings
from infra.local.consoles.slack import SlackConsole
from infra.local.org import StackInfo
from infra.local.stack import LocalStack, Ports

LIMIT = 100_000


@pytest.fixture(scope="module")
def small_limit_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    local = LocalStack(
        tmp_path_factory.mktemp("wide-stack"),
        Ports.free(),
        env={settings.BRIDGE_MAX_RESPONSE_BYTES: str(LIMIT)},
    )
    info = local.start()
    try:
        yield info
    finally:
        local.stop()


@pytest.fixture
async def console(small_limit_stack: StackInfo) -> AsyncIterator[SlackConsole]:
    c = SlackConsole.from_stack(small_limit_stack)
    try:
        yield c
    finally:
        await c.close()


async def test_a_wide_answer_keeps_a_cut_share_inline_and_attaches_the_full_results(
    small_limit_stack: StackInfo, console: SlackConsole
) -> None:
    admin = small_limit_stack.aws_mcp_url.removesuffix("/mcp")
    # Each account answers 55 kB: two accounts exceed the 100 kB limit.
    faults = {"latency_only": True, "response_bytes": 55_000}
    (await console.http.post(f"{admin}/admin/faults", json=faults)).raise_for_status()
    thread = await console.slash("alice", "run aws sts get-caller-identity in staging,development", "C0WIDE")
    assert "attached" in thread.render()
    files = (await console._get("/_stand-in/files"))["files"]
    # The long answer is attached by the renderer as answer.md; it says the output is cut per account.
    answer = "".join(str(f["content"]) for f in files if f["name"] == "answer.md")
    assert "cut per account" in answer and "attached as 2 files" in answer
    # The read went out as one call per account, each with half the budget: each offloaded its own part.
    parts = sorted((f for f in files if f["name"].startswith("centralops-results-")), key=lambda f: f["name"])
    assert [f["name"] for f in parts] == ["centralops-results-1-of-2.json", "centralops-results-2-of-2.json"]
    full = [json.loads(f["content"]) for f in parts]
    assert [r["account_id"] for doc in full for r in doc["results"]] == ["222222222222", "444444444444"]
    assert all(len(r["result"]["Padding"]) == 55_000 for doc in full for r in doc["results"])
