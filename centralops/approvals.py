"""The approvals-table item and its statuses, shared by the agent, the bot and the bridge.

The agent writes a pending item, the bot decides it once, the bridge consumes
it once; each keeps its own storage calls and reads and writes the item only
through :class:`ApprovalItem`, so the shape cannot drift between them. The item
is described in docs/ARCHITECTURE.md (approvals).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Self

from centralops.items import optional_int, optional_str, strings

PENDING: Final = "pending"
APPROVED: Final = "approved"
DENIED: Final = "denied"
STATUSES: Final = frozenset({PENDING, APPROVED, DENIED})

Decision = Literal["approved", "denied"]
"""What an approver can decide."""

Risk = Literal["mutating", "fanout", "other"]
"""Why a call waits for a second person."""

RISKS: Final = frozenset({"mutating", "fanout", "other"})


@dataclass(frozen=True)
class ApprovalItem:
    """One approvals-table item (plain Python values, as boto3's resource or TypeDeserializer gives them).

    ``tool`` is what the item records (empty when it records none); ``expires_at`` and
    ``created_at`` are epoch seconds, 0 when absent.
    """

    approval_id: str
    status: str = PENDING
    requester: str = ""
    command: str = ""
    accounts: tuple[str, ...] = ()
    tool: str = ""
    region: str | None = None
    reason: str = ""
    risk: Risk = "other"
    session_id: str = ""
    thread: dict[str, str] = field(default_factory=dict)
    created_at: int = 0
    expires_at: int = 0
    decided_by: str | None = None
    decided_at: int | None = None
    consumed_at: int | None = None
    ttl: int | None = None
    result: str = ""  # what the approved run showed, kept so a repeated resume shows it instead of running

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Self:
        """Read an item (plain values); missing attributes take their defaults."""
        risk = item.get("risk")
        thread = item.get("thread")
        return cls(
            approval_id=str(item["approval_id"]),
            status=str(item.get("status") or PENDING),
            requester=str(item.get("requester") or ""),
            command=str(item.get("command") or ""),
            accounts=strings(item.get("accounts")),
            tool=str(item.get("tool") or ""),
            region=optional_str(item.get("region")),
            reason=str(item.get("reason") or ""),
            risk=risk if risk in RISKS else "other",
            session_id=str(item.get("session_id") or ""),
            thread={str(k): str(v) for k, v in thread.items()} if isinstance(thread, Mapping) else {},
            created_at=optional_int(item.get("created_at")) or 0,
            expires_at=optional_int(item.get("expires_at")) or 0,
            decided_by=optional_str(item.get("decided_by")),
            decided_at=optional_int(item.get("decided_at")),
            consumed_at=optional_int(item.get("consumed_at")),
            ttl=optional_int(item.get("ttl")),
            result=str(item.get("result") or ""),
        )

    def to_item(self) -> dict[str, Any]:
        """The item to write (plain values; optional attributes only when set)."""
        item: dict[str, Any] = {
            "approval_id": self.approval_id,
            "status": self.status,
            "requester": self.requester,
            "command": self.command,
            "accounts": list(self.accounts),
            "tool": self.tool,
            "reason": self.reason,
            "risk": self.risk,
            "session_id": self.session_id,
            "thread": dict(self.thread),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }
        if self.region:
            item["region"] = self.region
        for name in ("decided_by", "decided_at", "consumed_at", "ttl"):
            value = getattr(self, name)
            if value is not None:
                item[name] = value
        if self.result:
            item["result"] = self.result
        return item

    def expired(self, now: float) -> bool:
        """Whether the time to decide has passed (an item with no expiry never expires here)."""
        return bool(self.expires_at) and self.expires_at <= now
