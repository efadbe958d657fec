"""Sustained throughput and queueing of the bot: ``python -m bench.backpressure [--rate R] [--seconds S]``.

Starts the local stack (:class:`infra.local.stack.LocalStack`, the offline
planner) with a bot replica limited to ``--max-answers`` answers at once and
``--max-queued`` waiting, warms it up, then sends correctly signed
``/aws list buckets in staging`` slash commands at a steady ``--rate`` per
second for ``--seconds`` (open loop: one every 1/rate s whatever the bot does),
each in a channel of its own, from the linked people in turn.

It reports:

- ``answers_per_s``: answers closed per second between the first command and
  the last closed answer (the sustained throughput at that offered rate);
- ``answer_ms`` p50/p90/p99: from sending a command to the last Web API call of
  its answer (the stand-in's clock of the call that closed it);
- ``queued``: commands told "queued at position N" at once, with the largest
  ``max_position``; ``refused``: commands told "try again in a minute" (nothing
  ran for those); ``unanswered``: commands with neither an answer nor a word
  within ``--drain-s`` after the last one was sent.

The last line printed is a JSON object, also written to ``.local/bench/backpressure.json``.
"""

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import report
from bench.slack_ack import percentile
from bot.admission import BUSY_FULL
from centralops import settings
from infra.local import org
from infra.local.consoles.slack import SlackConsole
from infra.local.org import StackInfo
from infra.local.stack import LocalStack, Ports

QUESTION = "list buckets in staging"
_POSITION = re.compile(r"queued at position (\d+)")


@dataclass
class Load:
    """What was sent, and when (epoch seconds, the stand-in's clock on this machine)."""

    sent: dict[str, float] = field(default_factory=dict)  # channel -> time sent
    started: float = 0.0
    ended: float = 0.0


async def drive(console: SlackConsole, rate: float, seconds: float, prefix: str) -> Load:
    """Send slash commands at ``rate`` per second for ``seconds``, each in its own channel."""
    users = [p.slack_name for p in org.PEOPLE if p.linked]
    load = Load(started=time.time())
    count = max(1, round(rate * seconds))
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
        tasks = []

        async def one(i: int) -> None:
            channel = f"{prefix}{i:06d}"
            body = console.slash_body(users[i % len(users)], QUESTION, channel)
            headers = {"Content-Type": "application/x-www-form-urlencoded", **console.sign(body)}
            load.sent[channel] = time.time()
            async with http.post(f"{console.bot_url}/slack/events", data=body.encode(), headers=headers) as r:
                await r.read()

        begin = time.monotonic()
        for i in range(count):
            delay = begin + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    load.ended = time.time()
    return load


async def outcome(console: SlackConsole, load: Load, drain_s: float) -> dict[str, Any]:
    """Wait until every command got an answer or a word (or ``drain_s`` passed); the figures."""
    deadline = time.monotonic() + drain_s
    while True:
        messages = await console._get("/_stand-in/messages")
        closed = {
            m["channel"]
            for m in messages["messages"]
            if m["channel"] in load.sent
            and (m.get("metadata") or {}).get("event_type") == "centralops_answer"
        }
        private = (await console._get("/_stand-in/ephemeral"))["messages"]
        refused = {e["channel"] for e in private if e.get("channel") in load.sent and BUSY_FULL in str(e)}
        if len(closed | refused) >= len(load.sent) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    positions = [
        int(found.group(1))
        for e in private
        if e.get("channel") in load.sent and (found := _POSITION.search(str(e)))
    ]
    calls = (await console._get("/_stand-in/calls"))["calls"]
    last_call: dict[str, float] = {}
    for c in calls:
        if c.get("channel") in closed:
            last_call[c["channel"]] = max(last_call.get(c["channel"], 0.0), float(c["time"]))
    latencies = [(last_call[ch] - load.sent[ch]) * 1000 for ch in closed if ch in last_call]
    span = (max(last_call.values()) - load.started) if last_call else 0.0
    return {
        "sent": len(load.sent),
        "answered": len(closed),
        "refused": len(refused),
        "queued": len(positions),
        "max_position": max(positions, default=0),
        "unanswered": len(load.sent) - len(closed | refused),
        "answers_per_s": round(len(closed) / span, 2) if span else 0.0,
        "answer_ms": {
            "p50": round(percentile(latencies, 0.5)) if latencies else None,
            "p90": round(percentile(latencies, 0.9)) if latencies else None,
            "p99": round(percentile(latencies, 0.99)) if latencies else None,
        },
    }


async def warm_up(console: SlackConsole) -> None:
    """Each linked person's first answer (token exchange, clients) before anything is timed."""
    for person in org.PEOPLE:
        if person.linked:
            await console.slash(person.slack_name, QUESTION, "C0WARMUP", wait_s=120)


async def run(info: StackInfo, rate: float, seconds: float, drain_s: float) -> dict[str, Any]:
    """Warm up, drive, collect."""
    console = SlackConsole.from_stack(info)
    try:
        await warm_up(console)
        load = await drive(console, rate, seconds, "C0BP")
        return await outcome(console, load, drain_s)
    finally:
        await console.close()


def bot_env(max_answers: int, max_queued: int) -> dict[str, str]:
    """The bot's queue limits, for the stack's processes."""
    return {settings.MAX_ANSWERS: str(max_answers), settings.MAX_QUEUED: str(max_queued)}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench.backpressure", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=6.0, help="commands sent per second (default 6)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to send (default 20 s)")
    parser.add_argument("--max-answers", type=int, default=8, help="answers the bot runs at once (default 8)")
    parser.add_argument(
        "--max-queued", type=int, default=24, help="answers the bot keeps waiting (default 24)"
    )
    parser.add_argument("--drain-s", type=float, default=120.0, help="how long to wait for the last answers")
    parser.add_argument("--root", help="keep the stack's state and logs here (default: a temporary folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="centralops-bench-") as tmp:
        root = Path(args.root or tmp)
        root.mkdir(parents=True, exist_ok=True)
        stack = LocalStack(
            root, Ports.free(), model="offline", env=bot_env(args.max_answers, args.max_queued)
        )
        with stack as info:
            result = asyncio.run(run(info, args.rate, args.seconds, args.drain_s))
    result.update(
        rate=args.rate,
        seconds=args.seconds,
        max_answers=args.max_answers,
        max_queued=args.max_queued,
        load_avg=round(os.getloadavg()[0], 1),
    )
    report("backpressure", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
