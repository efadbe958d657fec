"""Subscriptions in Slack's native surfaces: the assistant's suggested prompts and App Home for admins.

Through the real Bolt app, the Slack stand-in (which checks every payload) and
the alerts table in moto.
"""

import asyncio
import json
import time
from typing import Any

from bot.alerts.slack_home import CHANNELS_SHOWN, LINES_PER_CHANNEL
from bot.alerts.store import Place, Subscription
from infra.local import org
from tests.fixtures.alerts import CHANNEL, PRODUCTION, STAGING, AlertsStack
from tests.fixtures.alerts import alerts_slack as alerts_slack
from tests.fixtures.slack_stack import slack_cognito as slack_cognito

TEAM = org.SLACK_TEAM_ID
HOSTILE = "<!channel> *x* <https://evil.example|y>"


async def offered(stack: AlertsStack, user: str, ts: str, title: str | None = None) -> dict[str, Any]:
    """The assistant thread's state once prompts (titled ``title``, when given) are set."""
    key = f"D{org.person(user).slack_user_id[1:]}:{ts}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = (await stack.console.assistant()).get(key, {})
        if state.get("prompts") and (title is None or state.get("prompts_title") == title):
            return dict(state)
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no prompts offered in {key}")


async def add(stack: AlertsStack, channel: str, **selection: Any) -> None:
    """Subscribe ``channel`` (later than every subscription so far, as the listing orders them)."""
    after = len(await stack.alerts.store.subscriptions()) + 1
    sub = Subscription(Place("slack", TEAM, channel), created_at=int(time.time()) + after, **selection)
    await stack.alerts.store.put_subscription(sub)
    stack.alerts.router.forget_subscriptions()


async def rename(stack: AlertsStack, account_id: str, name: str) -> None:
    """Give a registered account another name, as an admin editing the registry would."""
    table = stack.alerts.commands.accounts.table
    await table.call(
        "update_item",
        Key={"account_id": {"S": account_id}},
        UpdateExpression="SET #n = :n",
        ExpressionAttributeNames={"#n": "name"},
        ExpressionAttributeValues={":n": {"S": name}},
    )


async def test_prompts_fit_the_viewed_channels_subscriptions(alerts_slack: AlertsStack) -> None:
    await alerts_slack.console.slash("bob", "subscribe production alarms here", CHANNEL)
    await add(alerts_slack, CHANNEL, accounts=(STAGING,), kinds=("finding",), min_severity="high")
    ts = await alerts_slack.console.assistant_thread("alice", viewing=CHANNEL)
    state = await offered(alerts_slack, "alice", ts)
    assert state["prompts_title"] == "For this channel's alerts"
    assert state["prompts"][:2] == [
        {"title": "Alarms firing in production", "message": "which alarms are firing in production?"},
        {"title": "GuardDuty findings in staging", "message": "any GuardDuty findings in staging?"},
    ]
    assert len(state["prompts"]) == 4  # the rest: the accounts alice may query
    # Another channel without subscriptions: no alert prompts there.
    await alerts_slack.console.assistant_viewing("alice", ts, "C0OTHER")
    other = await offered(alerts_slack, "alice", ts, "Try asking")
    assert not any("firing" in p["message"] for p in other["prompts"])


async def test_prompts_name_only_what_the_person_may_query(alerts_slack: AlertsStack) -> None:
    # dave has no group: production (operators only) is never suggested to him; staging is.
    await add(alerts_slack, CHANNEL, environments=("production",), kinds=("alarm",))
    await add(alerts_slack, CHANNEL, accounts=(PRODUCTION, STAGING), kinds=("task", "event"))
    ts = await alerts_slack.console.assistant_thread("dave", viewing=CHANNEL)
    state = await offered(alerts_slack, "dave", ts)
    messages = [p["message"] for p in state["prompts"]]
    assert messages[0] == "which ECS tasks stopped in staging?"
    assert not any("production" in m for m in messages)


async def test_a_subscription_to_everything_asks_about_every_account(alerts_slack: AlertsStack) -> None:
    await alerts_slack.console.slash("bob", "subscribe everything", CHANNEL)
    ts = await alerts_slack.console.assistant_thread("alice", viewing=CHANNEL)
    state = await offered(alerts_slack, "alice", ts)
    assert state["prompts"][0] == {
        "title": "Alarms firing in every account",
        "message": "which alarms are firing in every account?",
    }


async def test_hostile_names_never_reach_a_prompt(alerts_slack: AlertsStack) -> None:
    await add(alerts_slack, CHANNEL, environments=(HOSTILE,), kinds=("alarm",))
    await rename(alerts_slack, STAGING, HOSTILE)
    await add(alerts_slack, CHANNEL, accounts=(STAGING,), kinds=("alarm",))
    ts = await alerts_slack.console.assistant_thread("alice", viewing=CHANNEL)
    state = await offered(alerts_slack, "alice", ts)
    shown = json.dumps(state["prompts"])
    assert "<" not in shown and "evil" not in shown and "*x*" not in shown
    assert state["prompts"][0]["message"] == f"which alarms are firing in {STAGING}?"


async def test_app_home_shows_admins_every_channels_subscriptions_bounded_and_escaped(
    alerts_slack: AlertsStack,
) -> None:
    for i in range(CHANNELS_SHOWN + 3):
        await add(alerts_slack, f"C0CH{i:03d}", environments=("production",), kinds=("alarm",))
    for kind in ("alarm", "finding", "health", "task", "event"):
        await add(alerts_slack, "C0BUSY", accounts=(STAGING,), kinds=(kind,))
        await add(alerts_slack, "C0BUSY", accounts=(PRODUCTION,), kinds=(kind,), min_severity="critical")
    await add(alerts_slack, "C0<!here>", environments=(HOSTILE,), kinds=("alarm",))

    view = await alerts_slack.console.open_home("bob")
    blocks = view["blocks"]
    assert len(blocks) <= 100
    shown = json.dumps(blocks, ensure_ascii=False)
    assert "*Channel subscriptions* (admins)" in shown
    busy = next(b["text"]["text"] for b in blocks if "<#C0BUSY>" in (b.get("text") or {}).get("text", ""))
    assert busy.count("•") == LINES_PER_CHANNEL
    assert "…and 5 more: `/aws subscriptions` in the channel lists them." in busy
    assert "severity critical and above" in busy and "GuardDuty findings from `production`" in busy
    hidden = CHANNELS_SHOWN + 3 + 2 - CHANNELS_SHOWN
    assert f"…and {hidden} more channels: `/aws subscriptions` in a channel shows what it gets." in shown
    # Data stays data: no broadcast, bold or link forms from a channel id or an environment.
    assert "<!here>" not in shown and "<!channel>" not in shown and "<https://evil" not in shown
