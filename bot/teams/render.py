"""How one answer looks in Teams: the core's :class:`~bot.chat.Renderer` for each surface.

- 1:1 chats stream with the SDK's ``StreamingResponse``: informative updates
  while the agent works, the answer as text chunks, and a final message that
  carries the cards.
- Channels and group chats (where Teams does not stream) get one message in
  the thread, updated at most every ``update_interval_s``.
- Short private answers (help, whoami, refusals, the sign-in card) are
  targeted messages in channels and group chats: only the person sees them.
- Approval cards are messages of their own, so replacing one with its
  decision never touches the answer above it.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from microsoft_agents.activity import Activity, ActivityTypes, Attachment
from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.app.streaming.citation import Citation

from bot.chat import NO_ANSWER, ApprovalCard, ChatRequest, ChatUser, Checklist, Table, cut_at_boundary
from bot.pacing import Throttle
from bot.teams import approval_views, cards, files, native
from bot.teams.activities import Surface
from bot.teams.outbox import UNDELIVERED, AnswerKeeper
from bot.teams.profiles import TeamsEmails
from centralops.events import Followup

logger = logging.getLogger(__name__)

ContextSource = Callable[[], Awaitable[TurnContext]]

MESSAGE_BYTES = 36_000
"""Budget of one message, measured as Teams does: the whole payload encoded as UTF-16.

Teams documents the bot message limit as 40 KB of UTF-16 (newer pages: about 100 KB,
80 KB recommended) and answers 413 ``MessageSizeTooBig`` beyond it; the budget keeps
room for the envelope the SDK adds."""
TEXT_SHARE = 0.5  # of the budget, for the text when cards ride along
WORKING = "⏳"
INFORMATIVE_MAX = 1000
"""Teams refuses informative updates longer than 1000 characters."""
INFORM_GAP_S = 1.0
"""Teams takes one streaming update a second (the SDK waits that long between two)."""
STREAM_GUARD_S = 100.0
# Teams tells a bot of its own Stop only by refusing the next stream update: a stream with nothing new to
# show is touched this often (the informative update again, or the text so far), so Stop is noticed.
STOP_PROBE_S = 2.0
"""Teams ends a stream after two minutes; the answer leaves the stream before that."""
CONTINUED = "_The answer continues in the next message…_"
AFTER_STREAM_INTERVAL_S = 1.5
"""Shortest gap between two updates of the message an answer continues in after its stream."""
MAX_TABLES = 5


def utf16_bytes(value: object) -> int:
    """The size Teams counts: the JSON payload in UTF-16 code units, two bytes each."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return len(text.encode("utf-16-le"))


def fit_text(text: str, budget: int) -> str:
    """``text`` cut at a paragraph or line boundary to fit ``budget`` UTF-16 bytes, with a note when cut."""
    if utf16_bytes(text) <= budget:
        return text
    note = (
        "\n\n_The answer was cut here: Teams messages are limited in size. "
        "Ask about fewer accounts at once to see the rest._"
    )
    room = budget - utf16_bytes(note)
    units = room // 2
    head = cut_at_boundary(text, units) or text[:units]
    while head and utf16_bytes(head) > room:
        # Characters outside the BMP take two code units: shrink until the UTF-16 size fits.
        units -= (utf16_bytes(head) - room) // 2 + 1
        head = cut_at_boundary(text, units) or text[: max(units, 0)]
    return head.rstrip() + note


MAX_PARTS = 5
"""Messages one answer may take in a channel or group chat, where Teams offers no file upload."""
CONTINUES = "\n\n_(continued in the next message)_"


def split_text(text: str, budget: int, max_parts: int = MAX_PARTS) -> list[str]:
    """``text`` in at most ``max_parts`` messages of ``budget`` UTF-16 bytes, each cut at a paragraph or line.

    Every part but the last says it continues; what does not fit in ``max_parts`` is cut with a note.
    """
    parts: list[str] = []
    rest = text
    room = budget - utf16_bytes(CONTINUES)
    while len(parts) < max_parts - 1 and utf16_bytes(rest) > budget:
        units = room // 2
        head = cut_at_boundary(rest, units) or rest[:units]
        while head and utf16_bytes(head) > room:
            units -= (utf16_bytes(head) - room) // 2 + 1
            head = cut_at_boundary(rest, units) or rest[: max(units, 0)]
        if not head:
            break
        parts.append(head.rstrip() + CONTINUES)
        rest = rest[len(head) :].lstrip("\n")
    if rest.strip():
        parts.append(fit_text(rest, budget))
    return parts


def table_cards(tables: list[Table], budget: int) -> list[Attachment]:
    """Cards for the answer's tables, each within its share of ``budget`` (rows dropped from the end)."""
    out: list[Attachment] = []
    share = budget // max(len(tables[:MAX_TABLES]), 1)
    for table in tables[:MAX_TABLES]:
        rows = len(table.rows)
        while True:
            body = cards.table_body(table, rows=rows)
            if rows < len(table.rows):
                body.append(
                    cards.runs(
                        f"Showing {rows} of {len(table.rows)} rows: ask about fewer accounts to see all."
                    )
                )
            doc = cards.card(body)
            size = utf16_bytes(doc)
            if size <= share or rows == 0:
                break
            rows = max(min(rows - 1, rows * share // size), 0)
        out.append(cards.attachment(doc))
    if len(tables) > MAX_TABLES:
        left = len(tables) - MAX_TABLES
        note = f"{left} more table{'s' if left != 1 else ''} not shown: ask about fewer accounts at once."
        out.append(cards.attachment(cards.card([cards.runs(note)])))
    return out


STOP = "stop"


def stop_card(turn_id: str) -> dict[str, Any]:
    """The Stop button of an answer still being written (only the person who asked may use it)."""
    return cards.card(
        [
            {
                "type": "TextBlock",
                "text": "Stop the answer if you no longer need it.",
                "isSubtle": True,
                "size": "Small",
            }
        ],
        [cards._execute("Stop", STOP, {"turn_id": turn_id}, style="destructive")],
    )


def _message(
    text: str | None = None, attachments: list[Attachment] | None = None, summary: str | None = None
) -> Activity:
    activity = Activity(type=ActivityTypes.message, text_format="markdown")
    if text is not None:
        activity.text = text
    if attachments:
        activity.attachments = attachments
    if summary:
        # What notifications and previews show for a card message: plain words, no markup.
        activity.summary = cards.plain_summary(summary)
    return activity


def _approval_message(card: ApprovalCard) -> Activity:
    return _message(
        attachments=[cards.attachment(approval_views.base(card))], summary=f"Approval needed: {card.command}"
    )


def _clip(text: str, budget: int = MESSAGE_BYTES) -> str:
    return fit_text(text, budget)


class _Base:
    """What every surface shares: private notices and the sign-in card."""

    def __init__(
        self,
        context: ContextSource,
        surface: Surface,
        who: ChatUser | None = None,
        emails: TeamsEmails | None = None,
    ) -> None:
        self._context = context
        self.surface = surface
        self.who = who
        self.emails = emails
        self.answer_id = ""  # set by rate(): the answer carries Teams' feedback loop
        self.sources: list[tuple[str, str]] = []  # set by cite(): the calls the answer came from
        self.on_rated: Callable[[str, str], Awaitable[None]] | None = None  # (message key, answer id)
        self.turn_id = ""  # set by stoppable(): the answer offers Stop while it streams
        self._stop: Callable[[], None] | None = None
        # Set by the edge: the answer is kept in the outbox while it is shown.
        self.keeper: AnswerKeeper | None = None

    async def stoppable(self, turn_id: str, stop: Callable[[], None]) -> None:
        """Offer Stop while the answer streams."""
        self.turn_id, self._stop = turn_id, stop

    def rate(self, answer_id: str) -> None:
        """Offer Teams' thumbs up / down on the answer."""
        self.answer_id = answer_id

    def cite(self, sources: list[tuple[str, str]]) -> None:
        """Cite each account call the answer came from."""
        self.sources = list(sources)

    async def _rated(self, message_id: str | None) -> None:
        """Name the answer by the message that shows it, so a vote on the message finds it."""
        if not (self.answer_id and message_id and self.on_rated):
            return
        ctx = await self._context()
        conversation = ctx.activity.conversation.id if ctx.activity.conversation else ""
        await self.on_rated(native.message_key(conversation, message_id), self.answer_id)

    async def _send(self, activity: Activity, *, private: bool = False) -> str | None:
        ctx = await self._context()
        approval_views.address(activity, ctx.activity.from_property)
        if private and self.surface != "personal" and ctx.activity.from_property is not None:
            activity.make_targeted_activity(ctx.activity.from_property)
        response = await ctx.send_activity(activity)
        return response.id if response else None

    async def notice(self, text: str) -> None:
        """A short answer only the requester sees."""
        await self._send(_message(cards.teams_markdown(text)), private=True)

    async def login_prompt(self, url: str, text: str) -> None:
        """The sign-in card, only for the requester (whose email the callback will compare)."""
        if self.emails is not None and self.who is not None:
            await self.emails.remember_sender(await self._context(), self.who.team, self.who.user)
        await self._send(
            _message(
                attachments=[cards.attachment(cards.sign_in(url, text))], summary="Sign in to CentralOps"
            ),
            private=True,
        )

    async def approval(self, card: ApprovalCard) -> None:  # overridden; keeps the protocol complete
        """Post Approve / Deny as a message of its own."""
        await self._send(_approval_message(card))


class StreamRenderer(_Base):
    """A 1:1 chat: the SDK's streaming response."""

    def __init__(
        self,
        context: ContextSource,
        surface: Surface = "personal",
        thread: str = "",
        who: ChatUser | None = None,
        emails: TeamsEmails | None = None,
        lock: asyncio.Lock | None = None,
        guard_s: float | None = None,
        answer_files: files.AnswerFiles | None = None,
    ) -> None:
        super().__init__(context, surface, who, emails)
        self.thread = thread
        self.answer_files = answer_files
        self._full: list[str] = []  # every text delta: the whole answer, for a file when the message is cut
        self._lock = lock
        self._holding = False
        self._stream: Any = None
        self._texted = False
        self._last_info = ""
        self._inform_at = 0.0  # loop time before which no informative update goes out
        self._held_info: str | None = None
        self._inform_timer: asyncio.TimerHandle | None = None
        self._checklist: Checklist | None = None
        self._approvals: list[ApprovalCard] = []
        self._followups: list[Followup] = []
        self._tables: list[Table] = []
        self._pending = ""  # text not streamed yet (a line streams once it is complete)
        self._streamed = ""
        self._cut = False
        self._guard_s = STREAM_GUARD_S if guard_s is None else guard_s
        self._guard: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self._probe_s = STOP_PROBE_S
        self._touched_at = 0.0  # loop time of the stream's last write
        self._after: ThreadRenderer | None = None  # where the answer continues once the stream closed
        self._finishing = False
        self._kept_errors: list[str] = []
        self._offer: Attachment | None = None  # the file consent card, sent after the final message
        self._approvals_left: list[ApprovalCard] = []  # approval cards the final message did not carry
        self._final_sent = False

    def _label_stream(self) -> None:
        """The SDK's AI label, citations (referred to in a last line) and feedback loop on the final message."""
        stream = self._stream
        if self.sources and self._streamed.strip():
            line = native.sources_line(self.sources)
            stream.queue_text_chunk(line)
            self._streamed += line
            stream.set_citations(
                [
                    Citation(content=c.appearance.abstract, title=c.appearance.name)
                    for c in native.citations(self.sources)
                ]
            )
        stream.set_generated_by_ai_label(True)
        stream.set_feedback_loop(bool(self.answer_id))

    async def _begin(self) -> Any:
        if self._stream is None:
            # Teams runs one stream per chat at a time: a second question waits for the first answer.
            if self._lock is not None and not self._holding:
                await self._lock.acquire()
                self._holding = True
            ctx = await self._context()
            self._stream = ctx.streaming_response
            ctx.on_send_activities(self._saw_send)
            ctx.on_update_activity(self._saw_update)
            self._guard = asyncio.create_task(self._leave_stream_in_time())
            self._touched_at = asyncio.get_running_loop().time()
            self._probe = asyncio.create_task(self._probe_for_stop())
        return self._stream

    async def _probe_for_stop(self) -> None:
        """Keep a quiet stream writing, so Teams' own Stop (said only in a refusal) ends the turn in time."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(self._touched_at + self._probe_s - loop.time(), 0.05))
            stream = self._stream
            if (
                stream is None
                or self._finishing
                or self._after is not None
                or getattr(stream, "_ended", False)
            ):
                return
            if self._stopped_in_teams():
                return
            if loop.time() - self._touched_at < self._probe_s:
                continue  # the answer wrote meanwhile
            self._touched_at = loop.time()
            if self._texted:
                stream.queue_text_chunk("")  # the text so far again, as the SDK's own keep-alive does
            else:
                stream.queue_informative_update(self._last_info or "Working on it…")

    @property
    def left_stream(self) -> bool:
        """Whether the answer left its stream (Teams' two-minute limit) and continues as a message."""
        return self._after is not None

    async def _leave_stream_in_time(self) -> None:
        """Before Teams' two-minute limit, close the stream; the rest grows in an ordinary, updated message."""
        await asyncio.sleep(self._guard_s)
        stream = self._stream
        if stream is None or self._finishing:
            return
        self._flush_lines(final=True)
        self._after = ThreadRenderer(
            self._context, self.surface, interval_s=AFTER_STREAM_INTERVAL_S, who=self.who, emails=self.emails
        )
        if self.keeper is not None:
            # From here the outbox keeps what the continuing message still has to show.
            self.keeper.parcel.extra["stream"] = False
            self._after.keeper, self.keeper = self.keeper, None
        stream.queue_text_chunk(("\n\n" if self._streamed else "") + CONTINUED)
        await stream.end_stream()
        logger.info("left the stream before the two-minute limit")
        await self._after.progress(self._checklist or Checklist())

    def release(self) -> None:
        """Let the next answer in this chat stream (idempotent)."""
        if self._lock is not None and self._holding:
            self._holding = False
            self._lock.release()

    async def open(self, request: ChatRequest) -> str:
        """Start the stream with an informative update."""
        stream = await self._begin()
        self._inform(stream, "Working on it…")
        return request.where.thread or self.thread or request.where.channel

    def _inform(self, stream: Any, text: str) -> None:
        # Teams ignores informative updates once text streams; stop sending them then.
        if self._texted or text == self._last_info:
            return
        self._last_info = text
        loop = asyncio.get_running_loop()
        if loop.time() >= self._inform_at:
            self._inform_at = loop.time() + INFORM_GAP_S
            self._held_info = None
            stream.queue_informative_update(text)
            return
        # The SDK sends one update a second and queues the rest: a stale checklist would hold the answer
        # back. Keep only the newest; it goes out when the second is up, or just before the text.
        self._held_info = text
        if self._inform_timer is None:
            self._inform_timer = loop.call_at(self._inform_at, self._release_info)

    def _release_info(self, before_text: bool = False) -> None:
        if self._inform_timer is not None:
            self._inform_timer.cancel()
            self._inform_timer = None
        text, self._held_info = self._held_info, None
        if not text or self._finishing or self._after is not None or self._stream is None:
            return
        if before_text or not self._texted:
            self._inform_at = asyncio.get_running_loop().time() + INFORM_GAP_S
            self._stream.queue_informative_update(text)

    async def progress(self, checklist: Checklist) -> None:
        """An informative update with the status and the checklist."""
        self._checklist = checklist
        if self._after is not None:
            await self._after.progress(checklist)
            return
        self._inform(await self._begin(), cards.progress_text(checklist)[:INFORMATIVE_MAX])
        self._stopped_in_teams()
        await self._keep()

    def _stopped_in_teams(self) -> bool:
        """Whether the person pressed Teams' own Stop on the streaming message (then the turn ends too)."""
        # The SDK records Teams' "cancelled by user" refusal of a stream update; it has no public flag.
        if self._stream is None or not getattr(self._stream, "_user_cancelled", False):
            return False
        if self._stop is not None:
            self._stop()
            self._stop = None
        return True

    async def text(self, delta: str) -> None:
        """A chunk of the answer: whole lines stream, within the message size budget."""
        if self._after is not None:
            await self._after.text(delta)
            return
        await self._begin()
        if not self._texted:
            self._release_info(before_text=True)
        self._texted = True
        self._full.append(delta)
        self._pending += delta
        self._flush_lines()
        self._stopped_in_teams()
        await self._keep()

    def _flush_lines(self, final: bool = False) -> None:
        ready = self._pending if final else self._pending[: self._pending.rfind("\n") + 1]
        if not ready or self._cut:
            return
        budget = int(MESSAGE_BYTES * TEXT_SHARE) - utf16_bytes(self._streamed)
        piece = ready if utf16_bytes(ready) <= budget else cut_at_boundary(ready, budget // 2)
        while piece and utf16_bytes(piece) > budget:
            piece = cut_at_boundary(piece, len(piece) - 1)
        self._pending = self._pending[len(ready) :]
        if len(piece) < len(ready):
            self._cut = True
        if piece:
            self._streamed += piece
            self._stream.queue_text_chunk(piece)

    async def table(self, table: Table) -> None:
        """Shown as a card of the final message (text-only Teams messages cannot show tables)."""
        if self._after is not None:
            await self._after.table(table)
            return
        await self._begin()
        self._tables.append(table)

    async def approval(self, card: ApprovalCard) -> None:
        """Sent after the stream ends: a card of its own that can be replaced later."""
        self._approvals.append(card)

    async def followups(self, items: list[Followup]) -> None:
        """Carried by the final message."""
        self._followups = list(items)

    async def error(self, message: str) -> None:
        """Inside the stream when one runs, else a message of its own."""
        if self._after is not None:
            await self._after.error(message)
            return
        self._kept_errors.append(message)
        if self._stream is None or self._stopped_in_teams():
            # No stream, or Teams refuses the rest of it: a message of its own.
            await self._send(_message(cards.teams_markdown(f"⚠️ {message}")))
            return
        self._flush_lines(final=True)
        self._stream.queue_text_chunk(("\n\n" if self._streamed else "") + f"⚠️ {message}")
        self._streamed += f"\n\n⚠️ {message}"
        self._texted = True

    async def finish(self) -> None:
        """The final message with its cards, then any approval cards."""
        self._finishing = True
        self._release_info()  # drops progress not shown yet: the answer is complete
        if self._probe is not None:
            self._probe.cancel()
        if self._guard is not None:
            if self._after is None:
                self._guard.cancel()
            else:
                await self._guard  # the stream is closing: let it close
        if self._after is not None:
            self._after.rate(self.answer_id)
            self._after.cite(self.sources)
            self._after.on_rated = self.on_rated
            try:
                for table in self._tables:
                    await self._after.table(table)
                if self._followups:
                    await self._after.followups(self._followups)
                await self._after.finish()
            finally:
                self.release()
            for card in self._approvals:
                await self._send(_approval_message(card))
            return
        if self._stream is not None:
            if not await self._end_stream():
                # Left to the outbox, which delivers the whole answer; approvers still get their cards.
                for card in self._approvals:
                    try:
                        await self._send(_approval_message(card))
                    except UNDELIVERED as e:
                        logger.warning("approval card not delivered", extra={"error": type(e).__name__})
                return
            if self._offer is not None:
                await self._send(_message(attachments=[self._offer], summary="The whole answer as a file"))
            for card in self._approvals_left:
                await self._send(_approval_message(card))
            return
        extra = table_cards(self._tables, MESSAGE_BYTES - 4000)
        if self._followups:
            extra.append(cards.attachment(cards.followups(self._followups)))
        if extra:
            await self._send(_message(attachments=extra, summary="The answer's tables and next questions"))
        for card in self._approvals:
            await self._send(_approval_message(card))

    async def _saw_send(self, _ctx: TurnContext, activities: list[Activity], call: Callable[[], Any]) -> Any:
        """Notes when the stream's final message went out (the SDK does not say when it could not)."""
        self._touched_at = asyncio.get_running_loop().time()
        responses = await call()
        if self._finishing and any(a.type == ActivityTypes.message for a in activities):
            self._final_sent = True
        return responses

    async def _saw_update(self, _ctx: TurnContext, activity: Activity, call: Callable[[], Any]) -> Any:
        responses = await call()
        if self._finishing:
            self._final_sent = True  # the SDK replaces a timed-out stream's message with the final one
        return responses

    def _kept_body(self) -> str:
        return "".join(self._full) + "".join(f"\n\n⚠️ {m}" for m in self._kept_errors)

    async def _keep(self) -> None:
        """Record the answer as it stands in the outbox (paced by the keeper)."""
        if self.keeper is not None and self._after is None:
            ref = getattr(self._stream, "_stream_id", None) if self._stream is not None else None
            await self.keeper.note(self._kept_body(), self._checklist, ref)

    async def _end_stream(self) -> bool:
        """End the stream with the final message; ``False`` when it was left to the outbox instead."""
        keeper = self.keeper
        if keeper is not None:
            ref = getattr(self._stream, "_stream_id", None)
            await keeper.closing(self._kept_body(), self._checklist, ref, self._tables)
        try:
            await self._final_message()
        except UNDELIVERED as e:
            if keeper is None:
                raise
            logger.warning("answer not delivered; left to the outbox", extra={"error": type(e).__name__})
            await keeper.abandon()
            return False
        if keeper is not None:
            await keeper.delivered()
        return True

    async def _final_message(self) -> None:
        """The stream's final message: the whole answer that fits, its cards and notes."""
        self._approvals_left = self._approvals
        if self._stream is not None:
            self._flush_lines(final=True)
            tables_budget = MESSAGE_BYTES - utf16_bytes(self._streamed) - 4000 - utf16_bytes(FILE_NOTE)
            offer = await self._keep_file(tables_budget) if self._clipped(tables_budget) else None
            if offer is not None or self._cut:
                note = FILE_NOTE if offer is not None else CUT_NOTE
                self._stream.queue_text_chunk(note)
                self._streamed += note
            attachments = table_cards(self._tables, MESSAGE_BYTES - utf16_bytes(self._streamed) - 4000)
            if self._followups:
                attachments.append(cards.attachment(cards.followups(self._followups)))
            approvals = self._approvals
            if not self._streamed.strip() and not attachments and approvals:
                # An answer that is only an approval: the card is the final message, no placeholder text.
                attachments, approvals = [cards.attachment(approval_views.base(approvals[0]))], approvals[1:]
            if not self._streamed.strip():
                # Teams' final streamed message needs text; a blank one shows only the cards.
                self._stream.queue_text_chunk(" " if attachments else NO_ANSWER)
            if attachments:
                self._stream.set_attachments(attachments)
            self._label_stream()
            # Teams names the final message of a stream by the stream's id (known once the first
            # update went out): link it before the buttons can show, else right after.
            early = getattr(self._stream, "_stream_id", None)
            await self._rated(early)
            try:
                await self._stream.end_stream()
            finally:
                self.release()
            if not self._final_sent and not getattr(self._stream, "_cancelled", False):
                # The SDK's queue gave up earlier without raising: the final message never went out.
                raise aiohttp.ClientError("the stream's final message was not sent")
            if not early:
                await self._rated(getattr(self._stream, "_stream_id", None))
            self._offer, self._approvals_left = offer, approvals

    def _clipped(self, tables_budget: int) -> bool:
        """Whether the message leaves part of the answer out (text cut, rows or tables dropped)."""
        if self._cut or len(self._tables) > MAX_TABLES:
            return True
        shown = table_cards(self._tables, tables_budget)
        return any(_rows_shown(a) < len(t.rows) for a, t in zip(shown, self._tables, strict=False))

    async def _keep_file(self, tables_budget: int) -> Attachment | None:
        """Keep the whole answer for the file consent flow; the consent card, or ``None`` (no store, too big)."""
        if self.answer_files is None or self.surface != "personal" or self.who is None:
            return None
        content = files.answer_file("".join(self._full), self._tables)
        name = files.file_name()
        file_id = await self.answer_files.keep(name, content, self.who.team, self.who.user)
        if file_id is None:
            return None
        return files.consent_attachment(
            file_id, name, len(content), "The whole answer, with every table in full (Markdown)."
        )


FILE_NOTE = "\n\n_The message shows part of the answer: the whole answer is offered as a file below._"
CUT_NOTE = (
    "\n\n_The answer was cut here: Teams messages are limited in size. "
    "Ask about fewer accounts at once to see the rest._"
)


def _rows_shown(attachment: Attachment) -> int:
    content = attachment.content if isinstance(attachment.content, dict) else {}
    tables = [e for e in content.get("body") or [] if isinstance(e, dict) and e.get("type") == "Table"]
    return sum(max(len(t.get("rows") or []) - 1, 0) for t in tables)


class ThreadRenderer(_Base):
    """A channel thread or group chat: one message, updated at most every ``interval_s``."""

    def __init__(
        self,
        context: ContextSource,
        surface: Surface,
        *,
        interval_s: float,
        thread: str = "",
        who: ChatUser | None = None,
        emails: TeamsEmails | None = None,
    ) -> None:
        super().__init__(context, surface, who, emails)
        self.thread = thread
        self._message_id: str | None = None
        self._answer: list[str] = []
        self._errors: list[str] = []
        self._checklist = Checklist()
        self._followups: list[Followup] = []
        self._tables: list[Table] = []
        self._approvals = 0
        self._done = False
        self._rest: list[Activity] = []  # the answer's further messages, when it does not fit in one
        self._throttle = Throttle(interval_s, self._flush)

    @property
    def updates(self) -> int:
        """How many times the message was written (post and updates)."""
        return self._throttle.flushes

    async def open(self, request: ChatRequest) -> str:
        """Post the message the answer will grow in."""
        await self._throttle.poke()
        return request.where.thread or self.thread or request.where.channel

    def render(self) -> Activity:
        """The message as it should look now (the agent's markdown as written, the core's lines for Teams)."""
        core = cards.teams_markdown
        answer = "".join(self._answer).strip()
        lines: list[str] = []
        if not self._done:
            lines.append(core(f"{WORKING} {self._checklist.status_line() or 'Working on it…'}"))
            lines.extend(core(line) for line in cards.checklist_lines(self._checklist))
            if answer:
                lines.extend(["", answer])
        else:
            if answer:
                lines.append(answer)
            elif not (self._errors or self._tables or self._followups or self._approvals):
                lines.append(NO_ANSWER)
            if any(i.state == "failed" for i in self._checklist.items):
                failed = cards.checklist_lines(self._checklist, failed_only=True)
                lines.extend(["", *(core(line) for line in failed)])
        lines.extend(core(f"⚠️ {e}") for e in self._errors)
        attachments: list[Attachment] = []
        if not self._done and self.turn_id:
            attachments = [cards.attachment(stop_card(self.turn_id))]
        if self._done:
            attachments = table_cards(self._tables, int(MESSAGE_BYTES * (1 - TEXT_SHARE)))
            if self._followups:
                attachments.append(cards.attachment(cards.followups(self._followups)))
        text = "\n".join(lines).strip()
        budget = int(MESSAGE_BYTES * TEXT_SHARE) if attachments else MESSAGE_BYTES
        self._rest = []
        if not self._done or not text:
            return _message(_clip(text, budget) if text else None, attachments or None)
        cited = self.sources if answer else []
        line = native.sources_line(cited)
        entity = [c.model_dump(mode="json", by_alias=True) for c in native.citations(cited)]
        room = budget - utf16_bytes(line) - utf16_bytes(entity) - 1000  # the label entity's own keys
        if utf16_bytes(text) > room:
            # No file upload outside 1:1 chats: the answer continues in further messages, the cards last.
            first, *more = split_text(text, room)
            self._rest = [_message(p) for p in more]
            if self._rest and attachments:
                self._rest[-1].attachments = attachments
            if self._rest:
                return native.label(_message(first + line), cited, feedback=bool(self.answer_id))
        activity = _message(_clip(text, room) + line, attachments or None)
        return native.label(activity, cited, feedback=bool(self.answer_id))

    @property
    def empty(self) -> bool:
        """The finished message would show nothing (the answer was only an approval card)."""
        activity = self.render()
        return self._done and not activity.text and not activity.attachments

    async def _flush(self) -> None:
        try:
            await self._write()
        except UNDELIVERED as e:
            if self._done:
                raise
            # Progress the Connector refused past its retries is skipped: a later write shows newer state.
            logger.warning("progress update not delivered", extra={"error": type(e).__name__})
            return
        if self.keeper is not None and not self._done:
            await self.keeper.note(self._kept_body(), self._checklist, self._message_id)

    def _kept_body(self) -> str:
        return "".join(self._answer).strip() + "".join(f"\n\n⚠️ {e}" for e in self._errors)

    async def _write(self) -> None:
        ctx = await self._context()
        if self.empty:
            # Nothing to add next to the approval card: the progress message goes away.
            if self._message_id is not None:
                await ctx.delete_activity(self._message_id)
                self._message_id = None
            return
        activity = self.render()
        if self._message_id is None:
            response = await ctx.send_activity(activity)
            self._message_id = response.id if response else None
            return
        activity.id = self._message_id
        await ctx.update_activity(activity)

    async def progress(self, checklist: Checklist) -> None:
        """Show the latest status and checklist (throttled)."""
        self._checklist = checklist
        await self._throttle.poke()

    async def text(self, delta: str) -> None:
        """Grow the answer (throttled)."""
        self._answer.append(delta)
        await self._throttle.poke()

    async def table(self, table: Table) -> None:
        """A card of the final message (text-only Teams messages cannot show tables)."""
        self._tables.append(table)
        await self._throttle.poke()

    async def approval(self, card: ApprovalCard) -> None:
        """Approve / Deny in the thread at once, so approvers can act while the answer finishes."""
        self._approvals += 1
        await self._send(_approval_message(card))

    async def followups(self, items: list[Followup]) -> None:
        """Attached to the final version of the message."""
        self._followups = list(items)

    async def error(self, message: str) -> None:
        """Shown in the answer's message."""
        self._errors.append(message)
        await self._throttle.poke()

    async def finish(self) -> None:
        """Write the complete answer (and its further messages, when it does not fit in one)."""
        self._done = True
        keeper = self.keeper
        if keeper is not None:
            await keeper.closing(self._kept_body(), self._checklist, self._message_id, self._tables)
        early = self._message_id  # the progress message becomes the answer: link it before it shows
        await self._rated(early)
        try:
            await self._throttle.close()
            if not early:
                await self._rated(self._message_id)
            further: list[str] = []
            for activity in self._rest:
                further.append(await self._send(activity) or "")
                if keeper is not None:
                    await keeper.posted(self._message_id, further)
        except UNDELIVERED as e:
            if keeper is None:
                raise
            logger.warning("answer not delivered; left to the outbox", extra={"error": type(e).__name__})
            await keeper.abandon()
            return
        if keeper is not None:
            await keeper.delivered()


def finished_messages(text: str, checklist: Checklist, tables: list[Table]) -> list[Activity]:
    """The messages a finished answer takes, with the thread renderer's size rules (for the outbox)."""

    async def no_context() -> TurnContext:
        raise RuntimeError("a finished answer is only rendered here")

    renderer = ThreadRenderer(no_context, "personal", interval_s=0)
    renderer._answer, renderer._checklist, renderer._tables, renderer._done = [text], checklist, tables, True
    first = renderer.render()
    return [first, *renderer._rest]


@dataclass
class ClickOutcome:
    """What a card click led to, for the invoke response."""

    kind: str  # "decided" | "message" | "login"
    text: str = ""
    url: str = ""
    card: ApprovalCard | None = None


class ClickRenderer:
    """A :class:`~bot.chat.DecisionNotifier`: what the core says about a card click, for the invoke response."""

    def __init__(self) -> None:
        self.outcome: asyncio.Future[ClickOutcome] = asyncio.get_running_loop().create_future()

    def _set(self, outcome: ClickOutcome) -> None:
        if not self.outcome.done():
            self.outcome.set_result(outcome)

    async def notice(self, text: str) -> None:
        """A refusal or explanation for the person who clicked."""
        self._set(ClickOutcome("message", text=text))

    async def error(self, message: str) -> None:
        """A failure the person who clicked can act on."""
        self._set(ClickOutcome("message", text=message))

    async def login_prompt(self, url: str, text: str) -> None:
        """The person who clicked must link first."""
        self._set(ClickOutcome("login", text=text, url=url))

    async def decided(self, card: ApprovalCard) -> None:
        """The decision was recorded."""
        self._set(ClickOutcome("decided", card=card))
