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


OTLP = """
from opentelemetry import trace
from centralops import tracing
assert tracing.setup("bot")
with tracing.span("bot answer", platform="teams"):
    print(tracing.headers()["traceparent"])
trace.get_tracer_provider().shutdown()  # flush the batch, as the process does on exit
"""


def test_without_a_file_spans_go_as_otlp_to_the_collector() -> None:
    """The bot in AWS: OTLP/HTTP (protobuf) to the collector beside it, batched."""
    import http.server
    import threading

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    received: list[tuple[str, str, bytes]] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {k: v for k, v in os.environ.items() if k != "CENTRALOPS_TRACE_FILE"}
        env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = f"http://127.0.0.1:{server.server_port}/v1/traces"
        out = subprocess.run(
            [sys.executable, "-c", OTLP], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        server.shutdown()
    assert out.returncode == 0, out.stderr
    trace_id = out.stdout.split("-")[1]
    [(path, content_type, body)] = received
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    request = ExportTraceServiceRequest.FromString(body)
    [resource_spans] = request.resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == "bot"
    [span] = [s for scope in resource_spans.scope_spans for s in scope.spans]
    assert span.name == "bot answer" and span.trace_id.hex() == trace_id
