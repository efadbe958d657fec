"""Slack acknowledgement latency and streaming call rate: ``python -m bench.slack_ack [--count N]``.

Two figures, each measured on the production code path:

- ``p50_ms`` / ``p99_ms``: the local stack (:class:`infra.local.stack.LocalStack`)
  is started, one question per linked user warms it up (their first token
  exchange, the bot's AWS clients), then ``--count`` (200) correctly signed ``/aws list buckets in staging``
  slash commands are sent to the bot at once, and the time to each HTTP
  acknowledgement is recorded (Slack allows 3 s; the goal is p99 < 50 ms), over
  connections opened beforehand, as the ALB in front of the bot keeps them. The
  bot then answers them through the real agent; ``answered`` counts the
  closed answers seen in the Web API stand-in and ``turned_away`` the commands
  the bot's bounded answer queue refused at once ("too busy … Nothing was run",
  a private notice); ``all_answered_s`` is when every command had one or the other.
- ``api_calls_per_stream_s``: one answer that streams for about ``--stream-s``
  seconds (a scripted Runtime emitting 40 pieces, a checklist of three accounts
  and follow-ups) is rendered by the bot's Slack edge, with its production
  pacing, into the Web API stand-in; the Web API calls made while the answer is
  open, divided by the seconds it was open (goal ≤ 1).

The last line printed is a JSON object, also written to ``.local/bench/slack_ack.json``.
"""

import argparse
import asyncio
import gc
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench import report
from bot.admission import BUSY_FULL
from bot.config import BotConfig
from bot.server import build_app
from centralops import events, settings
from infra.local import org
from infra.local.consoles.slack import SlackConsole
from infra.local.org import StackInfo
from infra.local.slack_api import STATE_KEY
from infra.local.slack_api import build_app as build_stand_in
from infra.local.stack import LocalStack, Ports
from tests.fixtures.aws import CognitoPool, session
from tests.fixtures.slack_runtime import FakeRuntime, Step
from tests.fixtures.slack_stack import CognitoIdentity, serve

CHANNEL = "C0BENCH"
QUESTION = "list buckets in staging"


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def ack_latencies(console: SlackConsole, count: int) -> list[float]:
    """Send ``count`` signed slash commands at once; milliseconds to each acknowledgement."""
    users = [p.slack_name for p in org.PEOPLE if p.linked]
    bodies = [console.slash_body(users[i % len(users)], QUESTION, CHANNEL) for i in range(count)]
    # The load generator's own garbage collector must not pause it mid-burst: a full pass over
    # this process's heap (the stack supervisor, boto3...) stalled it for ~0.5 s and showed up as
    # a slow tail that was not the bot's.
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        return await _burst(console, bodies, count)
    finally:
        gc.enable()
        gc.unfreeze()


async def _burst(console: SlackConsole, bodies: list[str], count: int) -> list[float]:
    signed = [
        (b.encode(), {"Content-Type": "application/x-www-form-urlencoded", **console.sign(b)}) for b in bodies
    ]
    connector = aiohttp.TCPConnector(limit=count)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
        # In AWS the bot sits behind an ALB that keeps its connections to the bot open: open them
        # first, so the figure is the bot's ack and not this process opening 200 connections.
        await asyncio.gather(*(_health(http, console.bot_url) for _ in range(count)))

        async def one(body: bytes, headers: dict[str, str]) -> float:
            started = time.perf_counter()
            async with http.post(f"{console.bot_url}/slack/events", data=body, headers=headers) as response:
                await response.read()
                elapsed = (time.perf_counter() - started) * 1000
                if response.status != 200:
                    raise RuntimeError(f"the bot answered {response.status}")
            return elapsed

        return list(await asyncio.gather(*(one(b, h) for b, h in signed)))


async def _health(http: aiohttp.ClientSession, bot_url: str) -> None:
    async with http.get(f"{bot_url}/health") as response:
        await response.read()


async def wait_answers(console: SlackConsole, count: int, limit_s: float) -> tuple[int, int, float]:
    """Answers closed in ``CHANNEL`` and commands turned away by the answer queue within ``limit_s``,
    and when the last of them came."""
    started = time.monotonic()
    closed = refused = 0
    users = {p.slack_name for p in org.PEOPLE if p.linked}
    while time.monotonic() - started < limit_s:
        messages = await console.channel_messages(CHANNEL)
        closed = sum((m.get("metadata") or {}).get("event_type") == "centralops_answer" for m in messages)
        refused = 0
        for user in users:
            notices = await console.ephemeral(user)
            refused += sum(
                n.get("channel") == CHANNEL and BUSY_FULL in str(n.get("text", "")) for n in notices
            )
        if closed + refused >= count:
            break
        await asyncio.sleep(0.5)
    return closed, refused, time.monotonic() - started


def stream_script(stream_s: float) -> list[Step]:
    """About ``stream_s`` seconds of answer: a checklist of three accounts, then 40 pieces of text."""
    pause = stream_s / 44
    script: list[Step] = [events.status("Querying 3 accounts…")]
    for name in ("staging", "production", "development"):
        script += [events.tool_start(name, "aws s3 ls"), pause]
    for name in ("staging", "production", "development"):
        script += [events.tool_end(name, "aws s3 ls", ok=True, ms=int(pause * 1000)), pause]
    for i in range(40):
        script += [events.text(f"| bucket-{i:02d} | {i * 13} objects |\n"), pause]
    script += [
        events.followups([{"label": "Count objects", "prompt": "count objects"}]),
        events.done("bench"),
    ]
    return script


async def stream_rate(info: StackInfo, stream_s: float) -> dict[str, Any]:
    """Render one long answer with production pacing; Web API calls per second while it is open."""
    token = "xoxb-" + secrets.token_hex(8)
    signing = secrets.token_hex(16)
    stand_in = build_stand_in(token)
    runners = []
    runner, stand_in_url = await serve(stand_in)
    runners.append(runner)
    stand_in[STATE_KEY].base_url = stand_in_url
    runtime = FakeRuntime()
    runtime.script("stream a long answer", stream_script(stream_s))
    runner, runtime_url = await serve(runtime.app())
    runners.append(runner)
    alice = org.person("alice")
    pool = CognitoPool(info.moto_url, info.user_pool_id, info.client_id, {alice.username: alice.password})
    identity = CognitoIdentity(pool, links={alice.slack_user_id: alice.username})
    config = BotConfig(
        runtime_url=f"{runtime_url}/invocations",
        approvals_table=info.tables[settings.APPROVALS_TABLE],
        idempotency_table=info.tables[settings.IDEMPOTENCY_TABLE],
        accounts_table=info.tables[settings.ACCOUNTS_TABLE],
        endpoint_url=info.moto_url,
        slack_bot_token=token,
        slack_signing_secret=signing,
        slack_api_url=f"{stand_in_url}/api/",
    )
    dynamodb = session().client("dynamodb", endpoint_url=info.moto_url)
    runner, bot_url = await serve(build_app(config, identity=identity, dynamodb=dynamodb))
    runners.append(runner)
    console = SlackConsole(bot_url, stand_in_url, signing)
    try:
        await console.slash("alice", "whoami", CHANNEL)  # warm up: auth.test, tables, token
        state = stand_in[STATE_KEY]
        state.calls.clear()
        opened = time.time()
        thread = await console.slash("alice", "stream a long answer", CHANNEL, wait_s=stream_s * 4 + 30)
        closed = max(float(c["time"]) for c in state.calls)
        calls = [c for c in state.calls if c["method"] not in ("auth.test",)]
        if not thread.answers():
            raise RuntimeError("the long answer never closed")
    finally:
        await console.close()
        for r in reversed(runners):
            await r.cleanup()
    seconds = closed - opened
    by_method: dict[str, int] = {}
    for c in calls:
        by_method[c["method"]] = by_method.get(c["method"], 0) + 1
    return {
        "api_calls_per_stream_s": round(len(calls) / seconds, 2),
        "stream_calls": len(calls),
        "stream_s": round(seconds, 2),
        "stream_calls_by_method": by_method,
    }


async def run(info: StackInfo, count: int, stream_s: float, answer_limit_s: float) -> dict[str, Any]:
    """Both measurements against a started stack."""
    console = SlackConsole.from_stack(info)
    try:
        # Steady state: every user's first token exchange and the bot's clients are made before timing.
        warm = [p.slack_name for p in org.PEOPLE if p.linked]
        for name in warm:
            await console.slash(name, QUESTION, "C0WARMUP")
        latencies = await ack_latencies(console, count)
        answered, turned_away, answered_s = await wait_answers(console, count, answer_limit_s)
    finally:
        await console.close()
    result: dict[str, Any] = {
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "p90_ms": round(percentile(latencies, 0.90), 1),
        "min_ms": round(min(latencies), 1),
        "max_ms": round(max(latencies), 1),
        "commands": count,
        "answered": answered,
        "turned_away": turned_away,
        "all_answered_s": round(answered_s, 1),
    }
    result.update(await stream_rate(info, stream_s))
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench.slack_ack", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="concurrent slash commands (default 200)")
    parser.add_argument(
        "--stream-s", type=float, default=10.0, help="length of the streamed answer (default 10 s)"
    )
    parser.add_argument(
        "--answer-limit-s", type=float, default=240.0, help="how long to wait for all answers"
    )
    parser.add_argument("--root", help="keep the stack's state and logs here (default: a temporary folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="centralops-bench-") as tmp:
        root = Path(args.root or tmp)
        root.mkdir(parents=True, exist_ok=True)
        stack = LocalStack(root, Ports.free(), model="offline")
        with stack as info:
            result = asyncio.run(run(info, args.count, args.stream_s, args.answer_limit_s))
    report("slack_ack", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
