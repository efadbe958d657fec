"""Alarms on the whole local stack: member bus → central queue → bot → channel; Investigate and a reply in
the alarm's thread through the real agent and bridge, as the person who clicked or replied."""

import asyncio
import json

import pytest

from infra.local import events, org
from infra.local.alerts_demo import alert_message
from infra.local.consoles.slack import SlackConsole, Thread
from infra.local.org import StackInfo
from tests.fixtures.aws import session

pytestmark = pytest.mark.e2e

CHANNEL = "C0ALERTS"
PRODUCTION = org.account("production").account_id
LEGACY = next(a for a in org.ACCOUNTS if not a.enabled)


async def both_answers(thread: Thread) -> Thread:
    """The thread once both prepared queries of an Investigate click have answered."""
    for _ in range(300):
        if len(thread.answers()) >= 2:
            return thread
        await asyncio.sleep(0.2)
        await thread.refresh()
    raise TimeoutError(thread.render())


async def test_alarm_arrives_investigate_refuses_the_unentitled_and_ok_edits(
    info: StackInfo, slack: SlackConsole
) -> None:
    done = await slack.slash("bob", "subscribe production alarms here", CHANNEL)
    assert "now gets CloudWatch alarms" in done.render()
    await asyncio.to_thread(
        events.set_alarm_state,
        info.moto_url,
        PRODUCTION,
        "production-errors",
        "ALARM",
        "Threshold Crossed <!here>",
    )
    message = await alert_message(slack, CHANNEL, "ALARM", "production-errors")
    assert f"`{PRODUCTION}`" in json.dumps(message["blocks"])
    # The reason is data: a rich_text text element (shown as written), never in a mrkdwn field.
    mrkdwn = [str(b.get("text", {}).get("text", "")) for b in message["blocks"] if b["type"] == "section"]
    assert all("<!here>" not in t for t in mrkdwn) and "<!here>" not in message["text"]
    (reason,) = [b for b in message["blocks"] if b["type"] == "rich_text" and "<!here>" in json.dumps(b)]
    assert reason["elements"][0]["elements"][0]["type"] == "text"

    thread = Thread(slack, CHANNEL, message["ts"], "U0DAVE", "0")
    refused = await both_answers(await slack.click("dave", thread, "Investigate", wait_s=60))
    shown = refused.render()
    assert "production" in shown and "centralops-operators" in shown  # the agent's usual refusal
    assert "Datapoints" not in shown and "MetricAlarms" not in shown

    answered = await both_answers(await slack.click("alice", thread, "Investigate", wait_s=60))
    assert "MetricAlarms" in answered.render()

    # A reply in the thread, no @mention, naming no account: the real agent asks about this alarm.
    asked = await slack.reply(
        "alice", "show me its metric for the last hour", message["ts"], CHANNEL, wait_s=60
    )
    (answer,) = asked.answers()
    assert answer["thread_ts"] == message["ts"] and "production" in json.dumps(answer)
    assert "get-metric-statistics" in json.dumps(answer) and "Datapoints" in json.dumps(answer)
    refused = await slack.reply("dave", "why is it firing?", message["ts"], CHANNEL, wait_s=60)
    (refusal,) = refused.answers()
    assert "centralops-operators" in json.dumps(refusal) and "MetricAlarms" not in json.dumps(refusal)

    await asyncio.to_thread(
        events.set_alarm_state, info.moto_url, PRODUCTION, "production-errors", "OK", "back"
    )
    resolved = await alert_message(slack, CHANNEL, "OK", "production-errors")
    assert resolved["ts"] == message["ts"]  # the same message, edited


async def test_a_disabled_accounts_alarm_never_reaches_a_channel_and_is_dead_lettered(
    info: StackInfo, slack: SlackConsole
) -> None:
    await slack.slash("bob", "subscribe everything", "C0ALL")
    await asyncio.to_thread(
        events.set_alarm_state, info.moto_url, LEGACY.account_id, "legacy-x", "ALARM", "r"
    )
    sqs = session().client("sqs", endpoint_url=info.moto_url)
    dlq = sqs.get_queue_url(QueueName=events.DEAD_LETTERS)["QueueUrl"]
    for _ in range(60):
        got = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"], WaitTimeSeconds=1)
        found = [m for m in got.get("Messages", []) if LEGACY.account_id in m["Body"]]
        if found:
            break
    assert "not registered" in found[0]["MessageAttributes"]["reason"]["StringValue"]
    assert not [m for m in await slack.channel_messages("C0ALL") if "legacy-x" in json.dumps(m.get("blocks"))]
