"""Alerts in Teams: a subscribed channel gets an alert card, OK edits it, Investigate asks as the clicker."""

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bot.alerts.config import AlertsConfig
from bot.alerts.setup import Alerts, setup_alerts
from bot.conversation import Conversation
from bot.teams import TeamsBot
from infra.local.consoles.teams import CHANNEL, TeamsConversation
from tests.fixtures.alerts import ADMIN_GROUP, PRODUCTION, alarm_event, alerts_table, make_queues
from tests.fixtures.aws import CognitoPool, session
from tests.fixtures.teams_fakes import TeamsStack, start_teams_stack


@pytest.fixture
async def teams_alerts(moto_url: str, cognito: CognitoPool) -> AsyncIterator[tuple[TeamsStack, Alerts]]:
    dynamodb = session().client("dynamodb", endpoint_url=moto_url)
    sqs = session().client("sqs", endpoint_url=moto_url)
    queue, dlq = make_queues(sqs)
    table = alerts_table(dynamodb)
    made: list[Alerts] = []

    def extend(app: web.Application, conversation: Conversation, bot: TeamsBot) -> None:
        config = AlertsConfig(queue, dlq, table, ADMIN_GROUP, endpoint_url=moto_url, wait_s=0)
        made.append(
            setup_alerts(app, conversation, config, dynamodb=dynamodb, sqs=sqs, teams_bot=bot, consume=False)
        )

    async for stack in start_teams_stack(moto_url, cognito, extend=extend):
        yield stack, made[0]


def _cards(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if any("Investigate" in json.dumps(a) for a in m.get("attachments") or [])]


async def test_alert_card_in_a_subscribed_channel_edited_on_ok_and_investigated_as_the_clicker(
    teams_alerts: tuple[TeamsStack, Alerts],
) -> None:
    teams, alerts = teams_alerts
    refused = await teams.console.channel("alice", "subscribe production alarms here")
    assert "Only members of" in refused.text_of_all()
    done = await teams.console.channel("bob", "subscribe production alarms here")
    assert "now gets CloudWatch alarms" in done.text_of_all()
    sqs, consumer = alerts.consumer.sqs, alerts.consumer  # type: ignore[union-attr]
    sqs.send_message(QueueUrl=consumer.queue_url, MessageBody=json.dumps(alarm_event(at=1_796_300_000.0)))
    await consumer.drain()
    (card,) = _cards(await teams.console.messages(CHANNEL))
    shown = json.dumps(card["attachments"])
    assert "prod-billing-errors" in shown and PRODUCTION in shown and "Threshold Crossed" in shown
    sqs.send_message(
        QueueUrl=consumer.queue_url, MessageBody=json.dumps(alarm_event(state="OK", at=1_796_300_120.0))
    )
    await consumer.drain()
    (card,) = _cards(await teams.console.messages(CHANNEL))
    assert card["versions"] == 2 and "OK · prod-billing-errors" in json.dumps(
        card["attachments"], ensure_ascii=False
    )

    on = TeamsConversation("channel", f"{CHANNEL};messageid={card['id']}", "alice", "", card["id"], None)  # type: ignore[arg-type]
    data = next(
        a["data"]
        for a in card["attachments"][0]["content"]["actions"]
        if a.get("verb") == "alert_investigate"
    )
    turn, _ = await teams.console.click("alice", on, card["id"], "alert_investigate", data, wait=False)
    assert "read-only queries" in json.dumps(turn.body)
    await teams.bot.background.drain(timeout_s=20)
    prompts = [c["body"]["prompt"] for c in teams.runtime.calls]
    assert prompts[0].startswith("run aws cloudwatch describe-alarms --alarm-names prod-billing-errors")
    assert all(c["body"]["context"]["thread"] == card["id"] for c in teams.runtime.calls)
    assert all(c["body"]["context"]["user"] == "aad-alice-0001" for c in teams.runtime.calls)
