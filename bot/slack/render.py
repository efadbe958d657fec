"""Renders one answer into a Slack thread, paced to at most one Web API call a second.

Text streams with ``chat.startStream / appendStream / stopStream`` (slack-sdk's
``chat_stream``); when the workspace lacks those methods the answer is one
message updated in place. Progress (status and the per-account checklist) lives
in the parent message of a slash command, or in one status reply in the thread.
Long answers and wide tables are attached as a file with a short summary.
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat import ApprovalCard, ChatRequest, Checklist
from bot.slack import blocks as b
from centralops.events import Followup

logger = logging.getLogger(__name__)

PACE_S = 1.3  # between two paced Web API calls of one answer: under one call a second overall
STREAM_CAP = 3500  # characters streamed inline; the rest goes into the attached file
WIDE_LINE = 120  # a table row wider than this is unreadable inline
SUMMARY_LINES = 12
_NO_STREAMING = {"unknown_method", "method_not_supported_for_channel_type", "not_allowed_token_type"}


class StreamingSupport:
    """Remembers, per process, whether the workspace has the streaming methods."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled


def needs_file(text: str) -> bool:
    """Whether an answer is too long or too wide to read inline."""
    return len(text) > STREAM_CAP or any(len(line) > WIDE_LINE and "|" in line for line in text.splitlines())


def summary(text: str) -> str:
    """The first lines of a long answer."""
    lines = text.strip().splitlines()
    head = "\n".join(line for line in lines[:SUMMARY_LINES] if len(line) <= WIDE_LINE or "|" not in line)
    return b.clip(head, 1500) + f"\n\n_The full answer ({len(lines)} lines) is in the attached file._"


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
    ) -> None:
        self.client = client
        self.on_open = on_open
        self.channel, self.team, self.user = channel, team, user
        self.thread_ts = thread_ts
        self.streaming = streaming
        self.pace_s = pace_s
        self.card_ts = card_ts
        self._checklist: Checklist | None = None
        self._checklist_dirty = False
        self._status_ts: str | None = None
        self._question = ""
        self._full = ""
        self._sent = 0  # characters of _full already shown inline
        self._stream: AsyncChatStream | None = None
        self._answer_ts: str | None = None  # fallback message
        self._followups: list[Followup] = []
        self._errors: list[str] = []
        self._approval_posted = False
        self._finished = False
        self._shown_checklist = ""
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._next_at = 0.0
        self._lock = asyncio.Lock()

    # -- private answers -------------------------------------------------

    async def notice(self, text: str) -> None:
        """A private message to the requester."""
        await self.client.chat_postEphemeral(
            channel=self.channel, user=self.user, text=b.clip(text, 3000), thread_ts=self.thread_ts
        )

    async def login_prompt(self, url: str, text: str) -> None:
        """A private sign-in button."""
        await self.client.chat_postEphemeral(
            channel=self.channel,
            user=self.user,
            text=text,
            blocks=b.login_blocks(url, text),
            thread_ts=self.thread_ts,
        )

    # -- the answer --------------------------------------------------------

    async def open(self, request: ChatRequest) -> str:
        """Post the parent message of a slash command, or reuse the event's thread."""
        self._question = request.text
        if self.thread_ts is None:
            out = await self.client.chat_postMessage(
                channel=self.channel,
                text=b.parent_text(self.user, request.text),
                blocks=b.parent_blocks(self.user, request.text),
            )
            self.thread_ts = self._status_ts = str(out["ts"])
            self._next_at = asyncio.get_running_loop().time() + self.pace_s
        if self.on_open is not None:
            self.on_open()
        return self.thread_ts

    async def progress(self, checklist: Checklist) -> None:
        """Schedule the checklist to be shown."""
        self._checklist = checklist
        self._checklist_dirty = True
        self._kick()

    async def text(self, delta: str) -> None:
        """Schedule a piece of the answer to be shown."""
        self._full += delta
        self._kick()

    async def approval(self, card: ApprovalCard) -> None:
        """Post the approval card at once (after what was said so far)."""
        await self._flush_all()
        self._approval_posted = True
        await self.client.chat_postMessage(
            channel=self.channel,
            thread_ts=self.thread_ts,
            text=f"Approval needed: {card.command}",
            blocks=b.approval_blocks(card),
        )

    async def followups(self, items: list[Followup]) -> None:
        """Keep the buttons for the final message."""
        self._followups = items

    async def error(self, message: str) -> None:
        """Keep the error for the final message (where the person reads the outcome)."""
        self._errors.append(message)

    async def decided(self, card: ApprovalCard) -> None:
        """Replace the clicked approval card for everyone."""
        if self.on_open is not None:
            self.on_open()
        if self.card_ts:
            await self.client.chat_update(
                channel=self.channel,
                ts=self.card_ts,
                text=f"{card.status}: {card.command}",
                blocks=b.approval_blocks(card),
            )

    async def finish(self) -> None:
        """Stop pacing, then show everything left with the closing metadata."""
        if self._finished:
            # A failure after the answer closed: say so in a message of its own.
            late, self._errors = self._errors, []
            if late:
                text = "\n\n".join(f":warning: {m}" for m in late)
                await self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts, text=text)
            return
        self._finished = True
        self._closing.set()
        self._wake.set()
        if self._pump is not None:
            await self._pump
        async with self._lock:
            await self._flush_checklist(final=True)
            await self._close_answer()
            self._errors = []

    # -- pacing ------------------------------------------------------------

    def _kick(self) -> None:
        self._wake.set()
        if self._pump is None and not self._closing.is_set():
            self._pump = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing.is_set():
            await self._wake.wait()
            delay = self._next_at - loop.time()
            if delay > 0:
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
                except SlackApiError as e:
                    logger.warning("slack update failed", extra={"error": e.response.get("error")})
                    did = True
            if did:
                self._next_at = loop.time() + self.pace_s
            if self._checklist_dirty or self._inline_pending():
                self._wake.set()

    def _inline_pending(self) -> bool:
        return self._sent < min(len(self._full), STREAM_CAP)

    async def _flush_one(self) -> bool:
        if self._checklist_dirty:
            return await self._flush_checklist()
        if self._inline_pending():
            await self._flush_text()
            return True
        return False

    async def _flush_all(self) -> None:
        async with self._lock:
            await self._flush_checklist()
            if self._inline_pending():
                await self._flush_text()

    async def _flush_checklist(self, final: bool = False) -> bool:
        if not final and (self._checklist is None or not self._checklist_dirty):
            return False
        self._checklist_dirty = False
        checklist = self._checklist or Checklist()
        if final:
            if self._status_ts is None and not checklist.items:
                return False
            checklist = Checklist(status="", items=checklist.items)
        if checklist.items or checklist.status:
            text = b.checklist_text(checklist)
        else:
            text = "_Finished with an error._" if self._errors else "_Done._"
        if text == self._shown_checklist:
            return False
        self._shown_checklist = text
        if self._status_ts is not None and self._status_ts == self.thread_ts and self._question:
            await self.client.chat_update(
                channel=self.channel,
                ts=self._status_ts,
                text=b.parent_text(self.user, self._question),
                blocks=b.parent_blocks(self.user, self._question, text),
            )
        elif self._status_ts is not None:
            await self.client.chat_update(
                channel=self.channel, ts=self._status_ts, text=text, blocks=[b.context(text)]
            )
        else:
            out = await self.client.chat_postMessage(
                channel=self.channel, thread_ts=self.thread_ts, text=text, blocks=[b.context(text)]
            )
            self._status_ts = str(out["ts"])
        return True

    async def _flush_text(self) -> None:
        upto = min(len(self._full), STREAM_CAP)
        piece = self._full[self._sent : upto]
        if self.streaming.enabled and await self._append(piece):
            self._sent = upto
            return
        await self._update_fallback(self._full[:upto])
        self._sent = upto

    async def _append(self, piece: str) -> bool:
        """Append through the streaming methods; ``False`` when the workspace has none."""
        try:
            if self._stream is None:
                self._stream = await self.client.chat_stream(
                    channel=self.channel,
                    thread_ts=str(self.thread_ts),
                    recipient_team_id=self.team,
                    recipient_user_id=self.user,
                    buffer_size=1,
                )
            await self._stream.append(markdown_text=piece)
            return True
        except SlackApiError as e:
            if (
                self._stream is not None
                and self._stream.ts is None
                and e.response.get("error") in _NO_STREAMING
            ):
                logger.info(
                    "streaming methods unavailable; updating one message",
                    extra={"error": e.response.get("error")},
                )
                self.streaming.enabled = False
                self._stream = None
                return False
            raise

    async def _update_fallback(self, text: str, **extra: Any) -> None:
        body = text or "…"
        if self._answer_ts is None:
            out = await self.client.chat_postMessage(
                channel=self.channel, thread_ts=self.thread_ts, text=body, blocks=[b.markdown(body)], **extra
            )
            self._answer_ts = str(out["ts"])
        else:
            await self.client.chat_update(
                channel=self.channel, ts=self._answer_ts, text=body, blocks=[b.markdown(body)], **extra
            )

    async def _close_answer(self) -> None:
        long = needs_file(self._full)
        if long:
            await self._attach()
        warnings = "".join(f"\n\n:warning: {m}" for m in self._errors)
        followups = b.followup_blocks(self._followups)
        metadata = {
            "event_type": b.ANSWER_EVENT,
            "event_payload": {"status": "error" if self._errors else "done", "file": long},
        }
        if self._stream is not None:
            tail = "\n\n_…the full answer is in the attached file._" if long else self._full[self._sent :]
            await self._stream.stop(
                markdown_text=(tail + warnings) or None, blocks=followups or None, metadata=metadata
            )
            return
        body = (summary(self._full) if long else self._full) + warnings
        body = body.strip() or (
            "Waiting for a decision on the request above."
            if self._approval_posted
            else "The agent finished without an answer. Try asking in other words."
        )
        blocks = [b.markdown(body), *followups]
        if self._answer_ts is None:
            out = await self.client.chat_postMessage(
                channel=self.channel,
                thread_ts=self.thread_ts,
                text=b.clip(body, 3000),
                blocks=blocks,
                metadata=metadata,
            )
            self._answer_ts = str(out["ts"])
        else:
            await self.client.chat_update(
                channel=self.channel,
                ts=self._answer_ts,
                text=b.clip(body, 3000),
                blocks=blocks,
                metadata=metadata,
            )

    async def attach(self, name: str, content: bytes, title: str) -> None:
        """Upload a document (the full results of a wide fan-out) into the thread."""
        try:
            await self.client.files_upload_v2(
                channel=self.channel, thread_ts=self.thread_ts, content=content, filename=name, title=title
            )
        except SlackApiError as e:
            logger.warning("file upload failed", extra={"error": e.response.get("error")})
            self._errors.append(f"{title} could not be attached as a file; ask about fewer accounts.")

    async def _attach(self) -> None:
        try:
            await self.client.files_upload_v2(
                channel=self.channel,
                thread_ts=self.thread_ts,
                content=self._full,
                filename="answer.md",
                title="CentralOps answer",
                snippet_type="markdown",
            )
        except SlackApiError as e:
            logger.warning("file upload failed", extra={"error": e.response.get("error")})
            self._errors.append("The full answer could not be attached as a file; ask about fewer accounts.")
