"""Alerts in Slack, end to end through the real Bolt app, the Slack stand-in, moto's SQS and DynamoDB."""

import asyncio
import json
from collections.abc import Callable

from centralops import events
from infra.local.consoles.slack import Thread
from tests.fixtures.alerts import (
    CHANNEL,
    PRODUCTION,
    QUIET,
    STAGING,
    AlertsStack,
    alarm_event,
)
from tests.fixtures.alerts import alerts_slack as alerts_slack
from tests.fixtures.slack_stack import slack_cognito as slack_cognito


async def until(done: Callable[[], bool], thread: Thread, wait_s: float = 30) -> None:
    """Refresh ``thread`` until ``done()``."""
    for _ in range(int(wait_s / 0.1)):
        if done():
            return
        await asyncio.sleep(0.1)
        await thread.refresh()
    raise TimeoutError(thread.render())


async def subscribe(stack: AlertsStack, text: str = "production alarms here", channel: str = CHANNEL) -> str:
    thread = await stack.console.slash("bob", f"subscribe {text}", channel)
    return str(thread.ephemeral[-1]["text"])


def alert_messages(messages: list[dict]) -> list[dict]:
    return [m for m in messages if (m.get("metadata") or {}).get("event_type") == "centralops_alert"]


async def test_only_admins_change_subscriptions_and_everyone_may_list_them(alerts_slack: AlertsStack) -> None:
    refused = await alerts_slack.console.slash("alice", "subscribe production alarms here", CHANNEL)
    assert "Only members of *centralops-approvers*" in refused.ephemeral[-1]["text"]
    said = await subscribe(alerts_slack)
    assert "CloudWatch alarms from `production` accounts" in said
    listing = await alerts_slack.console.slash("dave", "subscriptions", CHANNEL)
    assert (
        "CloudWatch alarms from `production` accounts, severity low and above"
        in listing.ephemeral[-1]["text"]
    )
    typo = await alerts_slack.console.slash("bob", "subscribe prodution alarms", CHANNEL)
    assert "I do not know prodution" in typo.ephemeral[-1]["text"]
    assert len(await alerts_slack.alerts.store.subscriptions()) == 1


async def test_an_alarm_reaches_only_subscribed_channels_with_its_facts(alerts_slack: AlertsStack) -> None:
    await subscribe(alerts_slack)
    alerts_slack.put(alarm_event())
    assert (await alerts_slack.drain())["delivered"] == 1
    (message,) = alert_messages(await alerts_slack.console.channel_messages(CHANNEL))
    assert alert_messages(await alerts_slack.console.channel_messages(QUIET)) == []
    shown = json.dumps(message["blocks"])
    assert "*ALARM*" in shown and "*production*" in shown and f"`{PRODUCTION}`" in shown
    assert "prod-billing-errors" in shown and "Threshold Crossed" in shown and "us-east-1" in shown
    assert "2026-12-03" in shown
    labels = [e["text"]["text"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert labels == ["Investigate", "Mute 1 h", "Open in console"]
    console = next(
        e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"] if "url" in e
    )
    assert console["url"].startswith("https://us-east-1.console.aws.amazon.com/cloudwatch/")


async def test_staging_alarm_is_not_shown_to_a_production_subscription(alerts_slack: AlertsStack) -> None:
    await subscribe(alerts_slack)
    alerts_slack.put(alarm_event(account=STAGING, name="staging-api-errors"))
    assert (await alerts_slack.drain()) == {"unsubscribed": 1}
    assert alert_messages(await alerts_slack.console.channel_messages(CHANNEL)) == []


async def test_ok_edits_the_original_message_and_flapping_stays_one_message(
    alerts_slack: AlertsStack,
) -> None:
    await subscribe(alerts_slack)
    t = 1_796_300_000.0
    for i, state in enumerate(["ALARM", "OK", "ALARM", "OK"]):
        alerts_slack.put(alarm_event(state=state, at=t + 60 * i))
        await alerts_slack.drain()
    (message,) = alert_messages(await alerts_slack.console.channel_messages(CHANNEL))
    shown = json.dumps(message["blocks"])
    assert "*OK*" in shown and "Changed state 4 times" in shown
    updates = await alerts_slack.console.calls("chat.update")
    assert len(updates) == 3


async def test_duplicates_and_out_of_order_events_change_nothing(alerts_slack: AlertsStack) -> None:
    await subscribe(alerts_slack)
    t = 1_796_300_000.0
    alarm = alarm_event(state="ALARM", at=t)
    alerts_slack.put(alarm)
    alerts_slack.put(alarm)  # SQS delivers at least once
    await alerts_slack.drain()
    alerts_slack.put(alarm_event(state="OK", at=t + 120))
    await alerts_slack.drain()
    alerts_slack.put(alarm_event(state="ALARM", at=t + 60))  # older than the OK already shown
    await alerts_slack.drain()
    (message,) = alert_messages(await alerts_slack.console.channel_messages(CHANNEL))
    assert "*OK*" in json.dumps(message["blocks"])
    assert len(await alerts_slack.console.calls("chat.postMessage")) == 1


async def test_a_burst_from_many_accounts_is_grouped_and_every_alert_is_counted(
    alerts_slack: AlertsStack,
) -> None:
    await subscribe(alerts_slack, "everything")
    alerts_slack.alerts.router.per_minute = 2
    alerts_slack.now[0] = 1_796_300_040.0 - 0.3  # just before a minute ends: the digest follows at once
    accounts = [PRODUCTION, STAGING, "444444444444"]
    for i in range(9):
        alerts_slack.put(alarm_event(name=f"queue-depth-{i}", account=accounts[i % 3]))
    await alerts_slack.drain()
    messages = await alerts_slack.console.channel_messages(CHANNEL)
    assert len(alert_messages(messages)) == 2
    (digest,) = [m for m in messages if "more alerts" in m.get("text", "")]
    shown = json.dumps(digest["blocks"])
    assert "*7 more alerts*" in shown
    assert all(f"queue-depth-{i}" in json.dumps(messages) for i in range(9))


async def test_unregistered_account_and_poison_go_to_the_dead_letter_queue_and_the_consumer_goes_on(
    alerts_slack: AlertsStack,
) -> None:
    await subscribe(alerts_slack, "everything")
    alerts_slack.put(alarm_event(account="999999999999"))
    alerts_slack.put("this is not an event")
    alerts_slack.put(json.dumps({"id": "x", "detail": "nope"}))
    alerts_slack.put(alarm_event())
    outcomes = await alerts_slack.drain()
    assert outcomes == {"refused": 1, "poison": 2, "delivered": 1}
    reasons = sorted(m["MessageAttributes"]["reason"]["StringValue"] for m in alerts_slack.dead_letters())
    assert reasons[0].startswith("not an EventBridge event") and "not registered" in reasons[-1]
    assert len(alert_messages(await alerts_slack.console.channel_messages(CHANNEL))) == 1


async def test_a_failed_post_stays_on_the_queue_and_is_posted_once_after_a_restart(
    alerts_slack: AlertsStack,
) -> None:
    await subscribe(alerts_slack)
    await alerts_slack.console.configure(
        rate_limit={"method": "chat.postMessage", "count": 4, "retry_after": 0}
    )
    alerts_slack.put(alarm_event(event_id="e-restart"))
    assert (await alerts_slack.drain()) == {"retry": 1}
    # A new replica (a restart): fresh router and consumer on the same table and queue.
    from bot.alerts.consumer import AlertConsumer
    from bot.alerts.router import AlertRouter

    old = alerts_slack.alerts
    router = AlertRouter(old.store, old.router.posters, clock=lambda: alerts_slack.now[0])
    assert old.consumer is not None
    consumer = AlertConsumer(
        router, old.consumer.accounts, queue_url=alerts_slack.queue_url, dead_letter_url=alerts_slack.dlq_url,
        sqs=alerts_slack.sqs, wait_s=2,
    )  # fmt: skip
    for _ in range(10):  # the message comes back once its visibility timeout ends
        await consumer.drain()
        if consumer.outcomes.get("delivered"):
            break
    assert consumer.outcomes == {"delivered": 1}
    alerts_slack.put(alarm_event(event_id="e-restart"))  # and a late redelivery is ignored
    await consumer.drain()
    msgs = await alerts_slack.console.channel_messages(CHANNEL)
    assert len(alert_messages(msgs)) == 1


async def test_investigate_asks_as_the_clicker_in_the_alarm_thread(alerts_slack: AlertsStack) -> None:
    await subscribe(alerts_slack)
    alerts_slack.put(alarm_event())
    await alerts_slack.drain()
    (message,) = alert_messages(await alerts_slack.console.channel_messages(CHANNEL))
    thread = Thread(alerts_slack.console, CHANNEL, message["ts"], "U0ALICE", "0")
    after = await alerts_slack.console.click("alice", thread, "Investigate")
    await until(lambda: len(after.answers()) >= 2, after)  # two prepared queries, one after the other
    prompts = [i.body["prompt"] for i in alerts_slack.runtime.invocations]
    assert prompts[0] == (
        f"run aws cloudwatch describe-alarms --alarm-names prod-billing-errors --region us-east-1 in {PRODUCTION}"
    )
    assert prompts[1].startswith("run aws cloudwatch get-metric-statistics --namespace AWS/Lambda")
    assert "--dimensions Name=FunctionName,Value=prod-billing" in prompts[1]
    # Alice (an operator) may query staging and development too: the metric is compared there.
    targets = prompts[1].rsplit(" in ", 1)[1].split(",")
    assert targets[0] == PRODUCTION and sorted(targets[1:]) == sorted([STAGING, "444444444444"])
    for invocation in alerts_slack.runtime.invocations:
        assert invocation.body["context"]["user"] == "U0ALICE"
        assert alerts_slack.identity.claims(invocation.bearer)["cognito:username"] == "alice@example.com"
        assert invocation.body["context"]["thread"] == message["ts"]
    assert after.answers()[-1]["thread_ts"] == message["ts"]


async def test_investigate_by_someone_without_entitlement_gets_the_usual_refusal(
    alerts_slack: AlertsStack,
) -> None:
    await subscribe(alerts_slack)
    refusal = "You may not query production: it is limited to centralops-operators."
    alerts_slack.put(alarm_event())
    await alerts_slack.drain()
    (message,) = alert_messages(await alerts_slack.console.channel_messages(CHANNEL))
    alerts_slack.runtime.script(
        f"run aws cloudwatch describe-alarms --alarm-names prod-billing-errors --region us-east-1 in {PRODUCTION}",
        [events.error("not_entitled", refusal), events.done("s")],
    )
    thread = Thread(alerts_slack.console, CHANNEL, message["ts"], "U0DAVE", "0")
    after = await alerts_slack.console.click("dave", thread, "Investigate")
    # Dave is in no group: production is not his to query, and the agent answers as for any question.
    assert (
        alerts_slack.identity.claims(alerts_slack.runtime.invocations[0].bearer)["cognito:username"]
        == "dave@example.com"
    )
    assert refusal in after.render()


async def test_a_forged_or_foreign_button_value_does_nothing(alerts_slack: AlertsStack) -> None:
    await subscribe(alerts_slack)
    alerts_slack.put(alarm_event())
    await alerts_slack.drain()
    (message,) = alert_messages(await alerts_slack.console.channel_messages(CHANNEL))
    thread = Thread(alerts_slack.console, CHANNEL, message["ts"], "U0ALICE", "0")
    forged = "msg#slack#T0CENTRAL#C0OTHER#" + "0" * 32
    after = await alerts_slack.console.click("alice", thread, "Investigate", value=forged)
    assert "does not belong to an alert of this channel" in after.ephemeral[-1]["text"]
    assert alerts_slack.runtime.invocations == []


async def test_mute_keeps_the_message_current_and_needs_entitlement(alerts_slack: AlertsStack) -> None:
    await subscribe(alerts_slack)
    alerts_slack.put(alarm_event())
    await alerts_slack.drain()
    (message,) = alert_messages(await alerts_slack.console.channel_messages(CHANNEL))
    thread = Thread(alerts_slack.console, CHANNEL, message["ts"], "U0DAVE", "0")
    refused = await alerts_slack.console.click("dave", thread, "Mute 1 h")
    assert "cannot mute" in refused.ephemeral[-1]["text"]
    muted = await alerts_slack.console.click("alice", thread, "Mute 1 h")
    assert "Muted until" in muted.ephemeral[-1]["text"]
    (message,) = alert_messages(await alerts_slack.console.channel_messages(CHANNEL))
    shown = json.dumps(message["blocks"])
    assert "Muted by alice@example.com" in shown and "Mute 1 h" not in shown


async def test_hostile_alarm_names_and_reasons_stay_data(alerts_slack: AlertsStack) -> None:
    await subscribe(alerts_slack, "everything")
    hostile = "<!channel> *pwned* <https://evil.example|click> @here [x](https://evil.example)"
    alerts_slack.put(alarm_event(name=f"x' in 444444444444 --account 444444444444 {hostile}", reason=hostile))
    await alerts_slack.drain()
    (message,) = alert_messages(await alerts_slack.console.channel_messages(CHANNEL))
    mrkdwn = [
        t["text"] for b in message["blocks"] for t in [b.get("text") or {}] if t.get("type") == "mrkdwn"
    ]
    assert all("<!channel>" not in t for t in mrkdwn)
    assert "<!channel>" not in message["text"]
    thread = Thread(alerts_slack.console, CHANNEL, message["ts"], "U0ALICE", "0")
    await alerts_slack.console.click("alice", thread, "Investigate")
    # The name cannot be put into a command safely: no query carries it; the metric query still runs.
    (only,) = [i.body["prompt"] for i in alerts_slack.runtime.invocations]
    assert only.startswith("run aws cloudwatch get-metric-statistics") and "--account" not in only
    assert "pwned" not in only


async def test_app_home_lists_the_workspaces_channels_getting_alerts_to_admins(
    alerts_slack: AlertsStack,
) -> None:
    await subscribe(alerts_slack)
    view = await alerts_slack.console.open_home("bob")
    shown = json.dumps(view["blocks"])
    assert "*Channel subscriptions* (admins)" in shown
    assert f"<#{CHANNEL}>" in shown
    assert "CloudWatch alarms from `production` accounts, severity low and above" in shown
    # dave is no admin: no other channel's subscriptions on his App Home.
    dave = json.dumps((await alerts_slack.console.open_home("dave"))["blocks"])
    assert "Channel subscriptions" not in dave and "CloudWatch alarms" not in dave
