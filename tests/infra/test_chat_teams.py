"""``make chat``'s Teams lines, through the real Agents SDK app, the Connector stand-in and a scripted Runtime."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from centralops import events
from infra.local.consoles import demo
from infra.local.consoles.teams_chat import TeamsChat
from tests.fixtures.aws import CognitoPool
from tests.fixtures.teams_fakes import TeamsStack, start_teams_stack


@pytest.fixture
async def teams(moto_url: str, cognito: CognitoPool) -> AsyncIterator[TeamsStack]:
    async for stack in start_teams_stack(moto_url, cognito):
        yield stack


def quick(teams: TeamsStack, prompt: str) -> None:
    teams.runtime.script(
        prompt,
        (0, events.tool_start("staging", "aws s3 ls")),
        (0.05, events.tool_end("staging", "aws s3 ls", ok=True, ms=42)),
        (0, events.text("3 buckets in staging.\n")),
        (0, events.done("s")),
    )


def slow(teams: TeamsStack, prompt: str) -> None:
    steps: list[Any] = [
        (0, events.status("Listing buckets…")),
        (0, events.tool_start("staging", "aws s3 ls")),
    ]
    steps += [
        (0.3, events.status(f"Listing buckets… (step {i})")) for i in range(40)
    ]  # 12 s, updates flowing
    steps += [(0, events.text("too late\n")), (0, events.done("s"))]
    teams.runtime.script(prompt, *steps)


def votes(teams: TeamsStack) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = teams.dynamodb.scan(TableName=teams.idempotency_table)["Items"]
    return [i for i in found if i["key"]["S"].startswith("feedback#")]


async def test_a_teams_question_prints_the_label_the_citations_and_takes_feedback(teams: TeamsStack) -> None:
    chat = TeamsChat(teams.console)
    quick(teams, "list buckets in staging")
    shown = await demo._teams_line(chat, "alice", ":teams list buckets in staging")
    assert "── Teams · 1:1 chat ──" in shown and "3 buckets in staging." in shown
    assert "AI generated" in shown and "[1] staging: aws s3 ls" in shown and "[👍] [👎]" in shown
    said = await demo._teams_line(chat, "alice", ":bad")
    assert said == "👎 sent on the newest Teams answer, as alice."
    for _ in range(50):
        if votes(teams):
            break
        await asyncio.sleep(0.1)
    [vote] = votes(teams)
    assert vote["vote"]["S"] == "down" and vote["question"]["S"] == "list buckets in staging"
    # Someone else's 1:1 answer is not theirs to rate.
    assert "only alice can rate it" in await demo._teams_line(chat, "bob", ":good")
    assert (
        await demo._teams_line(chat, "alice", ":stop")
        == "Nothing to stop: the newest Teams answer is complete."
    )


async def test_stop_in_a_teams_channel_clicks_the_answers_stop_card(teams: TeamsStack) -> None:
    chat = TeamsChat(teams.console, patience_s=1.5)
    slow(teams, "list buckets slowly")
    note = await demo._teams_line(chat, "alice", ":teams-channel list buckets slowly")
    assert "still writing" in note and chat.writing
    for _ in range(50):  # the Stop card follows the bot's 0.2 s wait
        if await chat._stop_card(chat.last.conversation_id if chat.last else ""):
            break
        await asyncio.sleep(0.1)
    shown = await demo._teams_line(chat, "alice", ":stop")
    assert shown.startswith("Clicked Stop: Stopping this answer…")
    assert "Stopped, as you asked" in shown and "too late" not in shown
    assert not chat.writing


async def test_stop_in_a_teams_1on1_chat_presses_teams_own_stop(teams: TeamsStack) -> None:
    chat = TeamsChat(teams.console, patience_s=1.5)
    slow(teams, "list buckets slowly")
    assert "still writing" in await demo._teams_line(chat, "alice", ":teams list buckets slowly")
    assert "only alice sees its Stop" in await demo._teams_line(chat, "bob", ":stop")
    shown = await demo._teams_line(chat, "alice", ":stop")
    assert shown.startswith("Pressed Teams' Stop") and "Stopped, as you asked" in shown


async def test_a_person_without_teams_is_told_whom_to_speak_as(teams: TeamsStack) -> None:
    chat = TeamsChat(teams.console)
    said = await demo._teams_line(chat, "dave", ":teams list buckets in staging")
    assert "no Teams identity" in said and ":as" in said
    assert "Say what to ask" in await demo._teams_line(chat, "alice", ":teams   ")


def test_the_chat_help_lists_the_teams_lines() -> None:
    for line in (":teams <text>", ":teams-channel <text>", ":good | :bad | :stop"):
        assert line in demo.CHAT_HELP
