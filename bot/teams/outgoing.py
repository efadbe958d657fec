"""What every write of the Teams edge gets, whichever part of the bot sends it.

:class:`Outgoing` is adapter middleware: the SDK runs it at the start of every
turn, incoming (webhook) and proactive (answers, outbox deliveries, alert
cards), and it hooks the turn's sends and updates:

- **Notification summary.** Teams shows an activity's ``summary`` in
  notifications and previews. Every message gets one, as a short plain-text
  line (:func:`bot.teams.cards.plain_summary`): the one the renderer chose (a
  card's "Approval needed: …"), else the message's text, else the words of its
  cards. Data in it can never form markdown, HTML, a mention or a link.
- **429s counted.** A write the Connector answers with 429 counts in the
  bot's ``ChatThrottled`` metric (platform ``teams``). Writes of a patient
  turn (:mod:`bot.teams.patient`) count each refusal as they retry; here the
  other turns' writes count, which raise at the first refusal.
"""

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from microsoft_agents.activity import Activity, ActivityTypes
from microsoft_agents.hosting.core import TurnContext

from bot import metrics
from bot.teams import cards
from bot.teams.patient import THROTTLED, is_patient

FILE_CONSENT = "application/vnd.microsoft.teams.card.file.consent"


def _attachment_words(activity: Activity) -> str:
    words = []
    for attachment in activity.attachments or []:
        if attachment.content_type == FILE_CONSENT:
            words.append(f"File: {attachment.name or 'the answer'}")
        elif isinstance(attachment.content, dict):
            words.append(cards.card_words(attachment.content))
    return " ".join(w for w in words if w)


FALLBACK = "A message from CentralOps"
"""The summary of a message without a word to show (e.g. only an image)."""


def summarize(activity: Activity) -> None:
    """Give a message activity its notification summary (plain text; other activities are left as they are)."""
    if activity.type != ActivityTypes.message:
        return
    sources = (
        lambda: activity.summary or "",
        lambda: activity.text or "",
        lambda: _attachment_words(activity),
    )
    activity.summary = next((s for s in (cards.plain_summary(read()) for read in sources) if s), FALLBACK)


async def _counted(context: TurnContext, call: Callable[[], Awaitable[Any]]) -> Any:
    """Run one Connector write; a 429 outside the patient retries counts in ``ChatThrottled``."""
    try:
        return await call()
    except aiohttp.ClientResponseError as e:
        if e.status == THROTTLED and not is_patient(context):
            metrics.throttled("teams")
        raise


class Outgoing:
    """Adapter middleware: a plain summary on every message the bot writes, and its 429s counted."""

    async def on_turn(self, context: TurnContext, logic: Callable[[TurnContext], Awaitable[Any]]) -> None:
        """Hook the turn's writes, then run the rest of the pipeline."""

        async def on_send(
            ctx: TurnContext, activities: list[Activity], call: Callable[[], Awaitable[Any]]
        ) -> Any:
            for activity in activities:
                summarize(activity)
            return await _counted(ctx, call)

        async def on_update(ctx: TurnContext, activity: Activity, call: Callable[[], Awaitable[Any]]) -> Any:
            summarize(activity)
            return await _counted(ctx, call)

        async def on_delete(ctx: TurnContext, _reference: Any, call: Callable[[], Awaitable[Any]]) -> Any:
            return await _counted(ctx, call)

        context.on_send_activities(on_send)
        context.on_update_activity(on_update)
        context.on_delete_activity(on_delete)
        await logic(context)
