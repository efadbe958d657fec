"""Tracing: spans to the local file, W3C traceparent across a hop, and the tree ``make trace`` prints."""

import json
import os
import subprocess
import sys
from pathlib import Path

from infra.local import trace

REPO = Path(__file__).resolve().parents[2]

# Two "processes" in one: the sender's span, its traceparent in headers, a receiver continuing it.
HOPS = """
import sys
from centralops import logs, tracing
assert tracing.setup("bot", sys.argv[1])
logs.configure("json", "INFO")
import logging
with tracing.span("bot answer", platform="slack"):
    headers = tracing.headers()
    logging.getLogger("bot").info("asked")
print(headers["traceparent"])
with tracing.span("agent invocation", carrier=headers, service="agent"):
    end = __import__("time").time_ns()
    tracing.record("account 222222222222", end - 5_000_000, end, service="bridge", ok=True)
"""


def test_a_traceparent_carries_one_trace_across_a_hop_and_logs_carry_its_id(tmp_path: Path) -> None:
    spans_file = tmp_path / "spans.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-c", HOPS, str(spans_file)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    traceparent = run.stdout.strip()
    version, trace_id, parent_span, flags = traceparent.split("-")
    assert version == "00" and int(flags, 16) & 1 == 1 and len(trace_id) == 32  # sampled
    spans = trace.read(spans_file)
    assert {s.trace_id for s in spans} == {trace_id}
    by_name = {s.name: s for s in spans}
    assert by_name["bot answer"].span_id == parent_span and by_name["bot answer"].service == "bot"
    assert by_name["agent invocation"].parent_id == parent_span
    assert by_name["agent invocation"].service == "agent"
    account = by_name["account 222222222222"]
    assert account.parent_id == by_name["agent invocation"].span_id and account.service == "bridge"
    assert 4.9 <= account.ms <= 5.1 and account.attributes["ok"] is True
    (logged,) = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    assert logged["message"] == "asked" and logged["trace_id"] == trace_id
    lines = trace.render(trace.last_trace(spans))
    assert [line.split()[0] for line in lines] == ["bot", "agent", "account"]
    assert lines[1].startswith("  agent invocation") and lines[2].startswith("    account 222222222222")


def test_without_a_trace_file_nothing_is_traced_or_sent() -> None:
    code = (
        "from centralops import tracing\n"
        "assert not tracing.setup('bot')\n"
        "with tracing.span('bot answer'):\n"
        "    assert tracing.headers() == {} and tracing.current_trace_id() is None\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CENTRALOPS_TRACE_FILE"}
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, check=True)


def test_make_trace_explains_when_there_is_nothing_to_show(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert trace.main(["--file", str(tmp_path / "none.jsonl")]) == 1
    assert "make demo" in capsys.readouterr().err
    empty = tmp_path / "spans.jsonl"
    empty.write_text('{"torn": \n')
    assert trace.main(["--file", str(empty)]) == 1
    assert "ask the bot something" in capsys.readouterr().err
