"""The bridge's cold start: ``python -m bench.bridge_cold [--runs N]``.

Starts moto and the AWS MCP Server stand-in (latency-only, no injected delay),
registers one member account, and then, ``--runs`` times for each way of
starting, runs a fresh interpreter that acts as a new Lambda execution
environment: it imports ``bridge.handler`` and invokes it twice with a
Gateway-shaped ``query`` (``aws sts get-caller-identity``, one account).

- ``lazy``: nothing is prepared at import (as before): the first invocation
  imports the engine, builds the bridge, its clients and the AWS CLI's model.
- ``init``: as in Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set), the import runs
  ``bridge.handler.warm()``, which Lambda counts as init, not invocation.

Reported per way (medians): ``import_ms`` (the module's import, init
included), ``first_ms`` (the first invocation: role assumption, registry
read, MCP handshake and the call, plus whatever was not prepared),
``second_ms`` (a warm invocation), and ``cpu_first_ms``. The last line
printed is a JSON object, also written to ``.local/bench/bridge_cold.json``.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from bench import report
from bench.fanout import REGION, ROOT, _event, _free_port, _process, _seed
from centralops import settings

_CHILD = """
import json, time, types
t0, c0 = time.perf_counter(), time.process_time()
import bridge.handler as h
t1, c1 = time.perf_counter(), time.process_time()
ctx = types.SimpleNamespace(
    client_context=types.SimpleNamespace(custom={"bedrockAgentCoreToolName": "bridge-lambda___query"}),
    aws_request_id="bench",
)
event = json.loads(EVENT)
out = h.handler(event, ctx)
t2, c2 = time.perf_counter(), time.process_time()
again = h.handler(event, ctx)
t3 = time.perf_counter()
assert out.get("ok") and again.get("ok"), (out, again)
print(json.dumps({"import_ms": (t1 - t0) * 1000, "first_ms": (t2 - t1) * 1000,
                  "second_ms": (t3 - t2) * 1000, "cpu_import_ms": (c1 - c0) * 1000,
                  "cpu_first_ms": (c2 - c1) * 1000}))
"""


def _child(env: dict[str, str], event: dict[str, Any]) -> dict[str, float]:
    code = _CHILD.replace("EVENT", repr(json.dumps(event)))
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"the bridge failed:\n{out.stderr[-2000:]}")
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its JSON figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.bridge_cold", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    logs = ROOT / ".local" / "logs"
    moto_port, mcp_port = _free_port(), _free_port()
    moto_url = f"http://127.0.0.1:{moto_port}"
    moto = [sys.executable, "-m", "infra.local.moto_server", "-H", "127.0.0.1", "-p", str(moto_port)]
    stand_in = [sys.executable, "-m", "infra.local.aws_mcp", "--port", str(mcp_port)]
    stand_in += ["--aws-endpoint", moto_url, "--latency-only"]
    account = "800000000001"
    result: dict[str, Any] = {"runs": args.runs}
    with (
        _process(moto, f"{moto_url}/moto-api/", logs / "bench-moto.log"),
        _process(stand_in, f"http://127.0.0.1:{mcp_port}/health", logs / "bench-aws-mcp.log"),
    ):
        tables = _seed(moto_url, [account])
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            settings.AWS_REGION: REGION,
            settings.AWS_ENDPOINT_URL: moto_url,
            "AWS_ACCESS_KEY_ID": "central",
            "AWS_SECRET_ACCESS_KEY": "central",
            settings.AWS_MCP_URL: f"http://127.0.0.1:{mcp_port}/mcp",
            settings.ACCOUNTS_TABLE: tables["accounts"],
            settings.APPROVALS_TABLE: tables["approvals"],
            settings.AUDIT_TABLE: tables["audit"],
        }
        env.pop("AWS_LAMBDA_FUNCTION_NAME", None)
        ways = {"lazy": env, "init": {**env, "AWS_LAMBDA_FUNCTION_NAME": "bench-bridge"}}
        samples: dict[str, list[dict[str, float]]] = {way: [] for way in ways}
        for _ in range(args.runs):
            for way, way_env in ways.items():  # interleaved: the machine's load hits both alike
                samples[way].append(_child(way_env, _event(account)))
                time.sleep(0.2)
    for way, runs in samples.items():
        result[way] = {key: round(statistics.median(r[key] for r in runs), 1) for key in runs[0]}
    result["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    report("bridge_cold", result)


if __name__ == "__main__":
    main()
