"""Cost of channel messages to the Ask path: DynamoDB calls and CPU per message, by kind.

Every message in every channel the bot is in reaches the Slack edge as a
``message`` event. This feeds the alerts edge's handler (``bot.alerts.slack.on_reply``)
the kinds a busy workspace sends — top-level messages, bot messages, edits,
replies in threads people started, replies in threads of other bot messages, and
replies in alert threads — against moto's DynamoDB with the real alerts table
(its ``by-thread`` index included), and counts the table calls. Answering itself
(identity, the Runtime) is left out: a stand-in edge records what would be asked.
Prints and writes ``.local/bench/alert_replies.json``.
"""

import argparse
import asyncio
import time
import uuid
from collections import Counter
from typing import Any, cast

from bench import report
from bench.alerts import client, moto
from bot.alerts.slack import on_reply
from bot.alerts.store import AlertStore, MessageRecord, Place, message_key
from bot.alerts.threads import AlertThreads
from bot.dynamo import DynamoTable
from bot.slack.app import SlackEdge
from infra import tables

BOT = "U0CENTRALOPS"
TEAM, CHANNEL = "T0BENCH", "C0BENCH"


class AskedEdge:
    """Stands in for the Slack edge: records the questions that would be asked."""

    def __init__(self) -> None:
        self.asked = 0

    async def _event(self, *args: Any, **kwargs: Any) -> None:
        self.asked += 1


def _event(kind: str, i: int, alert_threads: list[str], bot_threads: list[str]) -> dict[str, Any]:
    ts = f"{1_796_300_000 + i}.{i:06d}"
    base = {"type": "message", "channel": CHANNEL, "channel_type": "channel", "ts": ts, "user": "U0ALICE"}
    if kind == "top_level":
        return {**base, "text": "deploying now"}
    if kind == "bot_message":
        return {**base, "bot_id": "B0OTHER", "text": "build passed", "thread_ts": bot_threads[0]}
    if kind == "edit":
        return {**base, "subtype": "message_changed", "hidden": True, "message": {"text": "x"}}
    if kind == "person_thread":
        return {**base, "thread_ts": f"1796200000.{i:06d}", "parent_user_id": "U0BOB", "text": "+1"}
    if kind == "bot_thread":
        thread = bot_threads[i % len(bot_threads)]
        return {**base, "thread_ts": thread, "parent_user_id": BOT, "text": "thanks"}
    thread = alert_threads[i % len(alert_threads)]
    return {**base, "thread_ts": thread, "parent_user_id": BOT, "text": "why is it firing?"}


async def run(url: str, n: int) -> dict[str, Any]:
    calls: Counter[str] = Counter()
    ddb = client(url, "dynamodb", calls)
    attributes, indexes = tables.index_definition(tables.ALERTS)
    ddb.create_table(
        TableName="alerts",
        KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
        AttributeDefinitions=attributes,
        GlobalSecondaryIndexes=indexes,
        BillingMode="PAY_PER_REQUEST",
    )
    store = AlertStore(DynamoTable("alerts", client=ddb))
    place = Place("slack", TEAM, CHANNEL)
    alert_threads = []
    for i in range(20):
        ref = f"1796100000.{i:06d}"
        alert = {"account_id": "333333333333", "region": "us-east-1", "kind": "alarm", "title": f"a-{i}"}
        await store.save_message(MessageRecord(message_key(place, uuid.uuid4().hex), place, alert, ref=ref))
        alert_threads.append(ref)
    bot_threads = [f"1796000000.{i:06d}" for i in range(20)]  # answers to /aws: bot messages, no alert
    threads = AlertThreads(store)
    edge = AskedEdge()
    body = {"team_id": TEAM, "authorizations": [{"user_id": BOT, "is_bot": True}]}
    out: dict[str, Any] = {"messages_per_kind": n}
    for kind in ("top_level", "bot_message", "edit", "person_thread", "bot_thread", "alert_thread"):
        calls.clear()
        asked = edge.asked
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(n):
            event = _event(kind, i, alert_threads, bot_threads)
            await on_reply(cast(SlackEdge, edge), threads, body, event, cast(Any, None), {"bot_user_id": BOT})
        out[kind] = {
            "dynamodb_calls_per_message": round(sum(calls.values()) / n, 3),
            "cpu_us_per_message": round((time.process_time() - cpu) / n * 1e6, 1),
            "wall_ms_per_message": round((time.perf_counter() - wall) / n * 1000, 3),
            "asked": edge.asked - asked,
        }
    return out


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.alert_replies [--messages N]``."""
    parser = argparse.ArgumentParser(prog="python -m bench.alert_replies")
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args(argv)
    with moto() as url:
        report("alert_replies", asyncio.run(run(url, args.messages)))


if __name__ == "__main__":
    main()
