"""Nothing lost when the Bot Connector refuses: Teams answers go through the durable outbox.

Each test puts a 429 window (the Connector stand-in's ``rate_limit`` switch) over the end of an
answer, in a 1:1 chat (streamed) and in a channel thread, and asserts what the person sees (the whole
answer, exactly once, nothing left running, never "try again") and what the outbox table holds.
"""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.dynamo import DynamoTable
from bot.outbox import OutboxStore, Sweeper
from bot.teams.outbox import INTERRUPTED, LATE
from centralops import events
from infra.local.consoles.teams import CHANNEL
from tests.fixtures.aws import free_port
from tests.fixtures.slack_stack import create_outbox_table
from tests.fixtures.teams_fakes import TeamsStack
from tests.fixtures.waits import until

PIECES = [f"Line {i}: bucket-{i:02d} holds {i * 7} objects.\n" for i in range(1, 9)]


def with_outbox(teams: TeamsStack, lease_s: float = 30.0) -> tuple[OutboxStore, str]:
    name = f"outbox-{uuid.uuid4().hex[:8]}"
    create_outbox_table(teams.dynamodb, name)
    store = OutboxStore(DynamoTable(name, client=teams.dynamodb), lease_s=lease_s)
    teams.bot.conversation.outbox = store
    return store, name


def items(teams: TeamsStack, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = teams.dynamodb.scan(TableName=name, ConsistentRead=True)["Items"]
    return found


async def rate_limit(teams: TeamsStack, method: str, seconds: float, retry_after: float = 1) -> None:
    """Refuse ``method`` for ``seconds`` (0 lifts a window at once)."""
    response = await teams.console._http.post(
        f"{teams.console.connector_url}/_stand-in/config",
        json={"rate_limit": {"method": method, "seconds": seconds, "retry_after": retry_after}},
    )
    response.raise_for_status()


def undelivered(teams: TeamsStack, name: str, answer_id: dict[str, str]) -> None:
    """As if the replica stopped before it marked the answer delivered: a sweeper delivers it again."""
    teams.dynamodb.update_item(
        TableName=name,
        Key={"answer_id": answer_id},
        UpdateExpression="SET #s = :closing, lease_until = :past, pending = :one",
        ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues={
            ":closing": {"S": "closing"},
            ":past": {"N": str(time.time() - 1)},
            ":one": {"S": "1"},
        },
    )


async def refused(teams: TeamsStack, conversation: str, method: str) -> int:
    calls = await teams.console.activities(conversation)
    return sum(1 for c in calls if c["op"] == "refused" and c.get("method") == method)


def script(teams: TeamsStack, prompt: str) -> asyncio.Event:
    """Script an answer whose end (the last call's outcome and ``done``) waits for the returned gate.

    A test sets the gate once its 429 window is in place, so the window covers the end of the answer
    however slowly a loaded machine runs the start.
    """
    end = asyncio.Event()
    teams.runtime.script(
        prompt,
        (0, events.tool_start("staging", "aws s3 ls")),
        (0, events.tool_start("production", "aws s3 ls")),
        (0.05, events.tool_end("staging", "aws s3 ls", ok=True, ms=12)),
        *((0.15, events.text(p)) for p in PIECES),
        (end, events.tool_end("production", "aws s3 ls", ok=False, ms=20)),
        (0, events.done("s")),
    )
    return end


def shown_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages)


def assert_whole_once(messages: list[dict[str, Any]]) -> None:
    text = shown_text(messages)
    for piece in PIECES:
        assert text.count(piece.strip()) == 1, text
    assert "⏳" not in text and "Try again" not in text and "went wrong" not in text
    assert all(m["final"] for m in messages)


@pytest.mark.parametrize("surface", ["personal", "channel"])
async def test_a_turn_that_shows_only_a_notice_leaves_nothing_to_deliver(
    teams: TeamsStack, surface: str
) -> None:
    _, name = with_outbox(teams)
    if surface == "personal":
        await teams.console.personal("alice", "help")
    else:
        await teams.console.channel("alice", "help")
    await teams.bot.background.drain(timeout_s=10)
    await asyncio.sleep(0.2)  # a leftover keeper would write as the turn closes
    assert all(i["state"]["S"] == "delivered" for i in items(teams, name)), items(teams, name)


async def test_a_429_over_the_end_of_a_streamed_answer_still_shows_all_of_it_once(teams: TeamsStack) -> None:
    _, name = with_outbox(teams)
    end = script(teams, "q")
    chat = teams.console.personal_conversation("alice")["id"]
    answer = asyncio.create_task(teams.console.personal("alice", "q"))

    async def streaming() -> bool:
        return any(m["streamed"] for m in await teams.console.messages(chat))

    await until(streaming)
    await rate_limit(teams, "send", 4)
    end.set()
    exchange = await answer
    [message] = exchange.messages
    assert message["streamed"] and message["final"]
    assert_whole_once(exchange.messages)
    assert await refused(teams, chat, "send") >= 2  # the window covered the end of the answer
    await teams.bot.background.drain(timeout_s=10)
    [item] = items(teams, name)
    assert item["state"]["S"] == "delivered" and "pending" not in item
    assert item["platform"]["S"] == "teams" and item["body"]["S"] == "".join(PIECES)
    assert item["checklist_ref"]["S"] == message["id"]
    assert '"state":"failed"' in item["checklist"]["S"]


async def test_a_429_over_the_end_of_a_channel_answer_still_shows_all_of_it_once(teams: TeamsStack) -> None:
    _, name = with_outbox(teams)
    end = script(teams, "q")
    answer = asyncio.create_task(teams.console.channel("alice", "q"))

    async def progress() -> bool:
        return any(m["text"].startswith("⏳") for m in await teams.console.messages(CHANNEL))

    await until(progress)
    await rate_limit(teams, "update", 5)
    end.set()
    post = await answer
    [message] = post.messages
    assert_whole_once(post.messages)
    assert "production" in message["text"]  # the failed call is listed, nothing left running
    assert await refused(teams, CHANNEL, "update") >= 2
    await teams.bot.background.drain(timeout_s=10)
    [item] = items(teams, name)
    assert item["state"]["S"] == "delivered" and item["checklist_ref"]["S"] == message["id"]


@pytest.mark.parametrize("surface", ["personal", "channel"])
async def test_an_answer_the_connector_refuses_past_every_retry_is_delivered_by_the_outbox(
    teams: TeamsStack, surface: str
) -> None:
    _, name = with_outbox(teams)
    teams.bot.background.retry_s = 1.0  # writes give up quickly: the window outlasts every retry
    end = script(teams, "q")
    where = teams.console.personal_conversation("alice")["id"] if surface == "personal" else CHANNEL
    if surface == "personal":
        answer = asyncio.create_task(teams.console.personal("alice", "q", wait=False))
    else:
        answer = asyncio.create_task(teams.console.channel("alice", "q", wait=False))

    async def started() -> bool:
        return bool(await teams.console.messages(where))

    await until(started)
    method = "send" if surface == "personal" else "update"
    await rate_limit(teams, method, 600)  # until the test lifts it: longer than every retry, however slow
    end.set()
    exchange = await answer
    await teams.bot.background.drain(timeout_s=20)
    # The renderer gave up and left the answer to the outbox at once (its lease ended).
    [kept] = items(teams, name)
    assert kept["state"]["S"] == "closing" and kept["body"]["S"].strip() == "".join(PIECES).strip()
    assert float(kept["lease_until"]["N"]) <= time.time()
    shown = await teams.console.messages(exchange.conversation_id)
    assert "Try again" not in shown_text(shown)

    await rate_limit(teams, method, 0)  # the Connector takes messages again
    other = Sweeper(
        OutboxStore(DynamoTable(name, client=teams.dynamodb)), {"teams": teams.bot.deliver_parcel}
    )
    assert await other.sweep() == 1
    messages = await teams.console.messages(exchange.conversation_id)
    assert_whole_once(messages)
    [message] = messages
    assert LATE.strip("_") in message["text"]
    assert message["id"] == kept["checklist_ref"]["S"]  # the message the answer grew in became the answer
    [item] = items(teams, name)
    assert item["state"]["S"] == "delivered" and "pending" not in item
    assert await other.sweep() == 0  # delivered once


async def test_a_delivery_retried_after_a_partial_failure_never_shows_the_answer_twice(
    teams: TeamsStack,
) -> None:
    _, name = with_outbox(teams)
    teams.bot.background.retry_s = 1.0
    long = [f"Paragraph {i}: " + "word " * 1400 + "\n\n" for i in range(4)]  # more than one message
    text = asyncio.Event()  # the answer's text comes once the refusals are in place
    teams.runtime.script(
        "long",
        (0, events.tool_start("staging", "aws s3 ls")),
        (0.05, events.tool_end("staging", "aws s3 ls", ok=True, ms=12)),
        (text, events.text(long[0])),
        *((0.05, events.text(p)) for p in long[1:]),
        (0, events.done("s")),
    )
    answer = asyncio.create_task(teams.console.channel("alice", "long", wait=False))

    async def progress() -> bool:
        return any(m["text"].startswith("⏳") for m in await teams.console.messages(CHANNEL))

    await until(progress)
    # The first message closes, but the further parts are refused past every retry.
    await rate_limit(teams, "send", 600)  # until the test lifts it
    text.set()
    exchange = await answer
    await teams.bot.background.drain(timeout_s=20)
    [kept] = items(teams, name)
    assert kept["state"]["S"] == "closing"
    await rate_limit(teams, "send", 0)  # the Connector takes messages again

    other = Sweeper(
        OutboxStore(DynamoTable(name, client=teams.dynamodb)), {"teams": teams.bot.deliver_parcel}
    )
    assert await other.sweep() == 1
    first = await teams.console.messages(exchange.conversation_id)
    assert len(first) >= 2
    # As if the replica had stopped before it could mark the answer delivered: the delivery runs again.
    undelivered(teams, name, kept["answer_id"])
    assert await other.sweep() == 1
    again = await teams.console.messages(exchange.conversation_id)
    assert [m["id"] for m in again] == [m["id"] for m in first]  # replaced in place, none posted twice
    text = shown_text(again)
    for i in range(4):
        assert text.count(f"Paragraph {i}:") == 1
    assert [i["state"]["S"] for i in items(teams, name)] == ["delivered"]


def spawn_replica(spec: dict[str, Any], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """One Teams bot process (``tests.fixtures.teams_bot_process``), logging to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.fixtures.teams_bot_process", json.dumps(spec)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


@contextlib.asynccontextmanager
async def replica(teams: TeamsStack, outbox: str, log: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    """A second Teams bot process on the stack's tables (2 s outbox lease), which the console talks to."""
    port = free_port()
    spec = {**teams.spec, "port": port, "outbox": outbox, "lease_s": 2.0}
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
    }
    proc = spawn_replica(spec, log, env)
    own_url = teams.console.bot_url
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
        teams.console.bot_url = f"http://127.0.0.1:{port}"
        yield proc
    finally:
        teams.console.bot_url = own_url
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.parametrize("surface", ["personal", "channel"])
async def test_the_bot_killed_mid_answer_is_finished_by_another_replica(
    teams: TeamsStack, tmp_path: Path, surface: str
) -> None:
    _, name = with_outbox(teams)
    killed = asyncio.Event()
    teams.runtime.script(
        "q",
        (0, events.tool_start("staging", "aws s3 ls")),
        (0, events.tool_start("production", "aws s3 ls")),
        (0.05, events.tool_end("staging", "aws s3 ls", ok=True, ms=8)),
        (0, events.text("Staging has 3 buckets.\n")),
        (killed, events.done("s")),  # sent only after the replica showing the answer was killed
    )
    async with replica(teams, name, tmp_path / "bot.log") as proc:
        if surface == "personal":
            exchange = await teams.console.personal("alice", "q", wait=False)
        else:
            exchange = await teams.console.channel("alice", "q", wait=False)

        async def kept() -> bool:
            return any("Staging has 3 buckets." in i["body"]["S"] for i in items(teams, name))

        await until(kept)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    killed.set()  # the Runtime's end reaches a closed connection
    # The stack's own replica finds the answer once the dead replica's lease ran out, and finishes it.
    sweeper = Sweeper(
        OutboxStore(DynamoTable(name, client=teams.dynamodb)), {"teams": teams.bot.deliver_parcel}
    )

    async def swept() -> bool:
        return await sweeper.sweep() == 1

    await until(swept, within_s=20)
    [message] = await teams.console.messages(exchange.conversation_id)
    assert message["final"]
    text = message["text"]
    assert text.count("Staging has 3 buckets.") == 1
    assert INTERRUPTED.strip("_")[:40] in text
    assert "production" in text and "no result" in text  # the call that never reported, closed
    assert "⏳" not in text and "Try again" not in text
    [item] = items(teams, name)
    assert item["state"]["S"] == "delivered" and "pending" not in item
    assert item["checklist_ref"]["S"] == message["id"]


async def test_a_long_1on1_answer_delivered_late_offers_the_whole_answer_as_a_file_once(
    teams: TeamsStack,
) -> None:
    _, name = with_outbox(teams)
    teams.bot.background.retry_s = 1.0
    long = [f"Paragraph {i}: " + "word " * 1400 + "\n\n" for i in range(4)]  # more than one message
    end = asyncio.Event()  # the answer ends once the refusals are in place
    teams.runtime.script(
        "long",
        (0, events.tool_start("staging", "aws s3 ls")),
        (0.05, events.tool_end("staging", "aws s3 ls", ok=True, ms=12)),
        *((0.05, events.text(p)) for p in long),
        (end, events.done("s")),
    )
    chat = teams.console.personal_conversation("alice")["id"]
    answer = asyncio.create_task(teams.console.personal("alice", "long", wait=False))

    async def streaming() -> bool:
        return any(m["streamed"] for m in await teams.console.messages(chat))

    await until(streaming)
    await rate_limit(teams, "send", 600)  # until the test lifts it
    end.set()
    await answer
    await teams.bot.background.drain(timeout_s=20)
    [kept] = items(teams, name)
    assert kept["state"]["S"] == "closing"
    await rate_limit(teams, "send", 0)  # the Connector takes messages again

    sweeper = Sweeper(
        OutboxStore(DynamoTable(name, client=teams.dynamodb)), {"teams": teams.bot.deliver_parcel}
    )
    assert await sweeper.sweep() == 1
    first = await teams.console.messages(chat)
    [head, offer] = first
    assert head["id"] == kept["checklist_ref"]["S"] and head["final"]
    assert "offered as a file below" in head["text"] and "Paragraph 0:" in head["text"]
    [consent] = offer["attachments"]
    assert consent["contentType"] == "application/vnd.microsoft.teams.card.file.consent"
    # Delivered again (the replica stopped before marking it): the same two messages, replaced in place.
    undelivered(teams, name, kept["answer_id"])
    assert await sweeper.sweep() == 1
    assert [m["id"] for m in await teams.console.messages(chat)] == [m["id"] for m in first]
    assert [i["state"]["S"] for i in items(teams, name)] == ["delivered"]
    problems = (await teams.console._http.get(f"{teams.console.connector_url}/_stand-in/problems")).json()
    assert problems == {"problems": []}
