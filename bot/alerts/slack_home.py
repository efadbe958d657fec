"""Alerts on Slack's App Home and in the assistant view.

- **App Home, for admins** (the approver group, which App Home calls admins, and
  the alerts admin group, who change subscriptions): every channel of the
  workspace that gets alerts, and what each gets: scope (accounts,
  environments), kinds and minimum severity. The list is bounded for Slack's
  100-block view: :data:`CHANNELS_SHOWN` channels of :data:`LINES_PER_CHANNEL`
  subscriptions each, and the rest counted with where to see it
  (``/aws subscriptions`` in the channel). Everyone else sees no other
  channel's subscriptions here; in a channel, ``/aws subscriptions`` lists that
  channel's for anyone in it.
- **Assistant prompts**: questions that fit the subscriptions of the channel
  being viewed (:mod:`bot.alerts.prompts`), from the router's subscription
  cache (at most one ``GetItem`` per replica every few seconds).

All subscriptions live in one item of the alerts table, so "every channel" is
one ``GetItem``, never a ``Scan``; the item's 400 KB bounds how many there are.
"""

import re
from typing import Any

from bot.alerts.manage import AlertCommands
from bot.alerts.prompts import subscription_prompts
from bot.alerts.store import Place
from bot.chat import ChatPlace
from bot.conversation import HomeView
from bot.slack.blocks import context, section
from bot.slack.markup import code, mrkdwn
from centralops.accounts import AccountItem
from centralops.errors import CentralOpsError

CHANNELS_SHOWN = 20
LINES_PER_CHANNEL = 5
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,20}$")


def channel_ref(channel: str) -> str:
    """A channel as Slack shows it (its name, for those who may see it); anything else as inert code."""
    return f"<#{channel}>" if _CHANNEL_ID.match(channel) else code(channel)


def may_see_subscriptions(view: HomeView, admin_group: str) -> bool:
    """Whether App Home shows the workspace's subscriptions to this person."""
    return view.admin or admin_group in view.groups


def subscription_blocks(channels: list[tuple[str, list[str]]], prefix: str) -> list[dict[str, Any]]:
    """The "Channel subscriptions" part of App Home: one section per channel, bounded."""
    out: list[dict[str, Any]] = [{"type": "divider"}, section("*Channel subscriptions* (admins)")]
    if not channels:
        example = f"`{prefix} subscribe production alarms here`"
        out.append(section(f"_No channel gets alerts yet. An alerts admin types {example} in a channel._"))
        return out
    for channel, subs in channels[:CHANNELS_SHOWN]:
        lines = [f"• {mrkdwn(s)}" for s in subs[:LINES_PER_CHANNEL]]
        if len(subs) > LINES_PER_CHANNEL:
            lines.append(
                f"_…and {len(subs) - LINES_PER_CHANNEL} more: `{prefix} subscriptions` in the channel lists them._"
            )
        out.append(section(f"{channel_ref(channel)}\n" + "\n".join(lines)))
    if len(channels) > CHANNELS_SHOWN:
        more = len(channels) - CHANNELS_SHOWN
        out.append(
            context(
                f"…and {more} more channel{'s' if more != 1 else ''}: "
                f"`{prefix} subscriptions` in a channel shows what it gets."
            )
        )
    return out


async def home_section(
    commands: AlertCommands, place: ChatPlace, view: HomeView, prefix: str
) -> list[dict[str, Any]]:
    """App Home's subscriptions part for ``view``'s person in ``place``'s workspace (nothing for non-admins)."""
    if not may_see_subscriptions(view, commands.admin_group):
        return []
    try:
        channels = await commands.by_channel(place.platform, place.team)
    except CentralOpsError as e:
        return [{"type": "divider"}, context(f":warning: {mrkdwn(e.message)}")]
    return subscription_blocks(channels, prefix)


async def channel_prompts(
    commands: AlertCommands, place: ChatPlace, accounts: list[AccountItem]
) -> list[dict[str, str]]:
    """Prompts about what ``place`` subscribes to, within ``accounts`` (the person's)."""
    here = Place(place.platform, place.team, place.channel)
    subs = [s for s in await commands.router.subscriptions() if s.place == here]
    return subscription_prompts(subs, accounts)
