"""What Teams shows in a notification or preview: each message's ``summary``, a short plain-text line.

Every message the bot writes (streamed answers, channel progress and answers,
text-only notices, cards, the welcome) carries one, and hostile data (markdown,
HTML, entities, mentions, links) never forms markup in it. The Connector
stand-in also checks every message it receives the same way
(:func:`infra.local.payload_checks.teams_notification`).
"""

from typing import Any

import httpx
import pytest

from bot.teams.cards import plain_summary
from centralops import events
from infra.local.consoles.teams import BOT_ID, CHANNEL, GROUP_CHAT
from infra.local.payload_checks import SUMMARY_CHARS, teams_notification
from tests.fixtures.teams_fakes import TeamsStack

EVIL = (
    "**Bold** [click](https://evil.example) <at>Bob</at> <b>html</b> &lt;i&gt;entity&lt;/i&gt; "
    "&amp;lt;script&amp;gt; `code` _it_ ~~gone~~ <!channel> \u202eevil"
)
MARKUP = ["**", "](", "<", ">", "&lt;", "&amp;", "&gt;", "`", "~~", "\n", "\u202e", " _it_", "[click]"]


def assert_plain(summary: str) -> None:
    assert summary and len(summary) <= SUMMARY_CHARS, summary
    assert teams_notification({"type": "message", "text": "x", "summary": summary}) == [], summary
    for mark in MARKUP:
        assert mark not in summary, (mark, summary)


def written(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every message activity the bot sent or updated (streaming updates are ``typing``)."""
    return [c["activity"] for c in calls if c["op"] in ("send", "reply", "update") and c["type"] == "message"]


async def problems(teams: TeamsStack) -> list[Any]:
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{teams.console.connector_url}/_stand-in/problems")
        return list(r.json()["problems"])


@pytest.mark.parametrize(
    "text, shown",
    [
        (EVIL, "Bold click Bob html entity code it gone evil"),
        ("# Buckets\n| Name | Region |\n|---|---|\n| a_b | us-east-1 |", "Buckets Name Region a_b us-east-1"),
        ("- one\n- two\n\n> -5 degrees", "one two -5 degrees"),
        ("&amp;amp;lt;b&amp;amp;gt;x", "x"),
        ("AT&T &zzz; &#60;b&#62;", "AT&T & zzz;"),
        ("word " * 60, ("word " * 30)[: SUMMARY_CHARS - 1].rstrip() + "…"),
    ],
)
def test_a_summary_is_the_words_without_any_markup(text: str, shown: str) -> None:
    summary = plain_summary(text)
    assert summary == shown
    assert_plain(summary)


def script(teams: TeamsStack) -> None:
    teams.runtime.script(
        "q",
        (0, events.tool_start(EVIL, "aws s3 ls")),
        (0.05, events.tool_end(EVIL, "aws s3 ls", ok=True, ms=12)),
        (0.05, events.text(f"{EVIL}\n\nMore lines follow.\n")),
        (0, events.table(["Bucket", "Tag"], [[EVIL, EVIL]], title=EVIL)),
        (
            0,
            {
                "type": "approval",
                "approval_id": "appr-summary-0001",
                "command": f"aws s3 rb s3://{EVIL}",
                "accounts": ["staging"],
                "reason": EVIL,
                "risk": "mutating",
            },
        ),
        (0, events.done("s")),
    )


@pytest.mark.parametrize("surface", ["personal", "channel", "groupChat"])
async def test_every_message_of_an_answer_has_a_plain_summary(teams: TeamsStack, surface: str) -> None:
    script(teams)
    if surface == "personal":
        exchange = await teams.console.personal("alice", "q")
    elif surface == "channel":
        exchange = await teams.console.channel("alice", "q")
    else:
        exchange = await teams.console.group("alice", "q")
    await teams.bot.background.drain(timeout_s=10)
    assert exchange.conversation_id.split(";")[0] in (exchange.conversation_id, CHANNEL, GROUP_CHAT)
    sent = written(await teams.console.activities(exchange.conversation_id))
    assert sent, "the answer was written"
    for activity in sent:
        assert_plain(activity["summary"])
    summaries = [a["summary"] for a in sent]
    # The answer's notification reads like the answer; the card's names what it asks for.
    assert any(s.startswith("Bold click Bob html entity") for s in summaries), summaries
    assert any(s.startswith("Approval needed: aws s3 rb s3://") for s in summaries), summaries
    if surface != "personal":
        assert any(s.startswith("⏳") for s in summaries), "the progress message has its own summary"
    assert await problems(teams) == []


async def test_notices_errors_and_the_welcome_have_a_plain_summary(teams: TeamsStack) -> None:
    teams.runtime.script("bad", (0, events.error("Internal", EVIL)), (0, events.done("s")))
    chat = await teams.console.personal("alice", "help")
    failed = await teams.console.channel("alice", "bad")
    installed = teams.console._base("bob", teams.console.personal_conversation("bob"), {})
    installed.update({"type": "conversationUpdate", "membersAdded": [{"id": BOT_ID}]})
    await teams.console.post(installed)
    await teams.bot.background.drain(timeout_s=10)
    for conversation in (chat.conversation_id, failed.conversation_id, installed["conversation"]["id"]):
        sent = written(await teams.console.activities(conversation))
        assert sent, conversation
        for activity in sent:
            assert_plain(activity["summary"])
    [help_text] = [m for m in chat.messages if m["text"]]
    assert help_text["summary"].startswith("CentralOps answers questions about your AWS accounts")
    assert await problems(teams) == []


def test_the_stand_in_refuses_a_message_without_a_plain_summary() -> None:
    assert teams_notification({"type": "message", "text": "hi"})
    assert teams_notification({"type": "message", "text": "hi", "summary": "**hi**"})
    assert teams_notification({"type": "message", "text": "hi", "summary": "x" * (SUMMARY_CHARS + 1)})
    assert teams_notification({"type": "message", "text": "hi", "summary": "a &lt;b&gt;"})
    assert teams_notification({"type": "message", "text": "hi", "summary": "hi"}) == []
    assert teams_notification({"type": "typing", "text": "partial"}) == []


def test_a_long_text_is_read_from_its_start_and_all_of_it_when_the_start_is_only_markup() -> None:
    assert (
        plain_summary("Three buckets.\n" + "| a | b |\n" * 5000)
        == ("Three buckets. " + "a b " * 40)[: SUMMARY_CHARS - 1].rstrip() + "…"
    )
    assert plain_summary("|" + "-" * 5000 + "|\n**The words**") == "The words"


def test_a_card_only_message_is_summed_up_by_the_words_of_its_card() -> None:
    from datetime import UTC, datetime

    from microsoft_agents.activity import Activity, ActivityTypes

    from bot.chat import ApprovalCard
    from bot.teams import cards
    from bot.teams.outgoing import summarize

    card = ApprovalCard(
        "a1", EVIL, [EVIL], EVIL, "mutating", EVIL, "approved", "bob@example.com", datetime.now(UTC)
    )
    activity = Activity(type=ActivityTypes.message, attachments=[cards.attachment(cards.decided(card))])
    summarize(activity)
    assert activity.summary is not None and activity.summary.startswith("Approved by bob@example.com Decided")
    assert_plain(activity.summary)
    typing = Activity(type=ActivityTypes.typing, text=EVIL)
    summarize(typing)
    assert typing.summary is None
