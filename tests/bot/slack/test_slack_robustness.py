"""Duplicate deliveries, rate limits, a Runtime that is down or cut off, and bad signatures."""

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from centralops import events
from infra.local.consoles.slack import SlackConsole
from tests.fixtures.aws import free_port
from tests.fixtures.slack_stack import CHANNEL, SlackStack
from tests.fixtures.slack_stack import slack as slack
from tests.fixtures.slack_stack import slack_cognito as slack_cognito


async def wait_for_log(caplog: pytest.LogCaptureFixture, message: str, count: int = 1) -> None:
    for _ in range(400):
        if sum(r.getMessage() == message for r in caplog.records) >= count:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"never logged {message!r}")


async def test_a_duplicate_event_to_two_replicas_is_answered_once(
    slack: SlackStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.idempotency")
    second_bot = await slack.add_bot()
    console = slack.console
    ts = await console.say("alice", CHANNEL, "<@U0CENTRALOPS> list buckets in staging")
    event = {"type": "app_mention", "user": "U0ALICE", "text": "<@U0CENTRALOPS> list buckets in staging"}
    event.update(ts=ts, event_ts=ts, channel=CHANNEL, team="T0CENTRAL")
    body = console.event_body(event, event_id="Ev0DUPLICATE")
    first, retried = await asyncio.gather(
        console.post(body, "application/json"),
        console.post(body, "application/json", retry_num=1, bot_url=second_bot),
    )
    assert first.status_code == retried.status_code == 200
    await wait_for_log(caplog, "duplicate delivery ignored")
    thread = await console.thread_messages(CHANNEL, ts)
    for _ in range(200):
        if any((m.get("metadata") or {}).get("event_type") == "centralops_answer" for m in thread):
            break
        await asyncio.sleep(0.05)
        thread = await console.thread_messages(CHANNEL, ts)
    answers = [m for m in thread if (m.get("metadata") or {}).get("event_type") == "centralops_answer"]
    assert len(answers) == 1
    assert len(slack.runtime.invocations) == 1


async def test_web_api_429_is_retried_after_retry_after(slack: SlackStack) -> None:
    await slack.console.configure(rate_limit={"method": "chat.postMessage", "count": 1, "retry_after": 1})
    thread = await slack.console.slash("alice", "list buckets in staging", CHANNEL)
    assert thread.answers()
    posts = [c for c in slack.stand_in.calls if c["method"] == "chat.postMessage"]
    assert posts[0]["status"] == 429 and posts[1]["ok"]
    assert float(posts[1]["time"]) - float(posts[0]["time"]) >= 1.0  # waited as told, by the records


async def test_runtime_down_posts_a_clear_error_in_the_thread(slack: SlackStack) -> None:
    runtime_runner = slack.runners[1]
    await runtime_runner.cleanup()
    thread = await slack.console.slash("alice", "list buckets in staging", CHANNEL)
    [answer] = thread.answers()
    assert answer["thread_ts"] == thread.ts
    assert "could not be reached" in answer["text"] and "Try again" in answer["text"]
    assert answer["metadata"]["event_payload"]["status"] == "error"


async def test_runtime_refusing_the_token_asks_to_link_again(slack: SlackStack) -> None:
    slack.runtime.status = 401
    thread = await slack.console.slash("alice", "list buckets in staging", CHANNEL)
    assert "/aws login" in thread.answers()[0]["text"]


async def test_a_stream_cut_off_without_done_says_so(slack: SlackStack) -> None:
    slack.runtime.script("q", [events.text("Partial")])
    thread = await slack.console.slash("alice", "q", CHANNEL)
    text = thread.answers()[0]["text"]
    assert text.startswith("Partial") and "cut off" in text


async def test_agent_error_event_is_shown(slack: SlackStack) -> None:
    slack.runtime.script(
        "list buckets in stagin",
        [
            events.error("unknown_account", "No account named 'stagin'. Did you mean staging?"),
            events.done("s"),
        ],
    )
    thread = await slack.console.slash("alice", "list buckets in stagin", CHANNEL)
    assert "Did you mean staging?" in thread.answers()[0]["text"]


@pytest.mark.parametrize("problem", ["bad signature", "stale timestamp"])
async def test_bad_or_stale_signature_is_rejected_before_any_handler(slack: SlackStack, problem: str) -> None:
    console = slack.console
    body = console.slash_body("alice", "list buckets in staging", CHANNEL)
    if problem == "bad signature":
        forger = SlackConsole(console.bot_url, console.stand_in_url, "not-the-signing-secret")
        response = await forger.post(body, "application/x-www-form-urlencoded")
        await forger.close()
    else:
        response = await console.post(
            body, "application/x-www-form-urlencoded", timestamp=int(time.time()) - 600
        )
    assert response.status_code == 401
    await asyncio.sleep(0.2)  # give a wrongly started handler the chance to show itself
    assert slack.identity.asked == []
    assert slack.runtime.invocations == []
    assert [c for c in slack.stand_in.calls if c["method"].startswith("chat.")] == []


def spawn_replica(spec: dict[str, object], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """One bot replica process (``tests.fixtures.slack_bot_process``), logging to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.fixtures.slack_bot_process", json.dumps(spec)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


async def test_a_duplicate_event_to_two_bot_processes_is_answered_once(
    slack: SlackStack, tmp_path: Path
) -> None:
    pool = slack.identity.pool
    spec_pool = {"moto_url": pool.moto_url, "pool_id": pool.pool_id, "client_id": pool.client_id}
    spec_pool["passwords"] = dict(pool.passwords)  # type: ignore[assignment]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
    }
    procs, urls, logs = [], [], []
    try:
        for i in range(2):
            port = free_port()
            spec = {"config": dataclasses.asdict(slack.config), "pool": spec_pool, "port": port}
            log = tmp_path / f"bot-{i}.log"
            procs.append(spawn_replica(spec, log, env))
            urls.append(f"http://127.0.0.1:{port}")
            logs.append(log)
        async with httpx.AsyncClient() as http:
            for url in urls:
                for _ in range(400):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(f"{url}/health")).status_code == 200:
                            break
                    await asyncio.sleep(0.05)
        console = slack.console
        ts = await console.say("alice", CHANNEL, "<@U0CENTRALOPS> list buckets in staging")
        event = {"type": "app_mention", "user": "U0ALICE", "text": "<@U0CENTRALOPS> list buckets in staging"}
        event.update(ts=ts, event_ts=ts, channel=CHANNEL, team="T0CENTRAL")
        body = console.event_body(event, event_id="Ev0TWOPROCS")
        responses = await asyncio.gather(
            console.post(body, "application/json", bot_url=urls[0]),
            console.post(body, "application/json", retry_num=1, bot_url=urls[1]),
        )
        assert [r.status_code for r in responses] == [200, 200]
        for _ in range(400):
            if any("duplicate delivery ignored" in log.read_text() for log in logs):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("neither replica saw the duplicate")
        for _ in range(400):
            thread = await console.thread_messages(CHANNEL, ts)
            answers = [
                m for m in thread if (m.get("metadata") or {}).get("event_type") == "centralops_answer"
            ]
            if answers:
                break
            await asyncio.sleep(0.05)
        assert len(answers) == 1
        assert len(slack.runtime.invocations) == 1
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


MALFORMED_BODIES = [
    ("not json at all {", "application/json"),
    ("[1, 2, 3]", "application/json"),
    ('{"type": "event_callback"', "application/json"),
    ("payload=%7Bnot-json", "application/x-www-form-urlencoded"),
    ("\udcff".encode("utf-8", "surrogateescape").decode("latin-1"), "text/plain"),
    ("", "application/json"),
]


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
async def test_malformed_bodies_get_a_4xx_and_one_log_line_without_traceback(
    slack: SlackStack, caplog: pytest.LogCaptureFixture, signed: bool
) -> None:
    caplog.set_level(logging.DEBUG)
    console = slack.console
    async with httpx.AsyncClient(timeout=10) as http:
        for i in range(100):
            body, content_type = MALFORMED_BODIES[i % len(MALFORMED_BODIES)]
            headers = {"Content-Type": content_type, **(console.sign(body) if signed else {})}
            response = await http.post(
                f"{console.bot_url}/slack/events", content=body.encode(), headers=headers
            )
            assert 400 <= response.status_code < 500, (body, response.status_code, response.text)
        big = "x" * (300 * 1024)
        response = await http.post(
            f"{console.bot_url}/slack/events", content=big, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
    await asyncio.sleep(0.2)
    assert not [r for r in caplog.records if r.exc_info], "a malformed body produced a traceback"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    refused = [r for r in caplog.records if r.getMessage() == "slack request refused"]
    if not signed:  # every one stopped at the signature check, the oversized one at the size check
        assert len(refused) == 101
    assert slack.runtime.invocations == []


async def test_an_event_without_a_channel_is_ignored_without_a_background_error(
    slack: SlackStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    console = slack.console
    event = {"type": "app_mention", "user": "U0ALICE", "text": "<@U0CENTRALOPS> list buckets", "ts": "1.2"}
    response = await console.post(console.event_body(event, event_id="Ev0NOCHANNEL"), "application/json")
    assert response.status_code == 200
    await wait_for_log(caplog, "event without channel or ts ignored")
    assert not [r for r in caplog.records if r.exc_info]
    assert slack.runtime.invocations == []
