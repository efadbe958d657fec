"""Every 429 the Bot Connector answers counts in the bot's ``ChatThrottled`` metric (platform ``teams``).

The Connector stand-in's ``rate_limit`` switch refuses writes as Teams does under
load; the EMF lines on stdout are read the way CloudWatch reads them.
"""

from typing import Any

import pytest

from centralops import events, metrics
from infra.local.consoles.teams import BOT_ID
from tests.fixtures import emf
from tests.fixtures.teams_fakes import TeamsStack

TEAMS = {"Platform": "teams", "service": "bot"}


async def refuse(teams: TeamsStack, method: str, count: int, status: int = 429) -> None:
    response = await teams.console._http.post(
        f"{teams.console.connector_url}/_stand-in/config",
        json={"rate_limit": {"method": method, "count": count, "retry_after": 0, "status": status}},
    )
    response.raise_for_status()


async def refusals(teams: TeamsStack, conversation: str | None = None) -> list[dict[str, Any]]:
    return [c for c in await teams.console.activities(conversation) if c["op"] == "refused"]


def throttled(capsys: pytest.CaptureFixture[str]) -> float:
    return emf.total(emf.values(capsys.readouterr().out), metrics.CHAT_THROTTLED, **TEAMS)


async def test_each_429_of_a_retried_notice_counts_once(
    teams: TeamsStack, capsys: pytest.CaptureFixture[str]
) -> None:
    await refuse(teams, "send", 3)
    chat = await teams.console.personal("alice", "help")
    assert "answers questions about your AWS accounts" in chat.text_of_all()  # arrived after the retries
    await teams.bot.background.drain(timeout_s=10)
    assert len(await refusals(teams, chat.conversation_id)) == 3
    assert throttled(capsys) == 3


async def test_429s_over_a_streamed_answer_and_a_channel_answer_are_all_counted(
    teams: TeamsStack, capsys: pytest.CaptureFixture[str]
) -> None:
    teams.runtime.script(
        "q",
        (0, events.tool_start("staging", "aws s3 ls")),
        (0.05, events.tool_end("staging", "aws s3 ls", ok=True, ms=12)),
        (0.05, events.text("Staging has 3 buckets.\n")),
        (0, events.done("s")),
    )
    await refuse(teams, "send", 2)
    chat = await teams.console.personal("alice", "q")
    assert "Staging has 3 buckets." in chat.text_of_all()
    await refuse(teams, "update", 2)
    post = await teams.console.channel("alice", "q")
    assert "Staging has 3 buckets." in post.text_of_all()
    await teams.bot.background.drain(timeout_s=10)
    assert len(await refusals(teams)) == 4
    assert throttled(capsys) == 4


async def test_a_write_of_an_incoming_turn_counts_its_429_too(
    teams: TeamsStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # The welcome goes out in the webhook's own turn, which does not retry: one refusal, one count.
    await refuse(teams, "send", 1)
    console = teams.console
    installed = console._base("alice", console.personal_conversation("alice"), {})
    installed.update({"type": "conversationUpdate", "membersAdded": [{"id": BOT_ID}]})
    await console.post(installed)  # Teams' request returns once the turn (and its refused welcome) ended
    assert await console.messages(installed["conversation"]["id"]) == []
    assert len(await refusals(teams)) == 1
    assert throttled(capsys) == 1


async def test_a_503_is_retried_but_is_no_429(teams: TeamsStack, capsys: pytest.CaptureFixture[str]) -> None:
    await refuse(teams, "send", 2, status=503)
    chat = await teams.console.personal("alice", "help")
    assert chat.messages
    await teams.bot.background.drain(timeout_s=10)
    assert len(await refusals(teams, chat.conversation_id)) == 2
    found = emf.values(capsys.readouterr().out)
    assert emf.total(found, metrics.CHAT_THROTTLED) == 0
