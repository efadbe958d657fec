"""Ask in Teams: a reply to an alert card's post (no @mention) is a question to the agent about the alert.

With ``ChannelMessage.Read.Group`` Teams delivers every channel message to the bot: the
activities here are those, through the real Agents SDK app; anything that is neither a mention
nor a reply to an alert card is left alone.
"""

import asyncio
import json
from typing import Any

import pytest

from bot.alerts import threads
from bot.alerts.setup import Alerts
from infra.local.consoles.teams import CHANNEL
from tests.bot.teams.test_alerts import teams_alerts as teams_alerts
from tests.fixtures.alerts import PRODUCTION, alarm_event
from tests.fixtures.teams_fakes import TeamsStack


def _cards(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if any("Investigate" in json.dumps(a) for a in m.get("attachments") or [])]


async def alert_card(teams: TeamsStack, alerts: Alerts) -> dict[str, Any]:
    await teams.console.channel("bob", "subscribe production alarms here")
    assert alerts.consumer is not None
    alerts.consumer.sqs.send_message(
        QueueUrl=alerts.consumer.queue_url, MessageBody=json.dumps(alarm_event())
    )
    await alerts.consumer.drain()
    (card,) = _cards(await teams.console.messages(CHANNEL))
    teams.runtime.calls.clear()
    return card


async def test_a_reply_to_the_alert_card_asks_about_the_alert_without_a_mention(
    teams_alerts: tuple[TeamsStack, Alerts],
) -> None:
    teams, alerts = teams_alerts
    card = await alert_card(teams, alerts)
    thread = f"{CHANNEL};messageid={card['id']}"
    reply = await teams.console.channel("alice", "why is it firing?", thread=thread, mention=False)
    await teams.bot.background.drain(timeout_s=20)
    (call,) = teams.runtime.calls
    body = call["body"]
    assert body["prompt"] == "why is it firing?"
    assert body["alert"]["account_id"] == PRODUCTION and body["alert"]["title"] == "prod-billing-errors"
    assert body["alert"]["region"] == "us-east-1" and body["alert"]["account_name"] == "production"
    assert body["context"]["thread"] == card["id"] and body["context"]["user"] == "aad-alice-0001"
    shown = json.dumps(await teams.console.messages(thread))
    assert "why is it firing?" in shown  # the scripted agent's answer, in the card's thread
    assert reply.turn is not None and reply.turn.status < 300


async def test_other_channel_messages_without_a_mention_are_left_alone(
    teams_alerts: tuple[TeamsStack, Alerts], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threads, "SETTLING_S", 0.0)  # as if the post were older than a minute
    teams, alerts = teams_alerts
    await alert_card(teams, alerts)
    before = alerts.store.table.client
    asked: list[str] = []
    before.meta.events.register("before-call.dynamodb", lambda model, **_: asked.append(model.name))
    top = await teams.console.channel("alice", "standup in five", mention=False, wait=False)
    assert asked == []  # a new post is no reply: nothing is read
    thread = f"{CHANNEL};messageid={top.activity_id}"
    for _ in range(2):
        await teams.console.channel("bob", "on my way", thread=thread, mention=False, wait=False)
    await asyncio.sleep(0.3)
    await teams.bot.background.drain(timeout_s=5)
    assert asked.count("Query") == 1  # the thread is remembered as not an alert's after one read
    assert teams.runtime.calls == []


async def test_a_reply_that_mentions_only_a_colleague_is_theirs(
    teams_alerts: tuple[TeamsStack, Alerts],
) -> None:
    teams, alerts = teams_alerts
    card = await alert_card(teams, alerts)
    console = teams.console
    channel_data = {"teamsChannelId": CHANNEL, "channel": {"id": CHANNEL}}
    activity = console.message_activity(
        "alice", "<at>Bob</at> can you look?", {}, channel_data, mention=False
    )
    activity["entities"].append(
        {"type": "mention", "text": "<at>Bob</at>", "mentioned": console.person("bob")}
    )
    activity["conversation"] = {
        "id": f"{CHANNEL};messageid={card['id']}",
        "conversationType": "channel",
        "isGroup": True,
        "tenantId": console.tenant_id,
    }
    activity["replyToId"] = card["id"]
    turn = await console.post(activity)
    await teams.bot.background.drain(timeout_s=5)
    assert turn.status < 300 and teams.runtime.calls == []


async def test_a_mention_in_the_alert_thread_is_answered_once_with_the_alert(
    teams_alerts: tuple[TeamsStack, Alerts],
) -> None:
    teams, alerts = teams_alerts
    card = await alert_card(teams, alerts)
    thread = f"{CHANNEL};messageid={card['id']}"
    await teams.console.channel("alice", "show me its metric for the last hour", thread=thread)
    await teams.bot.background.drain(timeout_s=20)
    (call,) = teams.runtime.calls
    assert call["body"]["prompt"] == "show me its metric for the last hour"  # the mention is stripped
    assert call["body"]["alert"]["account_id"] == PRODUCTION


async def test_an_unlinked_person_replying_gets_the_sign_in_card(
    teams_alerts: tuple[TeamsStack, Alerts],
) -> None:
    teams, alerts = teams_alerts
    card = await alert_card(teams, alerts)
    thread = f"{CHANNEL};messageid={card['id']}"
    reply = await teams.console.channel("carol", "why is it firing?", thread=thread, mention=False)
    await teams.bot.background.drain(timeout_s=20)
    assert teams.runtime.calls == []
    del reply
    sent = [a for a in await teams.console.activities() if "Sign in to CentralOps" in json.dumps(a)]
    assert len(sent) == 1 and "aad-carol-0003" in json.dumps(sent[0])  # shown to carol only


async def test_the_card_says_a_reply_is_enough(teams_alerts: tuple[TeamsStack, Alerts]) -> None:
    teams, alerts = teams_alerts
    card = await alert_card(teams, alerts)
    assert "Reply to this post to ask CentralOps about it" in json.dumps(card["attachments"])
