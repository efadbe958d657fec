"""One chat question is one trace: bot, agent (with Strands' spans), Gateway and bridge under one trace id."""

import asyncio
from pathlib import Path

import pytest

from infra.local import org, trace
from infra.local.consoles.slack import SlackConsole
from infra.local.stack import LocalStack

pytestmark = pytest.mark.e2e

STAGING = org.account("staging")


def _spans_after(path: Path, offset: int) -> list[trace.Span]:
    if not path.exists():
        return []
    with path.open("rb") as f:
        f.seek(offset)
        fresh = f.read().decode("utf-8")
    scratch = path.with_suffix(".fresh")
    scratch.write_text(fresh)
    return trace.read(scratch)


async def test_one_question_is_one_trace_across_bot_agent_gateway_and_bridge(
    stack: LocalStack, slack: SlackConsole
) -> None:
    path = stack.root / "traces" / "spans.jsonl"
    offset = path.stat().st_size if path.exists() else 0
    thread = await slack.slash("alice", "list buckets in staging", "C0OPS")
    assert STAGING.buckets[0] in thread.render()
    spans: list[trace.Span] = []
    for _ in range(600):  # the bot's span ends just after the last chat update (later on a loaded machine)
        spans = trace.last_trace(_spans_after(path, offset))
        if spans and any(s.name.startswith("account ") for s in spans):
            break
        await asyncio.sleep(0.05)
    assert spans, f"no trace for the question in {path}"
    assert len({s.trace_id for s in spans}) == 1
    assert {"bot", "agent", "gateway", "bridge"} <= {s.service for s in spans}
    by_id = {s.span_id: s for s in spans}

    def ancestors(span: trace.Span) -> list[str]:
        names = []
        while span.parent_id in by_id:
            span = by_id[span.parent_id]
            names.append(span.name)
        return names

    (account,) = [s for s in spans if s.name == f"account {STAGING.account_id}"]
    chain = ancestors(account)
    assert chain[0] == "bridge query" and chain[1].startswith("gateway ")
    assert "agent invocation" in chain and "bot answer" in chain
    assert any(name.startswith("execute_tool") for name in chain), "Strands' tool span carries the call"
    assert any(s.name.startswith("invoke_agent") for s in spans), "Strands' agent span is in the trace"
    lines = trace.render(spans)
    assert any(line.lstrip().startswith("bot answer") for line in lines)
    assert all(" ms" in line for line in lines)
