"""Renders one answer into a Slack thread, paced to at most one Web API call a second.

Text streams with ``chat.startStream / appendStream / stopStream`` (slack-sdk's
``chat_stream``); when the workspace lacks those methods the answer is one
message updated in place. Progress (status and the per-account checklist) lives
in the parent message of a slash command, or in one status reply in the thread.

Tables are Slack ``table`` blocks, one per message (in order with the text
around them); a table longer or wider than the block allows shows its first
page and says how much more there is, and the whole table follows as a CSV
file. Text past :data:`INLINE_CAP` stops at a paragraph or line boundary, says
what is left, and the whole answer follows as a file.

The closing parts (buttons, metadata) and the last text ride in the calls that
show the answer's last part: a table that ends the answer is posted once with
them, and text due when a stream stops goes in ``chat.stopStream``.

Where the bot cannot post (a private channel or group DM it is not in), the
answer goes through the slash command's ``response_url`` with a hint to invite
the bot (see :mod:`bot.slack.reply`).
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat import NO_ANSWER, ApprovalCard, ChatRequest, Checklist, Table, cut_at_boundary
from bot.dynamo import Keep
from bot.idempotency import Claim, duplicate
from bot.outbox import Journal, OutboxStore, Parcel, checklist_items, new_id
from bot.pacing import Pacer
from bot.slack import blocks as b
from bot.slack import markup
from bot.slack.delivery import UNDELIVERED, deliver_parcel
from bot.slack.feedback import feedback_block, stop_blocks
from bot.slack.reply import NOT_REACHABLE, ResponseUrlReply, is_reply_thread, reply_thread
from bot.slack.tasks import DISPLAY_MODE, TaskCards
from centralops.events import Followup

logger = logging.getLogger(__name__)

PACE_S = 1.3  # between two paced Web API calls of one answer: under one call a second overall
KEEP_GRACE_S = 0.5  # a close the thread takes within this needs no copy in the outbox (see finish)
NOTE_EVERY_S = 1.0  # an open answer's outbox copy is brought up to date at most this often
TABLE_HOLD_S = 0.3  # a table waits at least this long (else until the next paced slot) for the answer's end
INLINE_CAP = 3500  # characters of answer text shown in the thread; the rest goes into the attached file
MAX_TABLE_MESSAGES = 5  # tables shown in the thread; later ones are only in the attached file
_BLOCKS_REFUSED = {"invalid_blocks", "invalid_blocks_format"}
_NO_STREAMING = {"unknown_method", "method_not_supported_for_channel_type", "not_allowed_token_type"}


class StreamingSupport:
    """Remembers, per process, whether the workspace has the streaming methods."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled


def markdown_table(table: Table) -> str:
    """A table as GitHub markdown, for the answer file."""

    def row(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    lines = [row(table.columns), "|" + "---|" * len(table.columns), *(row(r) for r in table.rows)]
    return ("**" + table.title + "**\n\n" if table.title else "") + "\n".join(lines) + "\n"


@dataclass
class HeldTable:
    """A table message not posted yet: if the answer ends first, it is posted once with the closing parts."""

    text: str  # the notification text
    blocks: list[dict[str, Any]]  # the text before the table, then the table
    lead_blocks: list[dict[str, Any]]  # the text before the table alone (kept if the table block is refused)
    table: Table
    clipped: bool  # the whole table follows as a CSV file
    posted: bool = False  # its message is in the thread (its file may still be to come)


class SlackRenderer:
    """Shows one conversation turn in one Slack thread.

    Args:
        client: The Web API client (retries 429s after Retry-After).
        channel: Channel id.
        team: Workspace id.
        user: The person the answer is for (ephemeral notices, stream recipient).
        thread_ts: The thread; ``None`` for a slash command (the parent is posted on open).
        streaming: Shared switch of the streaming methods.
        pace_s: Minimum time between two paced calls.
        card_ts: The message holding an approval card (for ``decided``).
        on_open: Called once the answer has started (its thread exists) or a card was decided.
        response_url: The slash command's reply URL, used where the bot cannot post.
        outbox: Keeps the answer until it is delivered (see :mod:`bot.outbox`).
        claim: The delivery's claim, when not made yet: the answer's outbox item makes it, else the
            first notice (:class:`~bot.idempotency.Claim`); a lost claim raises ``DuplicateDelivery``.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        channel: str,
        team: str,
        user: str,
        thread_ts: str | None,
        streaming: StreamingSupport,
        pace_s: float = PACE_S,
        card_ts: str | None = None,
        on_open: Callable[[], None] | None = None,
        response_url: str | None = None,
        outbox: OutboxStore | None = None,
        claim: Claim | None = None,
    ) -> None:
        self.client = client
        self.outbox = outbox
        self.claim = claim
        self._journal: Journal | None = None
        self.on_open = on_open
        self.channel, self.team, self.user = channel, team, user
        self.thread_ts = thread_ts
        self.streaming = streaming
        self.pace_s = pace_s
        self.card_ts = card_ts
        self.response_url = response_url
        self._reply: ResponseUrlReply | None = None  # set when the channel is out of reach
        if response_url and is_reply_thread(thread_ts):
            # A click on an answer given through a response_url: answer the same way.
            self._reply = ResponseUrlReply(response_url, user)
        self._checklist: Checklist | None = None
        self._checklist_dirty = False
        self._status_ts: str | None = None
        self._question = ""
        self._file = ""  # the whole answer as markdown (text and tables), for the attached file
        self._pending = ""  # text not yet shown
        self._shown = 0  # characters of text shown in the thread so far
        self._segment = ""  # the text of the message currently growing
        self._cut = False  # the thread shows only the head of the answer; the file has all of it
        self._tables = 0
        self._stream: AsyncChatStream | None = None
        self._stream_here = True  # False once a stream could not start in this place
        self._answer_ts: str | None = None  # fallback message of the current segment
        self._last: dict[str, Any] | None = None  # the newest message of the answer: ts, text, blocks
        self._held: HeldTable | None = None  # the newest table, until something follows it or it is due
        self._held_due = 0.0  # monotonic time the held table is posted at, whatever else happens
        self._followups: list[Followup] = []
        self._rating: list[dict[str, Any]] = []  # the feedback buttons of the closing message
        self._tasks = TaskCards()  # the checklist as task cards, where the stream exists
        self._stop_offer: asyncio.Task[Any] | None = None  # posting the Stop message
        self._errors: list[str] = []
        self._approval_posted = False
        self._finished = False
        self._shown_checklist = ""
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._pacer = Pacer(pace_s)
        self._lock = asyncio.Lock()

    # -- private answers -------------------------------------------------

    async def notice(self, text: str) -> None:
        """A private message to the requester."""
        if self.claim is not None:
            await self.claim.plain()
        body = b.clip(markup.mrkdwn(text), 3000)
        if await self._ephemeral(text=body):
            return
        await self._reachable_reply().notice(body)

    async def login_prompt(self, url: str, text: str) -> None:
        """A private sign-in button."""
        if self.claim is not None:
            await self.claim.plain()
        blocks = b.login_blocks(url, text)
        if await self._ephemeral(text=markup.notification(text), blocks=blocks):
            return
        await self._reachable_reply().notice(markup.notification(text), blocks)

    async def _ephemeral(self, **body: Any) -> bool:
        try:
            await self.client.chat_postEphemeral(
                channel=self.channel, user=self.user, thread_ts=self.thread_ts, **body
            )
            return True
        except SlackApiError as e:
            if e.response.get("error") in NOT_REACHABLE and self.response_url:
                return False
            raise

    def _reachable_reply(self) -> ResponseUrlReply:
        if self._reply is None:
            self._reply = ResponseUrlReply(str(self.response_url), self.user)
        return self._reply

    # -- the answer --------------------------------------------------------

    async def open(self, request: ChatRequest) -> str:
        """Post the parent message of a slash command, or reuse the event's thread."""
        self._question = request.text
        if self._reply is not None and not self._reply.question:
            self._reply.question = request.text  # a click answered through its response_url
        if self.thread_ts is None:
            try:
                out = await self.client.chat_postMessage(
                    channel=self.channel,
                    text=b.parent_text(self.user, request.text),
                    blocks=b.parent_blocks(self.user, request.text),
                )
            except SlackApiError as e:
                if e.response.get("error") not in NOT_REACHABLE or not self.response_url:
                    raise
                logger.info(
                    "channel out of reach; answering through the response_url",
                    extra={"channel": self.channel, "error": e.response.get("error")},
                )
                self._reply = ResponseUrlReply(self.response_url, self.user, question=request.text)
                self.thread_ts = reply_thread(self.channel)
            else:
                self.thread_ts = self._status_ts = str(out["ts"])
                self._pacer.spent()
        if self.on_open is not None:
            self.on_open()
        await self._keep()  # creating the outbox item claims the delivery
        if self.claim is not None:
            await self.claim.plain()  # no outbox item to claim with (a response_url answer, say)
        return self.thread_ts

    async def progress(self, checklist: Checklist) -> None:
        """Schedule the checklist to be shown."""
        self._checklist = checklist
        if self._reply is not None:
            return  # a response_url answer shows no progress (the pump would find nothing to do)
        self._checklist_dirty = True
        if self._held is not None:
            await self._release_soon()
        self._kick()

    async def text(self, delta: str) -> None:
        """Schedule a piece of the answer to be shown."""
        self._file += delta
        if self._reply is not None:
            self._reply.text(delta)
            return
        self._pending += delta
        if self._held is not None and self._pending.strip() and not self._cut:
            await self._release_soon()
        self._kick()

    async def table(self, table: Table) -> None:
        """Close the text so far and show the table as a message of its own (Slack allows one per message).

        The table message is held until something follows it, its paced slot comes (at least
        :data:`TABLE_HOLD_S` later), or the answer ends: then it also carries the closing parts, and
        the answer needs no update of it.
        """
        self._file += ("\n\n" if self._file and not self._file.endswith("\n\n") else "") + markdown_table(
            table
        )
        if self._reply is not None:
            self._reply.table(table)
            return
        async with self._lock:
            await self._release()
            called = False
            if self._checklist_dirty:
                # The task cards come before the table, as they happened.
                called = await self._flush_checklist()
            if self._tables >= MAX_TABLE_MESSAGES:
                await self._flush_text(final=True)
                self._cut = True
                return
            lead = ""
            if self._stream is None and self._answer_ts is None and not self._cut:
                # Nothing of this part is shown yet: the text before the table rides in the table's
                # message (one call, in order), instead of a message of its own.
                lead = cut_at_boundary(self._pending, INLINE_CAP - self._shown)
                self._cut = len(lead) < len(self._pending)
                self._pending, self._shown = "", self._shown + len(lead)
            else:
                called = await self._end_segment() or called
            if called:
                self._pacer.spent()
            self._tables += 1
            lead_blocks = [b.markdown(lead.strip())] if lead.strip() else []
            held = HeldTable(
                text=markup.notification(lead.strip() or table.summary()),
                blocks=[*lead_blocks, *b.table_blocks(table)],
                lead_blocks=lead_blocks,
                table=table,
                clipped=len(table.rows) > b.TABLE_ROWS or len(table.columns) > b.TABLE_COLUMNS,
            )
            if held.clipped:  # its file follows it at once: nothing can ride in its message
                await self._show_table(held)
                self._pacer.spent()
                return
            self._held = held
            self._held_due = time.monotonic() + max(TABLE_HOLD_S, self._pacer.wait_s())
            self._kick()

    async def _show_table(
        self,
        held: HeldTable,
        closing: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> bool:
        """Post a table message (with ``closing`` blocks and ``metadata`` when it ends the answer).

        Returns:
            Whether the closing parts went with it (a refused table block leaves them to the caller).
        """
        try:
            await self._post(held.text, [*held.blocks, *(closing or [])], metadata=metadata)
            held.posted = True
            clipped, closed = held.clipped, metadata is not None
        except SlackApiError as e:
            if e.response.get("error") not in _BLOCKS_REFUSED:
                raise
            # A workspace that cannot show the table block still gets the rows, as a file.
            logger.warning(
                "table block refused; sending the table as a file", extra={"error": e.response.get("error")}
            )
            note = b.context(f"The table ({len(held.table.rows)} rows) is in the attached CSV file.")
            await self._post(held.text, [*held.lead_blocks, note])
            held.posted = True
            clipped, closed = True, False
        if clipped:
            await self._upload(held.table.csv(), "table.csv", held.table.title or "CentralOps table", "csv")
        return closed

    async def _release(self) -> None:
        """Post the held table as it is: something is about to appear below it, or its time came."""
        held, self._held = self._held, None
        if held is None:
            return
        try:
            await self._show_table(held)
        except BaseException:
            if not held.posted:
                self._held = held  # still to show: the next write or the close posts it
                self._held_due = time.monotonic() + self.pace_s
            raise
        finally:
            self._pacer.spent()

    async def _release_soon(self) -> None:
        """Something follows the held table: post it now, or, while a write is under way, right after it."""
        self._held_due = 0.0
        if self._lock.locked():
            return  # the pump takes it next (the caller kicks it)
        async with self._lock:
            try:
                await self._release()
            except UNDELIVERED as e:
                logger.warning(
                    "table not posted yet; it goes with the next write", extra={"error": str(e)[:200]}
                )

    async def approval(self, card: ApprovalCard) -> None:
        """Post the approval card at once (after what was said so far)."""
        if self._reply is not None:
            self._reply.approval(card)
            return
        async with self._lock:
            await self._release()
            await self._flush_checklist()
            await self._end_segment()
            self._approval_posted = True
            await self._post(markup.notification(f"Approval needed: {card.command}"), b.approval_blocks(card))

    async def followups(self, items: list[Followup]) -> None:
        """Keep the buttons for the final message."""
        self._followups = items
        if self._reply is not None:
            self._reply.followups(items)

    async def stoppable(self, turn_id: str, stop: Callable[[], None]) -> None:
        """Offer Stop in the thread while the answer is written; the message goes when the answer closes."""
        if self._reply is None:
            # Posted while the question goes to the agent; finish() waits for it before removing it.
            self._stop_offer = asyncio.create_task(self._offer_stop(turn_id))

    async def _offer_stop(self, turn_id: str) -> Any:
        out = await self.client.chat_postMessage(
            channel=self.channel,
            thread_ts=self.thread_ts,
            text="The answer is being written. Stop",
            blocks=stop_blocks(turn_id),
        )
        self._pacer.spent()  # a write to the thread like any other: the next paced update waits its turn
        return out

    async def _remove_stop(self) -> None:
        offer, self._stop_offer = self._stop_offer, None
        if offer is None:
            return
        try:
            out = await offer
            await self.client.chat_delete(channel=self.channel, ts=str(out["ts"]))
        except SlackApiError as e:
            logger.warning("stop control not removed", extra={"error": e.response.get("error")})

    def keep_with_answer(self, keeps: list[Keep]) -> bool:
        """Write ``keeps`` in the transaction that marks this answer delivered (see :mod:`bot.outbox`)."""
        if self._journal is None:
            return False
        self._journal.also += keeps
        return True

    def rate(self, answer_id: str) -> None:
        """Put thumbs up / down on the closing message."""
        self._rating = [feedback_block(answer_id)]

    def cite(self, sources: list[tuple[str, str]]) -> None:
        """Slack names each call in the answer's task cards (or checklist) already."""

    async def error(self, message: str) -> None:
        """Keep the error for the final message (where the person reads the outcome)."""
        self._errors.append(message)

    async def decided(self, card: ApprovalCard) -> None:
        """Replace the clicked approval card for everyone."""
        if self.on_open is not None:
            self.on_open()
        text = markup.notification(f"{card.status}: {card.command}")
        if self._reply is not None:
            # A card posted through a response_url: the click's own response_url replaces it.
            await self._reply.replace(text, b.approval_blocks(card))
        elif self.card_ts:
            await self.client.chat_update(
                channel=self.channel, ts=self.card_ts, text=text, blocks=b.approval_blocks(card)
            )

    async def finish(self) -> None:
        """Stop pacing, then show everything left with the closing metadata."""
        if self._finished:
            # A failure after the answer closed: say so in a message of its own.
            late, self._errors = self._errors, []
            if late:
                text = "\n\n".join(f":warning: {markup.mrkdwn(m)}" for m in late)
                if self._reply is not None:
                    await self._reply.notice(text)
                else:
                    await self.client.chat_postMessage(
                        channel=self.channel, thread_ts=self.thread_ts, text=text
                    )
            return
        if self.claim is not None and self._journal is None:
            await self.claim.plain()  # an answer that ends before it opened still shows once
        self._finished = True
        self._closing.set()
        self._wake.set()
        if self._pump is not None:
            await self._pump
        if self._reply is not None:
            await self._reply.finish(self._errors)
            self._errors = []
            return
        async with self._lock:
            if self._checklist is not None:
                self._checklist.close()  # no line is left running, whatever ended the answer
            if self._errors or self._cut:
                await self._keep(closing=True)  # shown only by the close: kept before it
            try:
                await self._kept_unless_quick(self._close_all())
            except UNDELIVERED as e:
                logger.warning("answer could not be closed; posting it whole", extra={"error": str(e)[:200]})
                await self._fall_back()
                self._errors = []
                await self._remove_stop()
                return
            self._errors = []
            # The answer is closed in the thread: the delivery mark and the Stop message's removal
            # (which cannot fail the answer) go at once.
            await asyncio.gather(
                self._remove_stop(), *([self._journal.delivered()] if self._journal is not None else [])
            )

    async def _close_all(self) -> None:
        await self._flush_checklist(final=True)
        await self._close_answer()

    async def _kept_unless_quick(self, close: Awaitable[None]) -> None:
        """Run the closing chat writes; unless the thread takes them within :data:`KEEP_GRACE_S`, keep the
        whole answer in the outbox meanwhile.

        A healthy close needs no copy: the answer reaches the thread as fast as DynamoDB would take it.
        A close held up by rate limits or an outage is kept while it waits, so another replica can
        finish it if this one stops.
        """
        task = asyncio.ensure_future(close)
        if self._journal is not None:
            done, _ = await asyncio.wait({task}, timeout=KEEP_GRACE_S)
            if not done:
                await self._keep(closing=True)
        await task

    async def _keep(self, closing: bool = False) -> None:
        """Record the answer as it stands in the outbox (paced), or all of it when ``closing``."""
        if self.outbox is None or self._reply is not None or not self.thread_ts:
            return
        if self._journal is None:
            claim = self.claim if self.claim is not None and not self.claim.done else None
            parcel = self._parcel()
            if claim is not None:
                parcel.answer_id, claim.done = claim.answer_id, True
            self._journal = Journal(self.outbox, parcel, every_s=max(self.pace_s, NOTE_EVERY_S))
            if not await self._journal.start(claim=claim is not None):
                await self._withdraw_parent()
                raise duplicate(claim.key if claim else "")
        fresh = self._parcel()
        if closing:
            await self._journal.closing(fresh.body, fresh.checklist, fresh.checklist_ref)
        else:
            await self._journal.note(
                body=fresh.body, checklist=fresh.checklist, checklist_ref=fresh.checklist_ref
            )

    async def _withdraw_parent(self) -> None:
        """Another delivery of this message answers it: remove the question this one posted."""
        if self._status_ts is not None and self._status_ts == self.thread_ts:
            try:
                await self.client.chat_delete(channel=self.channel, ts=self._status_ts)
            except UNDELIVERED as e:
                logger.warning("duplicate question not removed", extra={"error": type(e).__name__})

    async def _fall_back(self) -> None:
        """The answer could not close in place: post it whole (the outbox keeps it if even that fails)."""
        growing = self._stream.ts if self._stream is not None else self._answer_ts
        self._stream = None  # a stream that cannot continue is not written to again
        self._held = None  # a table not posted is in the parcel's body
        journal = self._journal
        parcel = self._parcel()
        if journal is not None:  # the whole answer, for the sweeper too if this delivery fails
            parcel.answer_id = journal.parcel.answer_id
            journal.parcel = parcel
        # The message the answer grew in holds all of it, unless tables or a card split the answer.
        alone = not self._tables and not self._approval_posted
        try:
            await deliver_parcel(
                self.client, parcel, inline_cap=INLINE_CAP, replace_ts=growing if alone else None
            )
        except UNDELIVERED as e:
            logger.warning("answer not delivered; left to the outbox", extra={"error": str(e)[:200]})
            if journal is not None:
                await journal.abandon()
            return
        if journal is not None:
            await journal.delivered()

    def _parcel(self) -> Parcel:
        """The answer as it stands, as the outbox keeps it."""
        return Parcel(
            answer_id=new_id(),
            platform="slack",
            team=self.team,
            channel=self.channel,
            thread=str(self.thread_ts),
            user=self.user,
            state="closing" if self._finished else "open",
            body=self._file + "".join(f"\n\n⚠️ {m}" for m in self._errors),
            checklist=checklist_items(self._checklist),
            checklist_ref=self._status_ts or "",
            extra={"question": self._question} if self._question else {},
        )

    # -- pacing ------------------------------------------------------------

    def _kick(self) -> None:
        self._wake.set()
        if self._pump is None and not self._closing.is_set():
            self._pump = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self._closing.is_set():
            await self._wake.wait()
            while (delay := self._delay()) > 0 and not self._closing.is_set():
                try:
                    await asyncio.wait_for(self._closing.wait(), timeout=delay)
                except TimeoutError:
                    pass
            if self._closing.is_set():
                return
            self._wake.clear()
            async with self._lock:
                try:
                    did = await self._flush_one()
                except UNDELIVERED as e:  # what did not go out is still pending; the close shows it
                    logger.warning("slack update failed", extra={"error": type(e).__name__})
                    did = True
                await self._keep()
            if did:
                self._pacer.spent()
            if self._checklist_dirty or self._ready() or self._held is not None:
                self._wake.set()

    def _delay(self) -> float:
        """Seconds until the pump may write: a held table goes at its own time, anything else when paced."""
        if self._held is not None:
            return max(0.0, self._held_due - time.monotonic())
        return self._pacer.wait_s()

    def _ready(self) -> str:
        """Whole lines waiting to be shown (a line is shown once it is complete)."""
        if self._reply is not None or self._cut:
            return ""
        return self._pending[: self._pending.rfind("\n") + 1]

    async def _flush_one(self) -> bool:
        if self._held is not None:
            await self._release()
            return True
        if self._checklist_dirty:
            return await self._flush_checklist()
        if self._ready():
            return await self._flush_text()
        return False

    async def _flush_checklist(self, final: bool = False) -> bool:
        if self._reply is not None or (not final and (self._checklist is None or not self._checklist_dirty)):
            return False
        self._checklist_dirty = False
        checklist = self._checklist or Checklist()
        if final:
            checklist = Checklist(status="", items=checklist.items)
        tasks = await self._task_cards(checklist)
        if tasks is not None:
            checklist = Checklist()  # the calls show as task cards in the stream, not in a message
        text = b.checklist_text(checklist) if (checklist.items or checklist.status) else ""
        if text == self._shown_checklist and not (final and not text and self._status_ts):
            return bool(tasks)
        if self._status_ts is not None and self._status_ts == self.thread_ts and self._question:
            # A finished answer that ran nothing keeps only the question: no progress line is left behind.
            await self.client.chat_update(
                channel=self.channel,
                ts=self._status_ts,
                text=b.parent_text(self.user, self._question),
                blocks=b.parent_blocks(self.user, self._question, text or None),
            )
        elif self._status_ts is not None:
            if text:
                await self.client.chat_update(
                    channel=self.channel,
                    ts=self._status_ts,
                    text=markup.plain(text),
                    blocks=[b.context(text)],
                )
            else:
                await self.client.chat_delete(channel=self.channel, ts=self._status_ts)
                self._status_ts = None
        elif text:
            await self._release()
            out = await self.client.chat_postMessage(
                channel=self.channel,
                thread_ts=self.thread_ts,
                text=markup.plain(text),
                blocks=[b.context(text)],
            )
            self._status_ts = str(out["ts"])
        self._shown_checklist = text  # only once Slack took it: a refused update is sent again
        return True

    async def _flush_text(self, final: bool = False) -> bool:
        """Show waiting text (whole lines, or everything when ``final``) within the inline budget."""
        piece = self._take_text(final)
        if not piece:
            return False
        await self._show_text(piece)
        return True

    def _take_text(self, final: bool) -> str:
        """The waiting text due to be shown (whole lines, or everything when ``final``) within the inline
        budget, taken from what waits; empty when there is nothing to show."""
        ready = self._pending if final else self._ready()
        if not ready or self._cut:
            return ""
        piece = cut_at_boundary(ready, INLINE_CAP - self._shown)
        if len(piece) < len(ready):
            self._cut = True
        self._pending = self._pending[len(ready) :] if piece == ready else ""
        if not piece.strip():
            return ""
        self._shown += len(piece)
        self._segment += piece
        return piece

    async def _show_text(self, piece: str) -> None:
        """Append ``piece`` to the stream, or show the segment it belongs to in the fallback message."""
        if self.streaming.enabled and self._stream_here and await self._append(piece):
            return
        await self._update_fallback(self._segment)

    async def _open_stream(self) -> AsyncChatStream:
        if self._stream is None:
            await self._release()  # the stream is a new message: the held table goes above it
            self._stream = await self.client.chat_stream(
                channel=self.channel,
                thread_ts=str(self.thread_ts),
                recipient_team_id=self.team,
                recipient_user_id=self.user,
                task_display_mode=DISPLAY_MODE,
                buffer_size=1,
            )
        return self._stream

    async def _task_cards(self, checklist: Checklist) -> bool | None:
        """Show the calls as task cards in the stream: whether a call was made; ``None`` where it cannot."""
        if self._reply is not None or not (checklist.items or self._tasks.started):
            return None
        if not (self.streaming.enabled and self._stream_here):
            return None
        if self._stream is None and self._tasks.started and self._finished:
            return False  # the answer's last stream is closed; its cards were sent as calls ended
        chunks = self._tasks.chunks(checklist)
        if not chunks:
            return False
        try:
            await (await self._open_stream()).append(chunks=chunks)
            return True
        except SlackApiError as e:
            if self._stream is None or self._stream.ts is not None:
                raise
            self._no_stream(e)
            self._tasks = TaskCards()
            return None

    def _no_stream(self, e: SlackApiError) -> None:
        # The stream never started: this answer is one updated message instead, and the
        # workspace-wide switch goes off only when the methods themselves are missing.
        error = e.response.get("error")
        logger.info("streaming unavailable; updating one message", extra={"error": error})
        if error in _NO_STREAMING:
            self.streaming.enabled = False
        self._stream_here = False
        self._stream = None

    async def _append(self, piece: str) -> bool:
        """Append through the streaming methods; ``False`` when the workspace has none."""
        try:
            await (await self._open_stream()).append(markdown_text=markup.markdown(piece))
            return True
        except SlackApiError as e:
            if self._stream is not None and self._stream.ts is None:
                self._no_stream(e)
                return False
            raise

    async def _update_fallback(
        self, text: str, more: list[dict[str, Any]] | None = None, **extra: Any
    ) -> None:
        body = text.strip() or "…"
        args: dict[str, Any] = {
            "channel": self.channel,
            "text": markup.notification(body),
            "blocks": [b.markdown(body), *(more or [])],
            **extra,
        }
        if self._answer_ts is None:
            await self._release()
            out = await self.client.chat_postMessage(thread_ts=self.thread_ts, **args)
            self._answer_ts = str(out["ts"])
        else:
            await self.client.chat_update(ts=self._answer_ts, **args)
        self._last = {"ts": self._answer_ts, "text": args["text"], "blocks": args["blocks"]}

    async def _end_segment(self) -> bool:
        """Show the text due and close the message it grew in, so what comes next appears below it.

        Text due while a stream is open rides in its ``chat.stopStream`` (one call, not an append and a
        stop). Returns whether a call was made.
        """
        piece = self._take_text(final=True)
        called = bool(piece)
        if self._stream is not None and self._stream.ts is not None:
            await self._stream.stop(markdown_text=markup.markdown(piece) if piece else None)
            called = True
        else:
            if piece:
                await self._show_text(piece)
            if self._stream is not None:
                await self._stream.stop()
                called = True
        if self._stream is not None:
            self._last = {"ts": self._stream.ts, "stream": True}
            self._stream = None
        self._answer_ts = None
        self._segment = ""
        return called

    async def _post(
        self, text: str, blocks: list[dict[str, Any]], metadata: dict[str, Any] | None = None
    ) -> None:
        out = await self.client.chat_postMessage(
            channel=self.channel, thread_ts=self.thread_ts, text=text, blocks=blocks, metadata=metadata
        )
        self._last = {"ts": str(out["ts"]), "text": text, "blocks": blocks}

    def _closing_text(self) -> str:
        if not self._cut:
            return ""
        lines = self._file.strip().count("\n") + 1
        size = len(self._file.encode())
        return (
            f"\n\n_That is the first part. The full answer ({lines} lines, {max(size // 1024, 1)} kB) "
            "is in the attached file._"
        )

    async def _close_answer(self) -> None:
        """Show what is left and close the answer, in as few calls as the thread allows.

        The text still waiting rides in the closing call when a message can take it (the open
        stream's ``chat.stopStream``, or the fallback message); a held table that nothing follows is
        posted once, with the buttons and the metadata.
        """
        piece = self._take_text(final=True)
        if self._cut:
            if piece:
                await self._show_text(piece)  # above the file, as it came
                piece = ""
            await self._upload(self._file, "answer.md", "CentralOps answer", "markdown")
        tail = self._closing_text() + "".join(f"\n\n⚠️ {m}" for m in self._errors)
        followups = b.followup_blocks(self._followups) + self._rating
        metadata = {
            "event_type": b.ANSWER_EVENT,
            "event_payload": {"status": "error" if self._errors else "done", "file": self._cut},
        }
        if self._held is not None and not piece and not tail.strip():
            # The answer ends with this table: its one message closes the answer.
            held, self._held = self._held, None
            if await self._show_table(held, followups, metadata):
                return
        await self._release()
        opened = self._stream is not None and self._stream.ts is not None
        if piece and not opened and self.streaming.enabled and self._stream_here:
            await self._show_text(piece)  # a new stream starts with the text (or the fallback message)
            piece = ""
        if self._stream is not None:
            text = (markup.markdown(piece) if piece else "") + (markup.markdown(tail) if tail else "")
            await self._stream.stop(markdown_text=text or None, blocks=followups or None, metadata=metadata)
            return
        if self._answer_ts is not None or piece:
            await self._update_fallback(self._segment + tail, followups, metadata=metadata)
            return
        last = self._last
        if tail.strip() or last is None or last.get("stream"):
            body = tail.strip() or NO_ANSWER
            await self.client.chat_postMessage(
                channel=self.channel,
                thread_ts=self.thread_ts,
                text=markup.notification(body),
                blocks=[b.markdown(body), *followups],
                metadata=metadata,
            )
            return
        # The answer ended with a table or an approval card: that message closes it and carries the
        # follow-up buttons; no line is added after it.
        await self.client.chat_update(
            channel=self.channel,
            ts=last["ts"],
            text=last["text"],
            blocks=[*last["blocks"], *followups],
            metadata=metadata,
        )

    async def attach(self, name: str, content: bytes, title: str) -> None:
        """Upload a document (the full results of a wide fan-out) into the thread."""
        async with self._lock:  # below what is shown so far, a held table included
            await self._upload(
                content,
                name,
                title,
                "json",
                failed=f"{title} could not be attached as a file; ask about fewer accounts.",
            )

    async def _upload(
        self,
        content: str | bytes,
        filename: str,
        title: str,
        kind: str,
        failed: str = "The full answer could not be attached as a file; ask about fewer accounts at once.",
    ) -> None:
        await self._release()  # the file is a new message: the held table goes above it
        try:
            await self.client.files_upload_v2(
                channel=self.channel,
                thread_ts=self.thread_ts,
                content=content,
                filename=filename,
                title=title,
                snippet_type=kind,
            )
        except SlackApiError as e:
            logger.warning("file upload failed", extra={"error": e.response.get("error")})
            self._errors.append(failed)
