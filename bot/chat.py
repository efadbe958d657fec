"""Platform-neutral shapes of the conversation core and the ports the edges implement.

The core (:mod:`bot.conversation`) speaks only these types; ``bot/slack`` and
``bot/teams`` translate their platform's payloads into them and implement
:class:`Renderer` for their surfaces.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from centralops.events import Followup

Source = Literal["command", "mention", "dm", "followup"]


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


@dataclass
class CheckItem:
    """One line of the per-account checklist."""

    account: str
    command: str
    state: Literal["running", "ok", "failed"] = "running"
    ms: int | None = None


@dataclass
class Checklist:
    """Progress of one answer: the latest status and one line per account call."""

    status: str = ""
    items: list[CheckItem] = field(default_factory=list)

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


class IdentityLink(Protocol):
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
        """A fresh ID token; raises a ``CentralOpsError`` telling the user to run ``/aws login``."""
        ...

    async def whoami(self, platform: str, team: str, user: str) -> IdentityLink | None:
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


class Renderer(Protocol):
    """How one platform shows one conversation turn. Created per request by the edge."""

    async def notice(self, text: str) -> None:
        """A short private answer to the requester (help, whoami, refusals)."""
        ...

    async def login_prompt(self, url: str, text: str) -> None:
        """A private sign-in button."""
        ...

    async def open(self, request: ChatRequest) -> str:
        """Make room for an answer and return the thread it goes into."""
        ...

    async def progress(self, checklist: Checklist) -> None:
        """Show the latest status and checklist."""
        ...

    async def text(self, delta: str) -> None:
        """Append a piece of the answer (markdown)."""
        ...

    async def approval(self, card: ApprovalCard) -> None:
        """Show Approve / Deny buttons for a pending approval."""
        ...

    async def followups(self, items: list[Followup]) -> None:
        """Offer suggested next queries as buttons."""
        ...

    async def error(self, message: str) -> None:
        """Show an error the person can act on."""
        ...

    async def finish(self) -> None:
        """The answer is complete; flush and close."""
        ...

    async def decided(self, card: ApprovalCard) -> None:
        """Replace an approval card, for everyone, with its decision."""
        ...
