"""When each account's line ends within one fan-out: ``python -m bench.stream [--accounts 4,50] [--calls 1,8]``.

Starts the local stack once per value of ``CENTRALOPS_FANOUT_CALLS`` (``--calls``;
``1`` is one bridge call per fan-out, as before the agent split reads), registers
extra member accounts, and puts the AWS MCP stand-in in latency-only mode
(``--latency-ms`` per call, ``--slow-ms`` for the first account). For each fan-out
size it sends ``run aws sts get-caller-identity --accounts=…`` over the agent's
Runtime contract (SSE) as alice, ``--repeat`` times warm, and reports medians of:

- ``first_end_s``, ``median_end_s``, ``last_end_s``: when the first, the median
  and the last account's ``tool`` end event arrived (from the request);
- ``done_s``: when the answer's ``done`` arrived;
- ``cpu_ms``: CPU per answer of the agent and of the Gateway stand-in (which runs
  the bridge in process), from ``/proc/<pid>/stat``;
- ``bridge_calls``: bridge invocations per answer (Lambda invocations in AWS; each
  pays a JWT check at the Gateway, a registry read and a write-ahead audit batch);
- ``response_bytes``: SSE bytes the agent sent per answer.

The last line printed is a JSON object, also written to ``.local/bench/stream.json``.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import httpx

from bench import report
from bench.first_text import runtime_token
from bench.throughput import cpu_ms
from centralops import settings
from centralops.events import iter_sse
from infra import tables as specs
from infra.local import org
from infra.local.stack import LocalStack, Ports

COMMAND = "aws sts get-caller-identity"


def _seed(info: org.StackInfo, n: int) -> list[str]:
    """Register ``n`` extra member accounts (names ``bench-000`` …); returns their names."""
    ddb = boto3.client(
        "dynamodb",
        endpoint_url=info.moto_url,
        region_name=org.REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts any secret
    )
    names = []
    for i in range(n):
        name = f"bench-{i:03d}"
        ddb.put_item(
            TableName=info.tables[specs.ACCOUNTS.setting],
            Item={
                "account_id": {"S": f"9{i:011d}"},
                "name": {"S": name},
                "enabled": {"BOOL": True},
                "environment": {"S": "dev"},
            },
        )
        names.append(name)
    return names


def _timed_turn(client: httpx.Client, info: org.StackInfo, token: str, names: list[str]) -> dict[str, Any]:
    """One answer, with the arrival time of each account's end event."""
    prompt = f"run {COMMAND} --accounts={','.join(names)}"
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "text/event-stream",
        "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": f"bench-stream-{uuid.uuid4().hex}",
    }
    ends: list[float] = []
    failed: list[str] = []
    text = ""
    size = 0
    done = 0.0
    started = time.perf_counter()
    with client.stream("POST", info.runtime_url, json={"prompt": prompt}, headers=headers, timeout=120) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            size += len(line) + 1
            for event in iter_sse([line, ""]):
                at = time.perf_counter() - started
                if event["type"] == "tool" and event["phase"] == "end":
                    ends.append(at)
                    if not event["ok"]:
                        failed.append(str(event["account"]))
                elif event["type"] == "text":
                    text += event["delta"]
                elif event["type"] == "done":
                    done = at
    return {"ends": ends, "failed": failed, "text": text, "done_s": done, "bytes": size}


def _run(calls: int, sizes: list[int], args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="centralops-bench-") as root:
        stack = LocalStack(Path(root), Ports.free(), model="offline", env={settings.FANOUT_CALLS: str(calls)})
        with stack as info:
            extra = _seed(info, max(sizes))
            pids = {p.name: p.popen.pid for p in stack.processes if p.name in ("agent", "gateway")}
            admin = info.aws_mcp_url.removesuffix("/mcp")
            token = runtime_token(info, org.person("alice"))
            with httpx.Client() as client:
                slow_id = f"9{0:011d}"
                faults = {
                    "latency_only": True,
                    "latency_ms": args.latency_ms,
                    "account_latency_ms": {slow_id: args.slow_ms - args.latency_ms},
                }
                client.post(f"{admin}/admin/faults", json=faults).raise_for_status()
                for n in sizes:
                    names = extra[:n]
                    for _ in range(60):  # the registries cache their scans: wait until every account is known
                        warm = _timed_turn(client, info, token, names)
                        if len(warm["ends"]) == n and not warm["failed"]:
                            break
                        time.sleep(1)
                    else:
                        raise SystemExit(
                            f"the warm-up fan-out over {n} accounts failed: {warm['text'][:300]}"
                        )
                    runs, before = [], {k: cpu_ms(p) for k, p in pids.items()}
                    calls_before = _bridge_calls(client, admin)
                    for _ in range(args.repeat):
                        runs.append(_timed_turn(client, info, token, names))
                    cpu = {k: round((cpu_ms(p) - before[k]) / args.repeat, 1) for k, p in pids.items()}
                    bridge_calls = (_bridge_calls(client, admin) - calls_before) / args.repeat / n

                    def med(values: list[float]) -> float:
                        return round(statistics.median(values), 3)

                    out[str(n)] = {
                        "first_end_s": med([min(r["ends"]) for r in runs]),
                        "median_end_s": med([statistics.median(r["ends"]) for r in runs]),
                        "last_end_s": med([max(r["ends"]) for r in runs]),
                        "done_s": med([r["done_s"] for r in runs]),
                        "cpu_ms": {"agent": cpu["agent"], "gateway_and_bridge": cpu["gateway"]},
                        "aws_mcp_calls_per_account": round(bridge_calls, 2),
                        "bridge_calls": min(n, max(1, calls)),
                        "response_bytes": int(statistics.median([r["bytes"] for r in runs])),
                        "failed": sum(len(r["failed"]) for r in runs),
                    }
    return out


def _bridge_calls(client: httpx.Client, admin: str) -> int:
    """The AWS MCP stand-in's count of tool calls (one per account a fan-out reaches)."""
    stats = client.get(f"{admin}/stats").json()
    return int(stats.get("tool_calls") or stats.get("calls") or 0)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench.stream", description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", default="4,50", help="fan-out sizes (4,50)")
    parser.add_argument("--calls", default="1,8", help="values of CENTRALOPS_FANOUT_CALLS to compare (1,8)")
    parser.add_argument("--latency-ms", type=int, default=200, help="injected per AWS MCP call (200)")
    parser.add_argument("--slow-ms", type=int, default=2000, help="the slow account's latency (2000)")
    parser.add_argument("--repeat", type=int, default=5, help="warm answers per point (5)")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.accounts.split(",")]
    result: dict[str, Any] = {
        "command": COMMAND,
        "latency_ms": args.latency_ms,
        "slow_ms": args.slow_ms,
        "repeat": args.repeat,
        "by_fanout_calls": {c: _run(int(c), sizes, args) for c in args.calls.split(",")},
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    report("stream", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
