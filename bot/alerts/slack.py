"""Alerts in Slack: the message (Block Kit), its edits, the minute's digest, and the buttons.

AWS data (alarm names, reasons, finding titles, account names) never becomes
markup: free text goes into ``rich_text`` elements, which Slack shows as
written, and the few values in mrkdwn fields are escaped by :mod:`bot.slack.markup`.
Buttons carry only the key of the alert's message record; a click is decided on
the record read back from the alerts table.
"""

import logging
import re
import time
from datetime import UTC, datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.alerts import slack_home
from bot.alerts.grammar import KIND_LABELS
from bot.alerts.manage import AlertCommands
from bot.alerts.router import AlertView, DeliveryError, DigestView
from bot.alerts.store import Place
from bot.alerts.threads import AlertThreads
from bot.chat import ChatPlace, ChatUser
from bot.conversation import HomeView
from bot.slack.app import PLATFORM, PREFIX, SlackEdge, Slot
from bot.slack.blocks import clip, context, section
from bot.slack.markup import code, mrkdwn, notification
from centralops.accounts import AccountItem

logger = logging.getLogger(__name__)

INVESTIGATE = "centralops_alert_investigate"
MUTE = "centralops_alert_mute"
CONSOLE = "centralops_alert_console"
ALERT_EVENT = "centralops_alert"
DIGEST_LINES = 40

_STATE_ICON = {
    "ALARM": ":rotating_light:",
    "OK": ":white_check_mark:",
    "INSUFFICIENT_DATA": ":grey_question:",
}
_SEVERITY_ICON = {
    "critical": ":red_circle:",
    "high": ":large_orange_circle:",
    "medium": ":large_yellow_circle:",
    "low": ":large_blue_circle:",
    "info": ":white_circle:",
}


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _one_line(text: str) -> str:
    """Runs of whitespace (line breaks too) as one space, keeping a leading or trailing one."""
    inner = " ".join(text.split())
    return (" " if text[:1].isspace() else "") + inner + (" " if text[-1:].isspace() else "")


def _rich(*parts: tuple[str, bool]) -> dict[str, Any]:
    """A ``rich_text`` block of literal text (``(text, bold)`` parts): shown exactly as written."""
    elements = [
        {
            "type": "text",
            "text": clip(_one_line(t), 2900),
            **({"style": {"bold": True}} if bold else {}),
        }
        for t, bold in parts
        if t.strip()
    ]
    return {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": elements}]}


def icon(view: AlertView) -> str:
    """The emoji in front of the alert."""
    a = view.alert
    if a.resolved:
        return ":white_check_mark:"
    return _STATE_ICON.get(a.state) if a.kind == "alarm" else _SEVERITY_ICON.get(a.severity, ":bell:")  # type: ignore[return-value]


def alert_text(view: AlertView) -> str:
    """The notification text: plain, short, escaped."""
    a = view.alert
    return notification(f"{a.state} {a.title} in {view.account_name} ({a.account_id}) {a.region}", 200)


def alert_blocks(view: AlertView) -> list[dict[str, Any]]:
    """The alert message."""
    a = view.alert
    kind = KIND_LABELS.get(a.kind, "event").rstrip("s").replace("stop", "stopped")
    head = (
        f"{icon(view)} *{mrkdwn(a.state)}* · {mrkdwn(kind)} in *{mrkdwn(view.account_name)}* "
        f"{code(a.account_id)} · {code(a.region)}"
    )
    blocks: list[dict[str, Any]] = [section(head), _rich((a.title, True))]
    if a.reason:
        blocks.append(_rich((a.reason, False)))
    facts = [(k, v) for k, v in a.facts if v]
    if facts:
        parts: list[tuple[str, bool]] = []
        for i, (k, v) in enumerate(facts):
            parts += [(f"{' · ' if i else ''}{k}: ", True), (v, False)]
        blocks.append(_rich(*parts))
    notes = [f"{mrkdwn(_utc(a.time.timestamp()))}"]
    if view.environment:
        notes.append(f"environment {mrkdwn(view.environment)}")
    blocks.append(context(" · ".join(notes)))
    if view.flapping:
        blocks.append(
            context(
                f":repeat: Changed state {view.changes} times since {mrkdwn(_utc(view.first_at))}; shown here once."
            )
        )
    if view.muted_until > time.time():
        blocks.append(
            context(
                f":no_bell: Muted by {mrkdwn(view.muted_by or 'someone')} until "
                f"{mrkdwn(_utc(view.muted_until))}: kept up to date, nothing new is posted for it."
            )
        )
    buttons: list[dict[str, Any]] = [
        {
            "type": "button",
            "action_id": INVESTIGATE,
            "text": {"type": "plain_text", "text": "Investigate"},
            "style": "primary",
            "value": view.record_key,
        }
    ]
    if view.muted_until <= time.time():
        buttons.append(
            {
                "type": "button",
                "action_id": MUTE,
                "text": {"type": "plain_text", "text": "Mute 1 h"},
                "value": view.record_key,
            }
        )
    if a.console_url.startswith("https://"):
        buttons.append(
            {
                "type": "button",
                "action_id": CONSOLE,
                "text": {"type": "plain_text", "text": "Open in console"},
                "url": a.console_url[:3000],
            }
        )
    blocks.append({"type": "actions", "block_id": "alert", "elements": buttons})
    blocks.append(
        context(
            "Reply in this thread to ask CentralOps about it (no @mention needed); Investigate asks as you."
        )
    )
    return blocks


def digest_blocks(view: DigestView) -> list[dict[str, Any]]:
    """The minute's digest: one line per alert, all of them counted."""
    n = len(view.entries)
    blocks: list[dict[str, Any]] = [
        section(
            f":card_index_dividers: *{n} more alert{'s' if n != 1 else ''}* arrived in this channel "
            f"{mrkdwn(view.window)}; they are grouped here so the channel stays readable."
        )
    ]
    for e in view.entries[:DIGEST_LINES]:
        state = ":white_check_mark: OK" if e.state == "OK" else e.state
        blocks.append(
            _rich(
                (f"{state} ", True),
                (f"{e.title} ", False),
                (f"· {e.account_name} ({e.account_id}) · {e.region}", False),
            )
        )
    rest = view.entries[DIGEST_LINES:]
    if rest:
        by: dict[str, int] = {}
        for e in rest:
            by[e.account_name] = by.get(e.account_name, 0) + 1
        counts = ", ".join(f"{mrkdwn(k)} {v}" for k, v in sorted(by.items()))
        blocks.append(context(f"…and {len(rest)} more: {counts}."))
    return blocks[:50]


class SlackAlertPoster:
    """Posts and edits alert messages with the bot's Web API client.

    Args:
        client: The Slack Web API client (429s retried after Retry-After).
    """

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return await getattr(self.client, method)(**kwargs)
        except SlackApiError as e:
            logger.warning(
                "slack refused an alert message", extra={"method": method, "error": e.response.get("error")}
            )
            raise DeliveryError(f"Slack refused the alert message ({e.response.get('error')}).") from e
        except Exception as e:  # the network: aiohttp raises its own errors
            logger.warning(
                "slack unreachable for an alert", extra={"method": method, "error": type(e).__name__}
            )
            raise DeliveryError("Slack could not be reached.") from e

    async def post(self, place: Place, view: AlertView) -> str:
        """A new alert message."""
        got = await self._call(
            "chat_postMessage",
            channel=place.channel,
            text=alert_text(view),
            blocks=alert_blocks(view),
            metadata={"event_type": ALERT_EVENT, "event_payload": {"record": view.record_key}},
            unfurl_links=False,
        )
        return str(got["ts"])

    async def update(self, place: Place, ref: str, view: AlertView) -> None:
        """Edit the alert message."""
        await self._call(
            "chat_update", channel=place.channel, ts=ref, text=alert_text(view), blocks=alert_blocks(view)
        )

    async def post_digest(self, place: Place, view: DigestView) -> str:
        """A new digest message."""
        got = await self._call(
            "chat_postMessage",
            channel=place.channel,
            text=notification(f"{len(view.entries)} more alerts {view.window}"),
            blocks=digest_blocks(view),
        )
        return str(got["ts"])

    async def update_digest(self, place: Place, ref: str, view: DigestView) -> None:
        """Edit a digest message."""
        await self._call(
            "chat_update",
            channel=place.channel,
            ts=ref,
            text=notification(f"{len(view.entries)} more alerts {view.window}"),
            blocks=digest_blocks(view),
        )


def _click(body: dict[str, Any]) -> tuple[ChatUser, ChatPlace]:
    team = str((body.get("team") or {}).get("id", ""))
    user = body.get("user") or {}
    channel = str(
        (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
    )
    message = body.get("message") or {}
    thread = str(
        message.get("thread_ts") or message.get("ts") or (body.get("container") or {}).get("message_ts", "")
    )
    who = ChatUser(
        PLATFORM, team, str(user.get("id", "")), str(user.get("username") or user.get("name") or "")
    )
    return who, ChatPlace(PLATFORM, team, channel, thread)


REPLY_SUBTYPES = (None, "thread_broadcast", "file_share")
"""A person's reply: plain, also sent to the channel, or with a file. Edits, joins, deletions... are not."""
_PERSON = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def _bot_user(body: dict[str, Any], context: dict[str, Any]) -> str:
    """The bot's own user id (Bolt's ``auth.test``, else the event's bot authorization)."""
    known = context.get("bot_user_id")
    if known:
        return str(known)
    for auth in body.get("authorizations") or []:
        if isinstance(auth, dict) and auth.get("is_bot") and auth.get("user_id"):
            return str(auth["user_id"])
    return ""


async def on_reply(
    edge: SlackEdge,
    threads: AlertThreads,
    body: dict[str, Any],
    event: dict[str, Any],
    client: AsyncWebClient,
    context: dict[str, Any],
) -> None:
    """A channel message: a person's reply in an alert's thread is a question about the alert.

    Everything else is dropped before any read: bot messages, edits, joins and deletions
    (subtypes), top-level messages, replies whose thread a person started (``parent_user_id``),
    threads this replica already knows are not an alert's, replies that @mention the bot (the
    ``app_mention`` event answers those, once, with the same alert) and replies that @mention
    only other people (they are talking to each other).
    """
    if event.get("subtype") not in REPLY_SUBTYPES or event.get("bot_id"):
        return
    if event.get("channel_type") not in (None, "channel", "group"):
        return
    thread, ts, channel = event.get("thread_ts"), event.get("ts"), event.get("channel")
    if not thread or not ts or not channel or thread == ts or not event.get("user"):
        return
    me = _bot_user(body, context)
    mentioned = set(_PERSON.findall(str(event.get("text") or "")))
    if me in mentioned or (mentioned and not me):
        return  # app_mention answers it
    if mentioned:
        return  # addressed to colleagues, not to CentralOps

    parent = event.get("parent_user_id")
    if parent and me and parent != me:
        return
    team = str(body.get("team_id") or event.get("team", ""))
    alert = await threads.alert_of(ChatPlace(PLATFORM, team, str(channel), str(thread)))
    if alert is None:
        return
    await edge._event(body, event, client, "reply", alert=alert)


def register(edge: SlackEdge, commands: AlertCommands) -> None:
    """Add the alert buttons to the Slack edge's Bolt app, the subscriptions to App Home and the prompts."""

    async def home(team: str, view: HomeView) -> list[dict[str, Any]]:
        return await slack_home.home_section(commands, ChatPlace(PLATFORM, team, ""), view, PREFIX)

    async def prompts(place: ChatPlace, accounts: list[AccountItem]) -> list[dict[str, str]]:
        return await slack_home.channel_prompts(commands, place, accounts)

    edge.home_sections.append(home)
    edge.channel_prompts = prompts

    async def on_investigate(body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        who, place = _click(body)
        async with Slot(edge.starting) as slot:
            renderer = edge.renderer(client, place, who, response_url=body.get("response_url"))
            found = await commands.investigation(str(action.get("value", "")), who, place, renderer)
            if found is None:
                return
            for prompt in found.prompts:
                await edge._handle(client, who, place, prompt, "followup", slot)

    async def on_mute(body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        who, place = _click(body)
        renderer = edge.renderer(client, place, who, response_url=body.get("response_url"))
        await commands.mute(str(action.get("value", "")), who, place, renderer, PREFIX)

    async def on_console(ack: Any) -> None:
        await ack()  # a link button: Slack opens the URL and still sends the click

    threads = AlertThreads(commands.store)
    edge.thread_alert = threads.alert_of
    edge.channel_message = lambda body, event, client, context: on_reply(
        edge, threads, body, event, client, context
    )

    edge.app.action(INVESTIGATE)(edge._acked(on_investigate))
    edge.app.action(MUTE)(edge._acked(on_mute))
    edge.app.action(CONSOLE)(on_console)
