"""Logging: JSON lines with their ``extra`` fields, also where Lambda's runtime installed a handler first."""

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from centralops import logs, settings

REPO = Path(__file__).resolve().parents[2]

# What Lambda's Python runtime does before importing the handler: its own handler on the root
# logger (plain text on stdout here), then the function's module, then one invocation.
LAMBDA_LIKE = """
import logging, sys
runtime = logging.StreamHandler(sys.stdout)
runtime.setFormatter(logging.Formatter("RUNTIME %(levelname)s %(message)s"))
logging.getLogger().addHandler(runtime)

import bridge.handler as entry

class Context:
    aws_request_id = "req-0001"
    client_context = type("ClientContext", (), {"custom": {"bedrockAgentCoreToolName": "t___query"}})()

out = entry.handler({"account_id": "222222222222"}, Context())
print("RESULT", out["error"]["code"])
"""


def _lambda_like(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CENTRALOPS_")}
    # A setting the bridge refuses, so the invocation logs an error with an ``extra`` field.
    clean.update({settings.BRIDGE_MAX_CONCURRENCY: "lots", "PYTHONPATH": str(REPO), **env})
    return subprocess.run(
        [sys.executable, "-c", LAMBDA_LIKE],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_in_lambda_json_logs_with_extra_fields_replace_the_runtime_handler() -> None:
    run = _lambda_like({settings.LAMBDA_FUNCTION_NAME: "centralops-bridge"})
    assert "RESULT configuration" in run.stdout
    assert "RUNTIME" not in run.stdout, "the runtime's handler would drop the format and extra fields"
    (record,) = [r for r in _json_lines(run.stderr) if r["message"] == "bridge refused to start"]
    assert record["level"] == "ERROR" and record["logger"] == "bridge"
    assert record["code"] == "configuration"  # the ``extra`` field
    assert record["request_id"] == "req-0001"  # bound per invocation


def test_outside_lambda_the_hosts_logging_is_left_alone() -> None:
    run = _lambda_like({})
    assert "RUNTIME ERROR bridge refused to start" in run.stdout
    assert _json_lines(run.stderr) == []


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logs.bind(request_id=None)


def test_json_formatter_writes_extra_and_bound_fields(
    root_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure("json", "INFO")
    logs.bind(request_id="r-1")
    logging.getLogger("bridge.approvals").info(
        "approval consumed", extra={"approval_id": "a-1", "requester": "alice@example.com"}
    )
    logs.bind(request_id=None)
    logging.getLogger("bridge").info("after", extra={"n": 2})
    first, second = _json_lines(capsys.readouterr().err)
    assert first["message"] == "approval consumed" and first["level"] == "INFO"
    assert (first["approval_id"], first["requester"], first["request_id"]) == (
        "a-1",
        "alice@example.com",
        "r-1",
    )
    assert second == {**second, "message": "after", "n": 2} and "request_id" not in second
