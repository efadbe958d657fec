"""Teams answers in the durable outbox: kept while shown, delivered by any replica when their renderer is gone.

A Teams renderer keeps an :class:`AnswerKeeper` (a :class:`~bot.outbox.Journal`
of platform ``teams``): the answer as it stands at the renderer's own pacing, all
of it (with its tables) once it is complete, the ids of the further messages it
posted, and ``delivered`` once the Connector took the last write. ``extra`` holds
the JSON-safe conversation reference (``activities.kept_reference``) and whether
the answer streamed in a 1:1 chat; ``checklist_ref`` is the message the answer
grows in (the progress message of a channel or group chat, the stream's message
in a 1:1 chat).

:func:`deliver` shows a kept answer through a proactive turn: the message the
answer grew in becomes the answer (a 1:1 stream is ended with the answer as its
final message), so no line is left running, and what does not fit follows in
further messages with the renderer's size rules. It is idempotent enough to be
retried: messages are replaced rather than posted again when their ids are
known, and the id of each message it posts is written to the outbox item at once,
so a delivery retried after a partial failure never shows the answer twice.
"""

import asyncio
import logging
from dataclasses import asdict
from typing import Any

import aiohttp
from microsoft_agents.activity import Activity, StreamInfo
from microsoft_agents.hosting.core import TurnContext

from bot.chat import Checklist, Table
from bot.outbox import Journal, OutboxStore, Parcel, checklist_items, new_id
from bot.teams import cards, files
from bot.teams.patient import refused

logger = logging.getLogger(__name__)

UNDELIVERED = (aiohttp.ClientError, TimeoutError)
"""What a Connector write raises when it did not get through (the outbox then keeps the answer)."""
INTERRUPTED = (
    "_CentralOps stopped before this answer was complete; this is what had arrived. "
    "The calls listed above were started and may have run: ask about their results rather than "
    "running them again._"
)
LATE = "_Teams was not taking messages when this answer finished, so it arrives now._"
KEPT_ROWS = 200
"""Rows of each table kept in the outbox item (the item stays far below DynamoDB's 400 KB)."""
KEPT_TABLES = 5


def kept_tables(tables: list[Table]) -> list[dict[str, Any]]:
    """The answer's tables as JSON-safe data for the outbox (capped, see :data:`KEPT_ROWS`)."""
    out = []
    for table in tables[:KEPT_TABLES]:
        data = asdict(table)
        data["rows"] = data["rows"][:KEPT_ROWS]
        out.append(data)
    return out


def tables_of(parcel: Parcel) -> list[Table]:
    """The tables a parcel keeps (malformed entries skipped)."""
    found = []
    for t in parcel.extra.get("tables") or []:
        if isinstance(t, dict) and isinstance(t.get("columns"), list) and isinstance(t.get("rows"), list):
            found.append(
                Table(
                    columns=[str(c) for c in t["columns"]],
                    rows=[[str(v) for v in row] for row in t["rows"] if isinstance(row, list)],
                    title=str(t.get("title") or ""),
                )
            )
    return found


class AnswerKeeper:
    """One Teams answer's outbox item, kept by the renderer that shows it.

    Args:
        store: The outbox table.
        parcel: Where the answer goes (platform ``teams``, the conversation reference in ``extra``).
        every_s: Shortest gap between two paced writes (the renderer's own pacing).
    """

    def __init__(self, store: OutboxStore, parcel: Parcel, *, every_s: float) -> None:
        self.journal = Journal(store, parcel, every_s=every_s)
        self._started = False
        self.finished = False
        self._released: asyncio.Task[None] | None = None

    @property
    def parcel(self) -> Parcel:
        """The answer as last recorded."""
        return self.journal.parcel

    async def _start(self) -> None:
        if not self._started:
            self._started = True
            await self.journal.start()

    async def note(self, body: str, checklist: Checklist | None, checklist_ref: str | None) -> None:
        """The answer as it stands (paced)."""
        if self.finished:
            return
        if not self._started:
            self.parcel.body, self.parcel.checklist = body, checklist_items(checklist)
            self.parcel.checklist_ref = checklist_ref or ""
            await self._start()
            return
        await self.journal.note(
            body=body, checklist=checklist_items(checklist), checklist_ref=checklist_ref or ""
        )

    async def closing(
        self, body: str, checklist: Checklist | None, checklist_ref: str | None, tables: list[Table]
    ) -> None:
        """The whole answer is known: keep all of it before the last Connector writes."""
        if self.finished:
            return
        self.parcel.extra["tables"] = kept_tables(tables)
        await self._start()
        await self.journal.closing(body, checklist_items(checklist), checklist_ref or "")

    async def posted(self, checklist_ref: str | None, further: list[str]) -> None:
        """Record the messages the answer now takes (so a later delivery replaces them, never repeats them)."""
        if self.finished or not self._started:
            return
        self.parcel.extra["posted"] = list(further)
        parcel = self.parcel
        await self.journal.closing(parcel.body, parcel.checklist, checklist_ref or parcel.checklist_ref)

    async def delivered(self) -> None:
        """The whole answer reached the conversation."""
        if self.finished:
            return
        self.finished = True
        if self._started:
            await self.journal.delivered()

    def release(self) -> None:
        """The work showing the answer ended: an answer kept but not delivered by then is left to a sweeper.

        A turn that showed no answer (only a private notice) kept nothing and leaves nothing.
        """
        if self._started and not self.finished:
            self._released = asyncio.get_running_loop().create_task(self.abandon())

    async def abandon(self) -> None:
        """The Connector would not take the answer: leave it to a sweeper now."""
        if self.finished:
            return
        self.finished = True
        await self._start()
        await self.journal.abandon()


def new_parcel(*, team: str, channel: str, thread: str, user: str, extra: dict[str, Any]) -> Parcel:
    """A fresh Teams parcel (``extra``: the kept conversation reference, ``stream`` for 1:1 chats)."""
    return Parcel(
        answer_id=new_id(),
        platform="teams",
        team=team,
        channel=channel,
        thread=thread,
        user=user,
        extra=extra,
    )


def _late_text(parcel: Parcel) -> str:

    checklist = parcel.closed_checklist()
    body = parcel.body.strip()
    if parcel.state == "closing":
        # As the live renderer shows a finished answer: the answer, then the calls that failed.
        failed = any(i.state == "failed" for i in checklist.items)
        lines = cards.checklist_lines(checklist, failed_only=True) if failed else []
        blocks = [body, "\n".join(cards.teams_markdown(line) for line in lines), LATE]
    else:
        # Interrupted: every call closed (none left running), what had arrived, and what to do.
        lines = cards.checklist_lines(checklist)
        blocks = ["\n".join(cards.teams_markdown(line) for line in lines), body, INTERRUPTED]
    return "\n\n".join(b for b in blocks if b)


def late_messages(parcel: Parcel) -> list[Activity]:
    """What a kept answer shows when the outbox delivers it, with the renderer's size rules.

    An answer that was complete (``closing``) shows as it would have, with a line saying why it is late;
    an interrupted one shows its closed checklist (no call left running), what had arrived, and what to do.
    """
    from bot.teams.render import finished_messages  # render imports this module

    return finished_messages(_late_text(parcel), Checklist(), tables_of(parcel))


async def late_file_messages(parcel: Parcel, answer_files: files.AnswerFiles) -> list[Activity] | None:
    """A 1:1 answer too long for one message, as the stream renderer shows it: the head with a note,
    then the whole answer offered as a file; ``None`` where no file can be kept (too large, store failed)."""
    from bot.teams.render import (
        CUT_NOTE,
        FILE_NOTE,
        MESSAGE_BYTES,
        TEXT_SHARE,
        _message,
        finished_messages,
        fit_text,
    )

    text, tables = _late_text(parcel), tables_of(parcel)
    content = files.answer_file(text, tables)
    name = files.file_name()
    file_id = await answer_files.keep(name, content, parcel.team, parcel.user)
    if file_id is None:
        return None
    head = fit_text(text, int(MESSAGE_BYTES * TEXT_SHARE) - 2000).removesuffix(CUT_NOTE) + FILE_NOTE
    [first, *_] = finished_messages(head, Checklist(), tables)
    offer = files.consent_attachment(
        file_id, name, len(content), "The whole answer, with its tables (Markdown)."
    )
    return [first, _message(attachments=[offer], summary="The whole answer as a file")]


async def _replace(context: TurnContext, target: str, activity: Activity, stream: bool) -> bool:
    """Show ``activity`` in place of message ``target``; ``False`` where Teams will not replace it."""
    try:
        if stream:
            # The stream ends with the answer as its final message (Teams' own end of a stream).
            final = activity.model_copy(deep=True)
            final.entities = [*(final.entities or []), StreamInfo(stream_type="final", stream_id=target)]
            await context.send_activity(final)
        else:
            activity.id = target
            await context.update_activity(activity)
    except aiohttp.ClientResponseError as e:
        if refused(e):
            raise
        if stream:
            return await _replace(context, target, activity, stream=False)
        logger.info("kept answer's message not replaceable; posting it", extra={"status": e.status})
        return False
    return True


async def deliver(
    context: TurnContext,
    parcel: Parcel,
    store: OutboxStore | None,
    answer_files: files.AnswerFiles | None = None,
) -> None:
    """Show a kept answer in its conversation (see the module docstring).

    In a 1:1 chat, an answer longer than one message is offered as a file (with ``answer_files``), as
    the stream renderer does; elsewhere it continues across further messages.

    Raises:
        aiohttp.ClientError | TimeoutError: The Connector still refuses (the outbox tries again later).
    """
    messages = late_messages(parcel)
    if len(messages) > 1 and parcel.extra.get("surface") == "personal" and answer_files is not None:
        messages = await late_file_messages(parcel, answer_files) or messages
    further = [str(i) for i in parcel.extra.get("posted") or [] if i]
    targets: list[str] = [parcel.checklist_ref, *further]
    stream = bool(parcel.extra.get("stream"))
    shown: list[str] = []
    for i, activity in enumerate(messages):
        target = targets[i] if i < len(targets) else ""
        if target and await _replace(context, target, activity, stream and i == 0):
            shown.append(target)
            continue
        response = await context.send_activity(activity)
        shown.append(response.id if response and response.id else "")
        # Recorded at once: a retry after a later failure replaces this message instead of repeating it.
        parcel.checklist_ref, parcel.extra["posted"] = shown[0], shown[1:]
        if store is not None:
            await store.put(parcel)
    for stale in targets[len(messages) :]:
        if stale:
            # The kept answer now takes fewer messages than the renderer had posted: the rest would repeat it.
            try:
                await context.delete_activity(stale)
            except aiohttp.ClientResponseError as e:
                if refused(e):
                    raise
