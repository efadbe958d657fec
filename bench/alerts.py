"""Cost of the alert path: events per second through the consumer, AWS calls per event.

Starts a moto server, subscribes one channel to everything, puts a burst of
alarm events from three accounts on the queue, lets the consumer handle them
(a counting poster stands in for Slack: chat calls are counted, not timed),
then the same alarms' OK events (edits). Prints and writes
``.local/bench/alerts.json``.
"""

import argparse
import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import httpx

from bench import report
from bot.accounts import AccountDirectory
from bot.alerts.consumer import AlertConsumer
from bot.alerts.router import AlertRouter, AlertView, DigestView
from bot.alerts.store import AlertStore, Place, Subscription
from bot.dynamo import DynamoTable
from infra.local import org
from infra.local.seed import register_accounts


class CountingPoster:
    """A chat platform that takes everything and counts it."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    async def post(self, place: Place, view: AlertView) -> str:
        self.calls["post"] += 1
        return uuid.uuid4().hex

    async def update(self, place: Place, ref: str, view: AlertView) -> None:
        self.calls["update"] += 1

    async def post_digest(self, place: Place, view: DigestView) -> str:
        self.calls["digest"] += 1
        return uuid.uuid4().hex

    async def update_digest(self, place: Place, ref: str, view: DigestView) -> None:
        self.calls["digest_update"] += 1


@contextlib.contextmanager
def moto() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.local.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/moto-api/").status_code == 200:
                    break
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait()


def client(url: str, service: str, calls: Counter[str]) -> Any:
    c = boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",  # noqa: S106
    )
    c.meta.events.register("before-call", lambda model, **_: calls.update([f"{service}:{model.name}"]))
    return c


def alarm(account: str, name: str, state: str, at: float) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(at))
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "account": account,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
            "region": "us-east-1",
            "resources": [f"arn:aws:cloudwatch:us-east-1:{account}:alarm:{name}"],
            "detail": {"alarmName": name, "state": {"value": state, "reason": "bench", "timestamp": stamp}},
        }
    )


async def run(url: str, n: int) -> dict[str, Any]:
    calls: Counter[str] = Counter()
    ddb, sqs = client(url, "dynamodb", calls), client(url, "sqs", calls)
    for name, key in (("accounts", "account_id"), ("alerts", "key")):
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    register_accounts(ddb, "accounts")
    queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    store = AlertStore(DynamoTable("alerts", client=ddb))
    await store.put_subscription(Subscription(Place("slack", "T", "C"), kinds=("alarm",)))
    poster = CountingPoster()
    now = [(time.time() // 60 + 1) * 60 - 0.5]  # the burst ends its minute: the digest follows at once
    router = AlertRouter(store, {"slack": poster}, clock=lambda: now[0], digest_delay_s=0.05)
    router.edit_delay_s = 0.2
    consumer = AlertConsumer(router, AccountDirectory(DynamoTable("accounts", client=ddb)), queue_url=queue,
                             dead_letter_url=None, sqs=sqs, wait_s=0)  # fmt: skip
    accounts = [a.account_id for a in org.ACCOUNTS if a.enabled][:3]
    out: dict[str, Any] = {"events": n}
    for phase, state in (("alarm", "ALARM"), ("ok", "OK")):
        for i in range(0, n, 10):
            sqs.send_message_batch(
                QueueUrl=queue,
                Entries=[
                    {
                        "Id": str(j),
                        "MessageBody": alarm(accounts[j % 3], f"alarm-{j}", state, now[0] + (phase == "ok")),
                    }
                    for j in range(i, min(i + 10, n))
                ],
            )
        calls.clear()
        started = time.perf_counter()
        await consumer.drain()
        seconds = time.perf_counter() - started
        per = {k: round(v / n, 2) for k, v in sorted(calls.items())}
        out[phase] = {
            "seconds": round(seconds, 2),
            "events_per_s": round(n / seconds, 1),
            "aws_calls_per_event": per,
        }
    out["chat_calls"] = dict(poster.calls)
    out["outcomes"] = dict(consumer.outcomes)
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.alerts [--events N]``."""
    parser = argparse.ArgumentParser(prog="python -m bench.alerts")
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args(argv)
    with moto() as url:
        report("alerts", asyncio.run(run(url, args.events)))


if __name__ == "__main__":
    main()
