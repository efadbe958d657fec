"""Alerts in Microsoft Teams: Adaptive Cards posted unasked into subscribed channels, edits, buttons.

Posting without an incoming activity needs the tenant's Bot Connector service
URL: the edge remembers it (``teams-service#<tenant>`` in the alerts table)
from every activity it receives, so the ``subscribe`` command itself records it.
Every value from AWS is a ``TextRun`` (shown as written), like every card of
:mod:`bot.teams.cards`. Buttons are ``Action.Execute`` with only the message
record's key in ``data``.
"""

import logging
import time
from datetime import UTC, datetime
from typing import Any

from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    ChannelAccount,
    ConversationAccount,
    ConversationReference,
)
from microsoft_agents.hosting.core import ClaimsIdentity, TurnContext, TurnState

from bot.alerts.grammar import KIND_LABELS
from bot.alerts.manage import AlertCommands
from bot.alerts.router import AlertView, DeliveryError, DigestView
from bot.alerts.store import AlertStore, Place
from bot.alerts.threads import AlertThreads
from bot.chat import ChatRequest
from bot.teams import cards
from bot.teams.activities import continuation, inbound, tenant_of
from bot.teams.app import TeamsBot, _message_response
from bot.teams.render import ClickRenderer
from bot.teams.turns import Turns

logger = logging.getLogger(__name__)

INVESTIGATE = "alert_investigate"
MUTE = "alert_mute"
DIGEST_LINES = 30


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def alert_card(view: AlertView) -> dict[str, Any]:
    """The alert as an Adaptive Card."""
    a = view.alert
    color = "Good" if a.resolved else ("Attention" if a.severity in ("high", "critical") else "Warning")
    kind = KIND_LABELS.get(a.kind, "event")
    body: list[dict[str, Any]] = [
        cards.runs({"text": f"{a.state} · {a.title}", "weight": "Bolder", "size": "Medium", "color": color}),
        cards.facts(
            [
                ("Account", f"{view.account_name} ({a.account_id})"),
                ("Region", a.region),
                ("Kind", kind),
                ("When", _utc(a.time.timestamp())),
                *[(k, v) for k, v in a.facts if v],
            ]
        ),
    ]
    if a.reason:
        body.append(cards.runs(a.reason))
    if view.flapping:
        body.append(
            cards.runs(f"Changed state {view.changes} times since {_utc(view.first_at)}; shown here once.")
        )
    muted = view.muted_until > time.time()
    if muted:
        body.append(
            cards.runs(
                f"Muted by {view.muted_by or 'someone'} until {_utc(view.muted_until)}: kept up to date, "
                "nothing new is posted for it."
            )
        )
    body.append(
        cards.runs(
            {
                "text": "Reply to this post to ask CentralOps about it (no @mention needed); Investigate asks as you.",
                "isSubtle": True,
            }
        )
    )
    data = {"record": view.record_key}
    actions: list[dict[str, Any]] = [
        {
            "type": "Action.Execute",
            "title": "Investigate",
            "verb": INVESTIGATE,
            "data": data,
            "style": "positive",
        }
    ]
    if not muted:
        actions.append({"type": "Action.Execute", "title": "Mute 1 h", "verb": MUTE, "data": data})
    if a.console_url.startswith("https://"):
        actions.append({"type": "Action.OpenUrl", "title": "Open in console", "url": a.console_url})
    return cards.card(body, actions)


def digest_card(view: DigestView) -> dict[str, Any]:
    """The minute's digest as an Adaptive Card."""
    n = len(view.entries)
    body: list[dict[str, Any]] = [
        cards.runs(
            {
                "text": f"{n} more alert{'s' if n != 1 else ''} arrived in this channel {view.window}; "
                "they are grouped here so the channel stays readable.",
                "weight": "Bolder",
            }
        )
    ]
    body.extend(
        cards.runs(f"{e.state} · {e.title} · {e.account_name} ({e.account_id}) · {e.region}")
        for e in view.entries[:DIGEST_LINES]
    )
    rest = view.entries[DIGEST_LINES:]
    if rest:
        body.append(cards.runs(f"…and {len(rest)} more."))
    return cards.card(body)


class TeamsAlertPoster:
    """Posts and edits alert cards through the Teams edge's adapter.

    Args:
        bot: The Teams edge (its adapter and app id).
        store: Where each tenant's service URL is kept.
    """

    def __init__(self, bot: TeamsBot, store: AlertStore) -> None:
        self.bot = bot
        self.store = store
        self._service_urls: dict[str, str] = {}

    async def remember(self, context: TurnContext, _state: TurnState) -> bool:
        """A ``before_turn`` hook: keep the tenant's service URL when it is new or changed."""
        activity = context.activity
        tenant, url = tenant_of(activity), activity.service_url or ""
        if tenant and url and self._service_urls.get(tenant) != url:
            try:
                await self.store.put({"key": f"teams-service#{tenant}", "service_url": url, "ttl": 2**31 - 1})
                self._service_urls[tenant] = url
            except Exception as e:  # never fail a person's turn over this
                logger.warning("teams service url not kept", extra={"error": type(e).__name__})
        return True

    async def _service_url(self, tenant: str) -> str:
        if tenant not in self._service_urls:
            item = await self.store.get(f"teams-service#{tenant}")
            if not item or not item.get("service_url"):
                raise DeliveryError("No Teams service URL is known for this tenant yet; retrying.")
            self._service_urls[tenant] = str(item["service_url"])
        return self._service_urls[tenant]

    async def _send(self, place: Place, doc: dict[str, Any], summary: str, ref: str | None = None) -> str:
        app_id = self.bot.config.app_id or ""
        reference = ConversationReference(
            channel_id="msteams",  # type: ignore[arg-type]  # the SDK coerces the string
            service_url=await self._service_url(place.team),
            conversation=ConversationAccount(id=place.channel, tenant_id=place.team),
            agent=ChannelAccount(id=app_id or "centralops"),
        )
        activity = Activity(
            type=ActivityTypes.message, summary=summary[:200], attachments=[cards.attachment(doc)]
        )
        sent: dict[str, str] = {}

        async def callback(context: TurnContext) -> None:
            if ref:
                activity.id = ref
                await context.update_activity(activity)
                sent["id"] = ref
            else:
                response = await context.send_activity(activity)
                sent["id"] = str(getattr(response, "id", "") or "")

        try:
            # The SDK's own proactive path: claims naming this bot and a token for the connector; without an
            # app id (the local stack's anonymous mode), anonymous claims, as for an unsigned incoming activity.
            continued = reference.get_continuation_activity()
            if app_id:
                await self.bot.adapter.continue_conversation(app_id, continued, callback)
            else:
                await self.bot.adapter.continue_conversation_with_claims(
                    ClaimsIdentity(), continued, callback
                )
        except Exception as e:  # the SDK raises plain exceptions for connector failures
            logger.warning("teams refused an alert card", extra={"error": type(e).__name__})
            raise DeliveryError("Teams did not take the alert message.") from e
        if not sent.get("id"):
            raise DeliveryError("Teams did not return the alert message's id.")
        return sent["id"]

    async def post(self, place: Place, view: AlertView) -> str:
        """A new alert card (a new post in a channel)."""
        return await self._send(place, alert_card(view), f"{view.alert.state} {view.alert.title}")

    async def update(self, place: Place, ref: str, view: AlertView) -> None:
        """Edit the alert card."""
        await self._send(place, alert_card(view), f"{view.alert.state} {view.alert.title}", ref)

    async def post_digest(self, place: Place, view: DigestView) -> str:
        """A new digest card."""
        return await self._send(place, digest_card(view), f"{len(view.entries)} more alerts")

    async def update_digest(self, place: Place, ref: str, view: DigestView) -> None:
        """Edit the digest card."""
        await self._send(place, digest_card(view), f"{len(view.entries)} more alerts", ref)


def register(bot: TeamsBot, commands: AlertCommands, poster: TeamsAlertPoster) -> None:
    """Add the alert buttons and the service-URL hook to the Teams edge."""
    bot.app.before_turn(poster.remember)

    async def on_investigate(
        context: TurnContext, _state: TurnState, data: Any
    ) -> AdaptiveCardInvokeResponse:
        found = inbound(context.activity)
        key = str((data or {}).get("record") or "") if isinstance(data, dict) else ""
        if found is None or not key:
            return _message_response("This button is not a valid CentralOps alert button.")
        click = ClickRenderer()
        investigation = await commands.investigation(key, found.who, found.where, click)
        if investigation is None:
            return await bot._click_response(context, found, await click.outcome)
        reference = context.activity.get_conversation_reference()
        channel_data = context.activity.channel_data

        async def work(turns: Turns) -> None:
            for prompt in investigation.prompts:
                renderer = bot._renderer(
                    turns,
                    continuation(reference, None, channel_data),
                    found.surface,
                    found.where.thread or "",
                    found.who,
                )
                request = ChatRequest(found.who, found.where, prompt, "followup")
                await bot.conversation.handle(request, renderer, prefix=bot.config.prefix)

        bot.background.run(context.identity or ClaimsIdentity(), work, "investigate")
        return _message_response(investigation.note)

    async def on_mute(context: TurnContext, _state: TurnState, data: Any) -> AdaptiveCardInvokeResponse:
        found = inbound(context.activity)
        key = str((data or {}).get("record") or "") if isinstance(data, dict) else ""
        if found is None or not key:
            return _message_response("This button is not a valid CentralOps alert button.")
        click = ClickRenderer()
        await commands.mute(key, found.who, found.where, click, bot.config.prefix)
        return await bot._click_response(context, found, await click.outcome)

    bot.thread_alert = AlertThreads(commands.store).alert_of  # a reply to the card asks about its alert
    bot.app.adaptive_card.action_execute(INVESTIGATE)(on_investigate)
    bot.app.adaptive_card.action_execute(MUTE)(on_mute)
