"""The alerts part of ``make demo``: an alarm arrives, someone investigates and asks, the alarm resolves.

Everything takes the production path: bob subscribes the channel with a signed
slash command; the local alarm simulator (:mod:`infra.local.events`) puts the
documented event on the production account's bus, from where it reaches the
central queue and the bot's consumer; alice's Investigate click asks the real
agent as alice, and so does her reply in the alarm's thread (no @mention); the OK
event edits the same message.
"""

import asyncio
import time
from typing import Any

from infra.local import events, org
from infra.local.consoles.slack import SlackConsole, Thread
from infra.local.slack_api import render_thread

ALARM = "production-errors"


async def alert_message(
    console: SlackConsole, channel: str, state: str, name: str = ALARM, wait_s: float = 30
) -> dict[str, Any]:
    """The channel's alert message for alarm ``name`` once it shows ``state``."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        for message in await console.channel_messages(channel):
            shown = str(message.get("blocks"))
            alert = (message.get("metadata") or {}).get("event_type") == "centralops_alert"
            if alert and f"*{state}*" in shown and name in shown:
                return message
        await asyncio.sleep(0.2)
    raise TimeoutError(f"no {state} alert for {name} in the channel within {wait_s:.0f} s")


async def alarm(info: org.StackInfo, console: SlackConsole, words: list[str], channel: str) -> Thread:
    """``:alarm <account> <alarm> <STATE>`` of ``make chat``: the alert's thread once the bot shows it.

    Raises:
        LookupError: The words do not name an account, an alarm and a state.
    """
    account = next((a for a in org.ACCOUNTS if len(words) == 3 and words[0] in (a.name, a.account_id)), None)
    if account is None or words[2].upper() not in ("ALARM", "OK", "INSUFFICIENT_DATA"):
        raise LookupError("usage: :alarm <account> <alarm name> <ALARM|OK|INSUFFICIENT_DATA>")
    state = words[2].upper()
    await asyncio.to_thread(
        events.set_alarm_state,
        info.moto_url,
        account.account_id,
        words[1],
        state,
        f"Set to {state} from the chat console.",
    )
    message = await alert_message(console, channel, state, words[1])
    thread = Thread(console, channel, message["ts"], "U0ALICE", "0")
    return await thread.refresh()


def _show(title: str, text: str) -> None:
    print(f"» {title}")
    print("\n".join(f"  {line}" for line in text.splitlines()))
    print(flush=True)


async def demo(info: org.StackInfo, console: SlackConsole, channel: str) -> int:
    """Play the alert scenario; 0 when every step showed what it should."""
    production = org.account("production").account_id
    try:
        subscribed = await console.slash("bob", "subscribe production alarms here", channel)
        _show("bob: /aws subscribe production alarms here", subscribed.render())
        await asyncio.to_thread(
            events.set_alarm_state,
            info.moto_url,
            production,
            ALARM,
            "ALARM",
            "Threshold Crossed: 1 out of the last 1 datapoints [4.0] was >= the threshold (1.0).",
        )
        message = await alert_message(console, channel, "ALARM")
        _show(f"the alarm {ALARM} in production fires; CentralOps posts it", render_thread([message]))
        thread = Thread(console, channel, message["ts"], "U0ALICE", "0")
        investigated = await console.click("alice", thread, "Investigate", wait_s=90)
        deadline = time.monotonic() + 90
        while len(investigated.answers()) < 2 and time.monotonic() < deadline:  # two prepared queries
            await asyncio.sleep(0.3)
            await investigated.refresh()
        _show("alice clicks Investigate (asked as alice, in the alarm's thread)", investigated.render())
        asked = await console.reply("alice", "is it still alarming?", message["ts"], channel, wait_s=90)
        said = [m for m in asked.messages if m.get("ts") == asked.since]  # her reply, then the answer
        _show(
            "alice replies in the thread, no @mention: the agent knows it is about this alarm",
            render_thread(said + asked.answers()),
        )
        await asyncio.to_thread(
            events.set_alarm_state,
            info.moto_url,
            production,
            ALARM,
            "OK",
            "Threshold Crossed: back below 1.0.",
        )
        resolved = await alert_message(console, channel, "OK")
        _show("the alarm resolves: the same message is edited", render_thread([resolved]))
    except (TimeoutError, LookupError) as e:
        print(f"  the alert scenario stopped: {e}\n", flush=True)
        return 1
    return 0
