"""Platform-neutral shapes of the conversation core and the ports the edges implement.

The core (:mod:`bot.conversation`) speaks only these types; ``bot/slack`` and
``bot/teams`` translate their platform's payloads into them and implement
:class:`AnswerRenderer` (answers) and :class:`DecisionNotifier` (approval clicks)
for their surfaces; :class:`Notifier` is what a notice alone needs.
"""

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from centralops.alert_context import AlertContext
from centralops.events import Followup

Source = Literal["command", "mention", "dm", "followup", "reply"]  # reply: in an alert's thread, no mention


def literal(value: object) -> str:
    """Data inside a core-written text: an inline code span, so no edge reads it as markup.

    The core writes its texts with ``*bold*`` and inline code only; every value
    that came from outside (names, ids, emails) goes through here, and each
    edge escapes the whole text for the field it fills.
    """
    text = " ".join(str(value).replace("`", "'").split())
    return f"`{text}`" if text else "—"


def cut_at_boundary(text: str, budget: int) -> str:
    """The longest head of ``text`` within ``budget`` characters that ends a paragraph, else a line.

    Long answers stop where a reader expects a stop, never inside a row or a line.
    """
    if len(text) <= budget:
        return text
    head = text[: max(budget, 0)]
    for sep in ("\n\n", "\n"):
        at = head.rfind(sep)
        if at > 0:
            return head[: at + len(sep)]
    return ""


@dataclass(frozen=True)
class ChatUser:
    """A person on a chat platform."""

    platform: str
    team: str
    user: str
    name: str = ""


@dataclass(frozen=True)
class ChatPlace:
    """Where a conversation happens: a channel and, once it exists, its thread."""

    platform: str
    team: str
    channel: str
    thread: str | None = None

    def in_thread(self, thread: str) -> "ChatPlace":
        """The same channel, pinned to ``thread``."""
        return ChatPlace(self.platform, self.team, self.channel, thread)


@dataclass(frozen=True)
class ChatRequest:
    """One message to the bot: who, where, what."""

    who: ChatUser
    where: ChatPlace
    text: str
    source: Source = "command"
    alert: AlertContext | None = None  # the alert whose thread this is in: the agent resolves "it" to it


@dataclass
class CheckItem:
    """One line of the per-account checklist."""

    account: str
    command: str
    state: Literal["running", "ok", "failed", "stopped"] = "running"
    ms: int | None = None

    @property
    def shown_command(self) -> str:
        """The command as a checklist line shows it: one line, at most :data:`CHECK_COMMAND_MAX` characters."""
        text = self.command.replace("\n", " ")
        return text if len(text) <= CHECK_COMMAND_MAX else text[: CHECK_COMMAND_MAX - 1] + "…"


NO_ANSWER = "The agent finished without an answer. Try asking in other words."
"""What an answer that ended with nothing to show says, on every platform."""

MAX_CHECK_LINES = 15
"""Account lines a checklist shows, on every platform; the rest is summed up in one line."""

CHECK_COMMAND_MAX = 80
"""Characters of a command a checklist line shows, on every platform."""


@dataclass
class Checklist:
    """Progress of one answer: the latest status and one line per account call."""

    status: str = ""
    items: list[CheckItem] = field(default_factory=list)

    def visible(self, *, failed_only: bool = False) -> tuple[list[CheckItem], str]:
        """The lines to show (at most :data:`MAX_CHECK_LINES`) and ``…and N more (M done)`` for the rest."""
        pool = [i for i in self.items if i.state == "failed"] if failed_only else self.items
        shown, rest = pool[:MAX_CHECK_LINES], pool[MAX_CHECK_LINES:]
        if not rest:
            return shown, ""
        ended = sum(i.state != "running" for i in rest)
        return shown, f"…and {len(rest)} more ({ended} done)"

    def status_line(self) -> str:
        """The status to show: it describes work in progress, so it is dropped once every call has ended."""
        running = not self.items or any(i.state == "running" for i in self.items)
        return self.status if running else ""

    def start(self, account: str, command: str) -> None:
        """Record a call that started."""
        self.items.append(CheckItem(account, command))

    def end(self, account: str, command: str, *, ok: bool, ms: int | None) -> None:
        """Mark the oldest running call of this account and command as ended."""
        for item in self.items:
            if item.account == account and item.command == command and item.state == "running":
                item.state, item.ms = ("ok" if ok else "failed"), ms
                return
        self.items.append(CheckItem(account, command, "ok" if ok else "failed", ms))

    def close(self) -> None:
        """The answer ended: calls that never reported are marked stopped, and no status is left running."""
        self.status = ""
        for item in self.items:
            if item.state == "running":
                item.state = "stopped"

    def ran(self) -> bool:
        """Whether any call started: from then on its command may have run in that account."""
        return bool(self.items)


@dataclass(frozen=True)
class Table:
    """A table of the answer: plain cell values (never markup), the first row is not a header.

    Attributes:
        columns: Column headers.
        rows: One list of cell values per row, as long as ``columns``.
        title: What the table shows, in plain words (may be empty).
    """

    columns: list[str]
    rows: list[list[str]]
    title: str = ""

    def csv(self) -> str:
        """The whole table as CSV (for a file next to a clipped table)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return out.getvalue()

    def summary(self) -> str:
        """``Title (N rows)`` in plain words, for notifications."""
        n = len(self.rows)
        what = self.title or ", ".join(self.columns[:3])
        return f"{what} ({n} row{'s' if n != 1 else ''})"


@dataclass(frozen=True)
class ApprovalCard:
    """What an approval card shows; built from the approvals table, never from a payload."""

    approval_id: str
    command: str
    accounts: list[str]
    reason: str
    risk: str
    requester: str
    status: str = "pending"
    decided_by: str | None = None
    decided_at: datetime | None = None


class LinkedIdentity(Protocol):
    """A linked identity as the identity service returns it."""

    @property
    def username(self) -> str:
        """The Cognito username."""
        ...

    @property
    def email(self) -> str:
        """The Cognito email."""
        ...

    @property
    def linked_at(self) -> str:
        """When the link was made (ISO 8601)."""
        ...

    @property
    def display_name(self) -> str:
        """What to show people: the email, else the username (a UUID in email-as-username pools)."""
        ...


class IdentityProvider(Protocol):
    """The identity service (``bot.identity``): chat user to Cognito ID token."""

    async def id_token(self, platform: str, team: str, user: str) -> str:
        """A fresh ID token; raises a ``CentralOpsError`` naming the platform's login command."""
        ...

    async def whoami(self, platform: str, team: str, user: str) -> LinkedIdentity | None:
        """The linked identity, or ``None``."""
        ...

    async def unlink(self, platform: str, team: str, user: str) -> bool:
        """Remove the link; ``False`` when there was none."""
        ...

    async def login_url(self, platform: str, team: str, user: str) -> str:
        """The ``/auth/start?...`` URL of the sign-in button."""
        ...

    def claims(self, id_token: str) -> dict[str, Any]:
        """The claims of a token this service issued (for ``cognito:groups``)."""
        ...


class Notifier(Protocol):
    """What every reply to a person needs: short answers, a sign-in prompt, an error."""

    async def notice(self, text: str) -> None:
        """A short private answer to the requester (help, whoami, refusals)."""
        ...

    async def login_prompt(self, url: str, text: str) -> None:
        """A private sign-in button."""
        ...

    async def error(self, message: str) -> None:
        """Show an error the person can act on."""
        ...


class DecisionNotifier(Notifier, Protocol):
    """What an approval click needs: the notices, and the decision once recorded."""

    async def decided(self, card: ApprovalCard) -> None:
        """Replace an approval card, for everyone, with its decision."""
        ...


class AnswerRenderer(Notifier, Protocol):
    """How one platform shows one conversation turn's answer. Created per request by the edge."""

    async def open(self, request: ChatRequest) -> str:
        """Make room for an answer and return the thread it goes into."""
        ...

    async def progress(self, checklist: Checklist) -> None:
        """Show the latest status and checklist."""
        ...

    async def text(self, delta: str) -> None:
        """Append a piece of the answer (markdown)."""
        ...

    async def table(self, table: Table) -> None:
        """Append a table to the answer (after the text so far)."""
        ...

    async def approval(self, card: ApprovalCard) -> None:
        """Show Approve / Deny buttons for a pending approval."""
        ...

    async def followups(self, items: list[Followup]) -> None:
        """Offer suggested next queries as buttons."""
        ...

    async def finish(self) -> None:
        """The answer is complete; flush and close."""
        ...


class Renderer(AnswerRenderer, DecisionNotifier, Protocol):
    """A renderer that both answers and shows decisions (Slack's: the clicked card is in the thread)."""


@runtime_checkable
class RatesAnswers(Protocol):
    """A renderer that can offer thumbs up / down on the answer it closes."""

    def rate(self, answer_id: str) -> None:
        """Offer feedback on this answer (called before :meth:`AnswerRenderer.finish`)."""
        ...

    def cite(self, sources: list[tuple[str, str]]) -> None:
        """Name the ``(account, command)`` calls the answer came from (called before ``finish``)."""
        ...


@runtime_checkable
class Stoppable(Protocol):
    """A renderer that can show a Stop button while the answer streams."""

    async def stoppable(self, turn_id: str, stop: Callable[[], None]) -> None:
        """Offer Stop for turn ``turn_id`` (a click goes to the edge); ``stop()`` ends it from here."""
        ...
