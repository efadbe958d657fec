"""What one moto request costs, with and without keep-alive: ``python -m bench.moto_requests [--requests N] [--rounds R]``.

Starts ``python -m moto.server`` (werkzeug closes the connection after every
response) and ``python -m infra.local.moto_server`` (the local stack's
runner, keep-alive) on free ports, and makes the same sequential boto3 calls
against each: DynamoDB ``PutItem`` and ``GetItem``, STS
``GetCallerIdentity``, S3 ``PutObject`` and ``GetObject`` of 1 KiB. Per
request, for each server: ``client_cpu_ms`` (this process, user + system),
``moto_cpu_ms`` (from ``/proc``), ``wall_ms`` and ``connections`` (TCP
connections the client opened, counted where urllib3 opens them). Rounds
alternate the two servers so that the machine's load drifts over both;
figures are medians over rounds, with ``load_avg``. The last line printed is
a JSON object, also written to ``.local/bench/moto_requests.json``.
"""

import argparse
import contextlib
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import urllib3.util.connection

from bench import report
from bench.fanout import ROOT, _free_port, _process
from bench.throughput import cpu_ms

RUNNERS = {"close": "moto.server", "keep_alive": "infra.local.moto_server"}
REGION = "us-east-1"


@contextlib.contextmanager
def _counting_connects() -> Iterator[list[int]]:
    """Counts the TCP connections urllib3 opens while the block runs (one element per connection)."""
    opened: list[int] = []
    real = urllib3.util.connection.create_connection

    def counting(*args: Any, **kwargs: Any) -> Any:
        opened.append(1)
        return real(*args, **kwargs)

    urllib3.util.connection.create_connection = counting
    try:
        yield opened
    finally:
        urllib3.util.connection.create_connection = real


def _calls(url: str) -> list[Callable[[], Any]]:
    """One of each call, on clients made (and their tables and buckets) before the measurement."""
    session = boto3.session.Session(
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - moto accepts any secret
        region_name=REGION,
    )
    dynamodb, sts, s3 = (session.client(s, endpoint_url=url) for s in ("dynamodb", "sts", "s3"))
    table, bucket = f"bench-{uuid.uuid4().hex[:8]}", f"bench-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    s3.create_bucket(Bucket=bucket)
    body = b"x" * 1024
    return [
        lambda: dynamodb.put_item(TableName=table, Item={"pk": {"S": "k"}, "v": {"S": "value"}}),
        lambda: dynamodb.get_item(TableName=table, Key={"pk": {"S": "k"}}),
        lambda: sts.get_caller_identity(),
        lambda: s3.put_object(Bucket=bucket, Key="k", Body=body),
        lambda: s3.get_object(Bucket=bucket, Key="k")["Body"].read(),
    ]


def _round(module: str, requests: int, logs: Path) -> dict[str, float]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", module, "-H", "127.0.0.1", "-p", str(port)]
    with _process(command, f"{url}/moto-api/", logs / "bench-moto-requests.log") as pid:
        calls = _calls(url)
        for call in calls:  # warm: first-use costs of each client and of moto's backends
            call()
        rounds = max(1, requests // len(calls))
        with _counting_connects() as opened:
            moto_cpu, cpu, started = cpu_ms(pid), time.process_time(), time.perf_counter()
            for _ in range(rounds):
                for call in calls:
                    call()
            wall = time.perf_counter() - started
            cpu, moto_cpu = time.process_time() - cpu, cpu_ms(pid) - moto_cpu
        n = rounds * len(calls)
    return {
        "client_cpu_ms": cpu * 1000 / n,
        "moto_cpu_ms": moto_cpu / n,
        "wall_ms": wall * 1000 / n,
        "connections": len(opened) / n,
    }


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its JSON figures."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.moto_requests", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--requests", type=int, default=500, help="requests per server and round (500)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, alternating the servers (3)")
    args = parser.parse_args(argv)
    logs = ROOT / ".local" / "logs"
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in RUNNERS}
    for _ in range(args.rounds):
        for name, module in RUNNERS.items():
            runs[name].append(_round(module, args.requests, logs))
    per_request = {
        name: {key: round(statistics.median(r[key] for r in rs), 3) for key in rs[0]}
        for name, rs in runs.items()
    }
    close, kept = per_request["close"], per_request["keep_alive"]
    result = {
        "requests": args.requests,
        "rounds": args.rounds,
        "per_request": per_request,
        "client_cpu_saved_pct": round(100 * (1 - kept["client_cpu_ms"] / close["client_cpu_ms"]), 1),
        "moto_cpu_saved_pct": round(100 * (1 - kept["moto_cpu_ms"] / close["moto_cpu_ms"]), 1),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }
    report("moto_requests", result)


if __name__ == "__main__":
    main()
