"""Benchmark: one account versus fifty at once, and AssumeRole calls per 100 queries.

Starts moto and the AWS MCP Server stand-in (200 ms injected per tool call) on
free loopback ports, registers 50 member accounts, and drives the bridge's
engine directly. Prints a JSON object as its last line and writes it to
``.local/bench/fanout.json``.

Keys: ``single_s`` (median warm ``query``, one account), ``fanout_s`` (median
warm ``query_accounts`` over 50 accounts at ``fanout_concurrency``), ``ratio``
(``fanout_s / single_s``, goal <= 2), ``assume_role_calls_per_100`` (100
sequential queries to one account, goal 1), plus the cold figures and the
fan-out at the bridge's default concurrency (``fanout_s_at_default_concurrency``, with
``default_concurrency``).

With ``--latency-only`` the stand-in answers after the injected latency
without running the CLI, which is how a remote AWS MCP Server costs the bridge
(goal: ``ratio`` <= 1.3). The stand-in and moto share the machine's cores with
the bridge, which a remote server and DynamoDB do not, so the CPU of each is
reported per warm fan-out (``bridge_cpu_s_per_fanout``, ``stand_in_cpu_s_per_fanout``,
``moto_cpu_s_per_fanout``, from ``/proc``), with ``bridge_cpu_ms_per_account`` and
``ratio_bridge_cpu_only`` (``(single_s + bridge_cpu_s_per_fanout) / single_s``:
the ratio if the bridge's whole CPU for the fan-out came on top of one account's
time and nothing else competed for the cores). ``--pin`` runs the bridge on the
first core and the stand-in and moto on the second (``sched_setaffinity``),
so the bridge's peers do not take its core; ``load_average`` is the machine's
one-minute load when the run ended.

In latency-only mode the stand-in answers with JSON bodies (MCP's streamable
HTTP lets the server choose JSON or an event stream; the bridge reads both),
which halves the stand-in's CPU per call: the stand-in plays a remote server
there, and its CPU is the part of the figure that a remote server does not put
on the bridge's cores. ``--event-stream`` keeps event-stream answers, for
comparison; ``stand_in_answers`` says which was used.

``--curve 10,100,1000`` instead reports, for each number of accounts, one warm
fan-out in a fresh process (latency-only, ``--concurrency``): ``wall_s``,
``bridge_cpu_s``, ``peak_rss_mb`` (the whole bench process: bridge, boto3,
MCP sessions) and ``response_bytes`` (the JSON the bridge returns), written to
``.local/bench/fanout_curve.json``.

Run: ``python -m bench.fanout [--accounts 50] [--latency-ms 200] [--concurrency 50] [--latency-only]
[--curve 10,100,1000] [--pin] [--json-response]``.
"""

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import httpx

from bench import report
from bench.throughput import cpu_ms
from bridge.config import BridgeConfig
from bridge.engine import Bridge
from centralops.identity import CALLER_KEY, VerifiedCaller
from infra import tables as specs

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
COMMAND = "aws sts get-caller-identity"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _process(args: list[str], health: str, log: Path) -> Iterator[int]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=out)
        try:
            for _ in range(600):
                if proc.poll() is not None:
                    raise SystemExit(f"{args[2]} exited at start; see {log}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(health, timeout=1).status_code == 200:
                        break
                time.sleep(0.05)
            else:
                raise SystemExit(f"{args[2]} did not start; see {log}")
            yield proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _client(moto_url: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=moto_url,
        region_name=REGION,
        aws_access_key_id="central",
        aws_secret_access_key="central",  # noqa: S106 - moto's dummy central credentials
    )


def _seed(moto_url: str, accounts: list[str]) -> dict[str, str]:
    ddb = _client(moto_url, "dynamodb")
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    tables = {
        "accounts": f"{prefix}-accounts",
        "approvals": f"{prefix}-approvals",
        "audit": f"{prefix}-audit",
    }
    for kind, spec in (("accounts", specs.ACCOUNTS), ("approvals", specs.APPROVALS), ("audit", specs.AUDIT)):
        attrs, indexes = specs.index_definition(spec)  # the audit's pending-intents index costs writes too
        ddb.create_table(
            TableName=tables[kind],
            KeySchema=[{"AttributeName": spec.partition_key, "KeyType": "HASH"}],
            AttributeDefinitions=attrs,
            BillingMode="PAY_PER_REQUEST",
            **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
        )
    for i, account_id in enumerate(accounts):
        ddb.put_item(
            TableName=tables["accounts"],
            Item={
                "account_id": {"S": account_id},
                "name": {"S": f"member-{i:02d}"},
                "enabled": {"BOOL": True},
            },
        )
    return tables


def _event(account: str | list[str]) -> dict[str, Any]:
    key = "account_ids" if isinstance(account, list) else "account_id"
    return {
        key: account,
        "tool_name": "aws___call_aws",
        "arguments": {"cli_command": COMMAND},
        "context": {"platform": "bench", "channel": "bench"},
        # What the Gateway's interceptor stamps for a verified caller; the bridge believes only this.
        CALLER_KEY: VerifiedCaller(
            "bench-sub", "bench", ("centralops-operators",), "bench@example.com"
        ).to_stamp(),
    }


async def _timed(coro: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await coro
    return time.perf_counter() - start, result


async def _measure(
    config: BridgeConfig,
    stand_in_url: str,
    accounts: list[str],
    concurrency: int,
    stand_in_pid: int,
    moto_pid: int,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # Cold: a fresh bridge, no credentials, no sessions.
    bridge = Bridge(config)
    out["single_cold_s"], first = await _timed(bridge.query(_event(accounts[0])))
    if not first["ok"]:
        raise SystemExit(f"the single query failed: {first['error']}")
    await bridge.aclose()
    bridge = Bridge(replace(config, max_concurrency=concurrency))
    out["fanout_cold_s"], fan = await _timed(bridge.query_accounts(_event(accounts)))
    if fan["error_count"]:
        raise SystemExit(f"the fan-out had errors: {[r['error'] for r in fan['results'] if not r['ok']][:3]}")
    # Warm: the same bridge, credentials cached, sessions open (a warm Lambda).
    singles = [(await _timed(bridge.query(_event(accounts[0]))))[0] for _ in range(7)]
    async with httpx.AsyncClient(base_url=stand_in_url, timeout=5) as admin:
        await admin.post("/admin/reset")
        cpu, stand_in_cpu, moto_cpu = time.process_time(), cpu_ms(stand_in_pid), cpu_ms(moto_pid)
        fanouts = [(await _timed(bridge.query_accounts(_event(accounts))))[0] for _ in range(5)]
        out["bridge_cpu_s_per_fanout"] = (time.process_time() - cpu) / len(fanouts)
        out["stand_in_cpu_s_per_fanout"] = (cpu_ms(stand_in_pid) - stand_in_cpu) / 1000 / len(fanouts)
        out["moto_cpu_s_per_fanout"] = (cpu_ms(moto_pid) - moto_cpu) / 1000 / len(fanouts)
        out["bridge_cpu_ms_per_account"] = out["bridge_cpu_s_per_fanout"] * 1000 / len(accounts)
        out["stand_in_cpu_ms_per_call"] = out["stand_in_cpu_s_per_fanout"] * 1000 / len(accounts)
        serial_ms = (await admin.get("/stats")).json()["exec_ms"] / len(fanouts)
    out["single_s"] = statistics.median(singles)
    out["fanout_s"] = statistics.median(fanouts)
    # The stand-in runs the CLI one command at a time (it captures stdout); this is that serial time.
    out["aws_mcp_serial_exec_s_per_fanout"] = serial_ms / 1000
    await bridge.aclose()
    default = Bridge(config)
    await default.query_accounts(_event(accounts))
    out["default_concurrency"] = config.max_concurrency
    out["fanout_s_at_default_concurrency"] = statistics.median(
        [(await _timed(default.query_accounts(_event(accounts))))[0] for _ in range(3)]
    )
    await default.aclose()
    # AssumeRole calls for 100 sequential queries to one account.
    counting = Bridge(config)
    for _ in range(100):
        result = await counting.query(_event(accounts[1]))
        if not result["ok"]:
            raise SystemExit(f"a sequential query failed: {result['error']}")
    out["assume_role_calls_per_100"] = counting.credentials.assume_role_calls
    out["mcp_sessions_per_100"] = counting.aws_mcp.sessions_opened
    await counting.aclose()
    return out


async def _point(
    config: BridgeConfig, accounts: list[str], concurrency: int, max_sessions: int
) -> dict[str, Any]:
    """One cold fan-out (credentials, sessions), then one measured warm fan-out."""

    # The cold run opens every account's role and MCP session; on a loaded laptop that outlasts the
    # production budget, which is not what this point measures.
    bridge = Bridge(
        replace(config, max_concurrency=concurrency, total_budget_s=1800, max_sessions=max_sessions),
    )
    cold_s, cold = await _timed(bridge.query_accounts(_event(accounts)))
    if cold.get("error_count"):
        raise SystemExit(
            f"the fan-out had errors: {[r.get('error') for r in cold['results'] if not r['ok']][:3]}"
        )
    cpu = time.process_time()
    wall_s, warm = await _timed(bridge.query_accounts(_event(accounts)))
    bridge_cpu_s = time.process_time() - cpu
    await bridge.aclose()
    return {
        "accounts": len(accounts),
        "max_sessions": max_sessions,
        "cold_s": round(cold_s, 3),
        "wall_s": round(wall_s, 3),
        "bridge_cpu_s": round(bridge_cpu_s, 3),
        "bridge_cpu_ms_per_account": round(bridge_cpu_s * 1000 / len(accounts), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "response_bytes": len(json.dumps(warm)),
        "ok_count": warm.get("ok_count"),
    }


def _curve(points: list[int], latency_ms: int, concurrency: int, max_sessions: int) -> None:
    rows = []
    for n in points:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.fanout",
                "--point",
                str(n),
                "--latency-ms",
                str(latency_ms),
                "--concurrency",
                str(concurrency),
                "--max-sessions",
                str(max_sessions),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    name = "fanout_curve" if max_sessions == 1_024 else f"fanout_curve_sessions_{max_sessions}"
    report(name, {"latency_ms": latency_ms, "concurrency": concurrency, "latency_only": True, "points": rows})


def _pin(*peers: int) -> None:
    """The bench (the bridge) on the first core, its peers (moto, the stand-in, all their threads) on the second."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("--pin needs at least two cores")
    for pid in peers:
        for task in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(task), {cores[1]})
    os.sched_setaffinity(0, {cores[0]})


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its JSON figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50, help="fan-out concurrency for fanout_s")
    parser.add_argument("--latency-only", action="store_true", help="the stand-in runs no CLI")
    parser.add_argument("--curve", help="comma-separated account counts, e.g. 10,100,1000")
    parser.add_argument("--point", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--json-response",
        action="store_true",
        help="the stand-in answers with JSON bodies, not event streams (the default with --latency-only)",
    )
    parser.add_argument(
        "--event-stream",
        action="store_true",
        help="with --latency-only: the stand-in answers with event streams, not JSON bodies",
    )
    parser.add_argument(
        "--pin", action="store_true", help="the bridge on the first core, the stand-in and moto on the second"
    )
    parser.add_argument(
        "--max-sessions", type=int, default=1_024, help="the bridge's idle MCP sessions (curve)"
    )
    args = parser.parse_args(argv)
    if args.curve:
        _curve([int(n) for n in args.curve.split(",")], args.latency_ms, args.concurrency, args.max_sessions)
        return
    if args.point:
        args.accounts, args.latency_only = args.point, True
    json_response = args.json_response or (args.latency_only and not args.event_stream)
    logs = ROOT / ".local" / "logs"
    moto_port, mcp_port = _free_port(), _free_port()
    moto_url = f"http://127.0.0.1:{moto_port}"
    moto = [sys.executable, "-m", "infra.local.moto_server", "-H", "127.0.0.1", "-p", str(moto_port)]
    stand_in = [
        sys.executable,
        "-m",
        "infra.local.aws_mcp",
        "--port",
        str(mcp_port),
        "--aws-endpoint",
        moto_url,
    ]
    stand_in += ["--latency-ms", str(args.latency_ms)]
    if args.latency_only:
        stand_in.append("--latency-only")
    if json_response:
        stand_in.append("--json-response")
    accounts = [f"8{i:011d}" for i in range(1, args.accounts + 1)]
    with (
        _process(moto, f"{moto_url}/moto-api/", logs / "bench-moto.log") as moto_pid,
        _process(stand_in, f"http://127.0.0.1:{mcp_port}/health", logs / "bench-aws-mcp.log") as stand_in_pid,
    ):
        if args.pin:
            _pin(moto_pid, stand_in_pid)
        tables = _seed(moto_url, accounts)
        # The bridge builds its own clients, as in Lambda, with moto's dummy central credentials.
        os.environ.update(AWS_ACCESS_KEY_ID="central", AWS_SECRET_ACCESS_KEY="central")  # noqa: S106
        config = BridgeConfig(
            region=REGION,
            endpoint_url=moto_url,
            aws_mcp_url=f"http://127.0.0.1:{mcp_port}/mcp",
            accounts_table=tables["accounts"],
            approvals_table=tables["approvals"],
            audit_table=tables["audit"],
        )
        if args.point:
            print(json.dumps(asyncio.run(_point(config, accounts, args.concurrency, args.max_sessions))))
            return
        stand_in_url = f"http://127.0.0.1:{mcp_port}"
        figures = asyncio.run(
            _measure(config, stand_in_url, accounts, args.concurrency, stand_in_pid, moto_pid)
        )
    result = {
        "accounts": args.accounts,
        "latency_ms": args.latency_ms,
        "latency_only": args.latency_only,
        "fanout_concurrency": args.concurrency,
        "command": COMMAND,
        **{k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()},
        "ratio": round(figures["fanout_s"] / figures["single_s"], 2),
        "ratio_cold": round(figures["fanout_cold_s"] / figures["single_cold_s"], 2),
        "ratio_without_stand_in_serial_exec": round(
            (figures["fanout_s"] - figures["aws_mcp_serial_exec_s_per_fanout"]) / figures["single_s"], 2
        ),
        "ratio_bridge_cpu_only": round(
            (figures["single_s"] + figures["bridge_cpu_s_per_fanout"]) / figures["single_s"], 2
        ),
        "pinned": args.pin,
        "stand_in_answers": "json" if json_response else "event-stream",
        "load_average": round(os.getloadavg()[0], 2),
    }
    report("fanout", result)


if __name__ == "__main__":
    main()
