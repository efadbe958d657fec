"""Answers through a response_url (a channel the bot cannot post in) carry what a normal answer has.

Follow-up buttons and Approve / Deny work there: a click's payload carries a
response_url of its own, which replaces the decided card and carries the
resumed or follow-up answer. The stand-in counts the uses of each
response_url (five) and checks every payload.
"""

import asyncio
import html
from typing import Any

from bot.slack import reply
from centralops import events
from infra.local.consoles.slack import Thread
from tests.bot.slack.test_slack_approvals import COMMAND, gate
from tests.fixtures.slack_stack import SlackStack
from tests.fixtures.slack_stack import slack as slack
from tests.fixtures.slack_stack import slack_cognito as slack_cognito

SECRET = "G0SECRET"


def through_response_url(slack: SlackStack) -> list[dict[str, Any]]:
    return [m for m in slack.stand_in.messages.get(SECRET, []) if m.get("via") == "response_url"]


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message.get("blocks") or [] if b.get("type") == "actions" for e in b["elements"]]


def posted_by_the_web_api(slack: SlackStack) -> list[dict[str, Any]]:
    return [
        c
        for c in slack.stand_in.calls
        if c.get("channel") == SECRET and c.get("method") != "response_url" and c.get("ok")
    ]


async def private_channel(slack: SlackStack) -> None:
    await slack.console.configure(channel={"id": SECRET, "private": True, "member": False})


async def click(slack: SlackStack, user: str, message: dict[str, Any], button: str) -> None:
    """Click a button on a message posted through a response_url (no thread to read back)."""
    on = Thread(slack.console, SECRET, message["ts"], "", "")
    await slack.console.click(user, on, button, on=message, wait=False)


async def until(check: Any) -> None:
    for _ in range(300):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("nothing arrived through the response_url")  # pragma: no cover


async def test_a_response_url_answer_has_its_follow_ups_and_they_answer_the_same_way(
    slack: SlackStack,
) -> None:
    await private_channel(slack)
    followups: events.FollowupsEvent = {
        "type": "followups",
        "items": [{"label": "Bucket sizes", "prompt": "bucket sizes in staging"}],
    }
    slack.runtime.script("q", [events.text("3 buckets."), followups, events.done("s")])
    slack.runtime.script("bucket sizes in staging", [events.text("All under 1 GB."), events.done("s")])
    await slack.console.slash("alice", "q", SECRET)
    [answer] = through_response_url(slack)
    assert [e["text"]["text"] for e in buttons(answer)] == ["Bucket sizes"]

    await click(slack, "alice", answer, "Bucket sizes")
    await until(lambda: len(through_response_url(slack)) == 2)
    _, second = through_response_url(slack)
    shown = html.unescape(str(second["blocks"]))
    assert "All under 1 GB." in shown and "bucket sizes in staging" in shown
    assert reply.posted_through_response_url(second)
    first_call, followup_call = slack.runtime.invocations
    assert followup_call.body["prompt"] == "bucket sizes in staging"
    assert followup_call.body["context"]["thread"] == first_call.body["context"]["thread"], "one conversation"
    assert not posted_by_the_web_api(slack), "nothing was posted where the bot cannot post"
    assert slack.stand_in.problems == []


async def test_approve_on_a_response_url_card_replaces_it_and_the_result_arrives(slack: SlackStack) -> None:
    await private_channel(slack)
    slack.runtime.script("raise the timeout of prod-api", gate(slack, "alice@example.com", ["production"]))
    slack.runtime.script("resume:approved", [events.text("Done: timeout is 30 s."), events.done("s")])
    await slack.console.slash("alice", "raise the timeout of prod-api", SECRET)
    [card] = [m for m in through_response_url(slack) if buttons(m)]
    assert [e["text"]["text"] for e in buttons(card)] == ["Approve", "Deny"]
    assert COMMAND in html.unescape(str(card["blocks"]))

    await click(slack, "bob", card, "Approve")
    await until(lambda: "Done: timeout is 30 s." in html.unescape(str(through_response_url(slack))))
    [decided] = [m for m in through_response_url(slack) if m["ts"] == card["ts"]]
    assert decided["edits"] == 1 and not buttons(decided), "the card was replaced, without buttons"
    assert "Approved" in html.unescape(str(decided["blocks"]))
    assert "Done: timeout is 30 s." in html.unescape(str(through_response_url(slack)))
    assert slack.runtime.invocations[-1].body["resume"]["decision"] == "approved"
    assert not posted_by_the_web_api(slack)
    assert slack.stand_in.problems == []


async def test_the_requester_cannot_approve_their_own_change_there_either(slack: SlackStack) -> None:
    await private_channel(slack)
    slack.runtime.script("raise the timeout of prod-api", gate(slack, "bob@example.com", ["production"]))
    await slack.console.slash("bob", "raise the timeout of prod-api", SECRET)
    [card] = [m for m in through_response_url(slack) if buttons(m)]
    await click(slack, "bob", card, "Approve")
    await until(lambda: any("own change" in str(e) for e in slack.stand_in.ephemeral))
    # The refusal reached the requester privately; the card is unchanged.
    assert next(m for m in through_response_url(slack) if m["ts"] == card["ts"]).get("edits", 0) == 0
