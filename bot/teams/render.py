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
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from microsoft_agents.activity import Activity, ActivityTypes, Attachment
from microsoft_agents.hosting.core import TurnContext

from bot.chat import ApprovalCard, ChatRequest, ChatUser, Checklist
from bot.teams import cards
from bot.teams.activities import Surface
from bot.teams.profiles import TeamsEmails
from bot.teams.throttle import Throttle
from centralops.events import Followup

logger = logging.getLogger(__name__)

ContextSource = Callable[[], Awaitable[TurnContext]]

MAX_TEXT = 20_000
"""Teams refuses messages over about 28 KB; answers are cut well before."""
WORKING = "⏳"
INFORMATIVE_MAX = 1000
"""Teams refuses informative updates longer than 1000 characters."""
TRUNCATED = (
    "\n\n_(The answer was cut here: Teams messages are limited in size. Ask about fewer accounts at once.)_"
)


def _message(text: str | None = None, attachments: list[Attachment] | None = None) -> Activity:
    activity = Activity(type=ActivityTypes.message, text_format="markdown")
    if text is not None:
        activity.text = text
    if attachments:
        activity.attachments = attachments
    return activity


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + TRUNCATED


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

    async def _send(self, activity: Activity, *, private: bool = False) -> str | None:
        ctx = await self._context()
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
        await self._send(_message(attachments=[cards.attachment(cards.sign_in(url, text))]), private=True)

    async def approval(self, card: ApprovalCard) -> None:  # overridden; keeps the protocol complete
        """Post Approve / Deny as a message of its own."""
        await self._send(_message(attachments=[cards.attachment(cards.approval(card))]))

    async def decided(self, card: ApprovalCard) -> None:
        """Decisions are shown by the click handler, which knows which card was clicked."""
        logger.debug("decision rendered by the click", extra={"approval_id": card.approval_id})


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
    ) -> None:
        super().__init__(context, surface, who, emails)
        self.thread = thread
        self._lock = lock
        self._holding = False
        self._stream: Any = None
        self._texted = False
        self._last_info = ""
        self._checklist: Checklist | None = None
        self._approvals: list[ApprovalCard] = []
        self._followups: list[Followup] = []

    async def _begin(self) -> Any:
        if self._stream is None:
            # Teams runs one stream per chat at a time: a second question waits for the first answer.
            if self._lock is not None and not self._holding:
                await self._lock.acquire()
                self._holding = True
            ctx = await self._context()
            self._stream = ctx.streaming_response
        return self._stream

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
        if not self._texted and text != self._last_info:
            self._last_info = text
            stream.queue_informative_update(text)

    async def progress(self, checklist: Checklist) -> None:
        """An informative update with the status and the checklist."""
        self._checklist = checklist
        self._inform(await self._begin(), cards.progress_text(checklist)[:INFORMATIVE_MAX])

    async def text(self, delta: str) -> None:
        """A chunk of the answer."""
        stream = await self._begin()
        self._texted = True
        stream.queue_text_chunk(delta)

    async def approval(self, card: ApprovalCard) -> None:
        """Sent after the stream ends: a card of its own that can be replaced later."""
        self._approvals.append(card)

    async def followups(self, items: list[Followup]) -> None:
        """Carried by the final message."""
        self._followups = list(items)

    async def error(self, message: str) -> None:
        """Inside the stream when one runs, else a message of its own."""
        if self._stream is None:
            await self._send(_message(f"⚠️ {message}"))
            return
        stream = self._stream
        stream.queue_text_chunk(("\n\n" if self._texted else "") + f"⚠️ {message}")
        self._texted = True

    async def finish(self) -> None:
        """The final message with its cards, then any approval cards."""
        if self._stream is not None:
            attachments = []
            if self._followups:
                attachments.append(cards.attachment(cards.followups(self._followups)))
            if attachments:
                self._stream.set_attachments(attachments)
            try:
                await self._stream.end_stream()
            finally:
                self.release()
        elif self._followups:
            await self._send(_message(attachments=[cards.attachment(cards.followups(self._followups))]))
        for card in self._approvals:
            await self._send(_message(attachments=[cards.attachment(cards.approval(card))]))


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
        self._done = False
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
        """The message as it should look now."""
        answer = "".join(self._answer).strip()
        lines: list[str] = []
        if not self._done:
            lines.append(f"{WORKING} {self._checklist.status or 'Working on it…'}")
            lines.extend(cards.checklist_lines(self._checklist))
            if answer:
                lines.extend(["", answer])
        else:
            if answer:
                lines.append(answer)
            elif not self._errors:
                lines.append("Done — the agent had nothing more to say.")
            if any(i.state == "failed" for i in self._checklist.items):
                lines.extend(["", *cards.checklist_lines(self._checklist)])
        lines.extend(f"⚠️ {e}" for e in self._errors)
        attachments = (
            [cards.attachment(cards.followups(self._followups))] if self._done and self._followups else None
        )
        return _message(_clip(cards.teams_markdown("\n".join(lines).strip())), attachments)

    async def _flush(self) -> None:
        ctx = await self._context()
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

    async def approval(self, card: ApprovalCard) -> None:
        """Approve / Deny in the thread at once, so approvers can act while the answer finishes."""
        await self._send(_message(attachments=[cards.attachment(cards.approval(card))]))

    async def followups(self, items: list[Followup]) -> None:
        """Attached to the final version of the message."""
        self._followups = list(items)

    async def error(self, message: str) -> None:
        """Shown in the answer's message."""
        self._errors.append(message)
        await self._throttle.poke()

    async def finish(self) -> None:
        """Write the complete answer."""
        self._done = True
        await self._throttle.close()


@dataclass
class ClickOutcome:
    """What a card click led to, for the invoke response."""

    kind: str  # "decided" | "message" | "login"
    text: str = ""
    url: str = ""
    card: ApprovalCard | None = None


class ClickRenderer:
    """Collects what the core says about a card click; the invoke handler turns it into the response."""

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

    # A click never streams an answer itself: the resumed answer gets its own renderer.
    async def open(self, request: ChatRequest) -> str:
        """Unused for clicks."""
        return request.where.thread or request.where.channel

    async def progress(self, checklist: Checklist) -> None:
        """Unused for clicks."""

    async def text(self, delta: str) -> None:
        """Unused for clicks."""

    async def approval(self, card: ApprovalCard) -> None:
        """Unused for clicks."""

    async def followups(self, items: list[Followup]) -> None:
        """Unused for clicks."""

    async def finish(self) -> None:
        """Unused for clicks."""
