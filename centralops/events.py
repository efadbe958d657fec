"""The event protocol the agent streams and the bot renders (DESIGN §2.1).

The Runtime answers ``POST /invocations`` with ``text/event-stream``; each
``data:`` line holds one JSON object with a ``type``. Both sides build and read
events only through this module, so the shapes cannot drift apart.
"""

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal, NotRequired, TypedDict, cast


class StatusEvent(TypedDict):
    """Short progress text ("Resolving accounts…")."""

    type: Literal["status"]
    text: str


class TextEvent(TypedDict):
    """A piece of the answer, markdown."""

    type: Literal["text"]
    delta: str


class TableEvent(TypedDict):
    """A table of the answer, in order with the ``text`` around it.

    Cells are plain values, never markup: each chat platform shows the table
    its own way (Slack's ``table`` block, an Adaptive Card ``Table``) and
    escapes the values for the field they land in.
    """

    type: Literal["table"]
    columns: list[str]
    rows: list[list[str]]
    title: NotRequired[str]


class ToolEvent(TypedDict):
    """A tool call starting or ending in one account."""

    type: Literal["tool"]
    phase: Literal["start", "end"]
    account: str
    command: str
    ok: NotRequired[bool]
    ms: NotRequired[int]


class ApprovalEvent(TypedDict):
    """A call that waits for a second person's decision."""

    type: Literal["approval"]
    approval_id: str
    command: str
    accounts: list[str]
    reason: str
    risk: Literal["mutating", "fanout", "other"]
    requester: NotRequired[str]
    expires_at: NotRequired[int]


class Followup(TypedDict):
    """One suggested read-only query."""

    label: str
    prompt: str


class FollowupsEvent(TypedDict):
    """Up to three suggested next queries."""

    type: Literal["followups"]
    items: list[Followup]


class ErrorEvent(TypedDict):
    """Something failed; ``message`` says what to do next."""

    type: Literal["error"]
    code: str
    message: str


class FileEvent(TypedDict):
    """A document too large for the answer, kept in the central results bucket for the bot to attach.

    ``bucket`` and ``key`` name the S3 object; ``name`` is the file name to show,
    ``bytes`` its size and ``summary`` one line describing it.
    """

    type: Literal["file"]
    name: str
    bucket: str
    key: str
    bytes: int
    summary: str


class DoneEvent(TypedDict):
    """The end of one invocation."""

    type: Literal["done"]
    session_id: str
    usage: dict[str, int]


Event = (
    StatusEvent
    | TextEvent
    | TableEvent
    | ToolEvent
    | ApprovalEvent
    | FollowupsEvent
    | ErrorEvent
    | FileEvent
    | DoneEvent
)

EVENT_TYPES = frozenset({"status", "text", "table", "tool", "approval", "followups", "error", "file", "done"})


def status(text: str) -> StatusEvent:
    """Build a ``status`` event."""
    return {"type": "status", "text": text}


def text(delta: str) -> TextEvent:
    """Build a ``text`` event."""
    return {"type": "text", "delta": delta}


def table(columns: Sequence[str], rows: Iterable[Sequence[str]], title: str = "") -> TableEvent:
    """Build a ``table`` event; every row is padded or cut to the number of columns."""
    width = len(columns)
    cells = [[str(v) for v in list(row)[:width]] + [""] * (width - len(row)) for row in rows]
    event: TableEvent = {"type": "table", "columns": [str(c) for c in columns], "rows": cells}
    if title:
        event["title"] = title
    return event


def tool_start(account: str, command: str) -> ToolEvent:
    """Build a ``tool`` event for a call that starts."""
    return {"type": "tool", "phase": "start", "account": account, "command": command}


def tool_end(account: str, command: str, *, ok: bool, ms: int) -> ToolEvent:
    """Build a ``tool`` event for a call that ended."""
    return {"type": "tool", "phase": "end", "account": account, "command": command, "ok": ok, "ms": ms}


def error(code: str, message: str) -> ErrorEvent:
    """Build an ``error`` event; ``message`` must say what the person can do."""
    return {"type": "error", "code": code, "message": message}


def followups(items: Iterable[Followup]) -> FollowupsEvent:
    """Build a ``followups`` event with at most three items."""
    return {"type": "followups", "items": list(items)[:3]}


def file(name: str, bucket: str, key: str, size: int, summary: str) -> FileEvent:
    """Build a ``file`` event for a document kept in S3."""
    return {"type": "file", "name": name, "bucket": bucket, "key": key, "bytes": size, "summary": summary}


def done(session_id: str, usage: dict[str, int] | None = None) -> DoneEvent:
    """Build the closing ``done`` event."""
    return {"type": "done", "session_id": session_id, "usage": usage or {}}


class ProtocolError(ValueError):
    """A line of the stream is not a valid event."""


def parse_event(data: str | dict[str, Any]) -> Event:
    """Validate one event, given as the JSON of a ``data:`` line or as a dict.

    Raises:
        ProtocolError: Not JSON, not an object, or an unknown ``type``.
    """
    obj: Any = data
    if isinstance(data, str):
        try:
            obj = json.loads(data)
        except json.JSONDecodeError as e:
            raise ProtocolError(f"event is not JSON: {data[:80]!r}") from e
    if not isinstance(obj, dict) or obj.get("type") not in EVENT_TYPES:
        raise ProtocolError(f"not a CentralOps event: {str(obj)[:80]!r}")
    return cast(Event, obj)


def encode_sse(event: Event) -> bytes:
    """Encode one event as a server-sent-events frame."""
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


def iter_sse(lines: Iterable[str]) -> Iterator[Event]:
    """Parse events out of the lines of a ``text/event-stream`` body.

    Comment lines and non-``data`` fields are skipped. AgentCore frames one
    JSON value per ``data:`` line; a value that is itself a JSON string holding
    an event (what some runtimes produce for yielded strings) is unwrapped.

    Raises:
        ProtocolError: A ``data:`` line that is not JSON, or not an event (the events before it are
            yielded first).
    """
    for line in lines:
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload:
            yield parse_event(_unwrapped(payload))


def _unwrapped(payload: str) -> Any:
    try:
        value = json.loads(payload)
        return json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError as e:
        raise ProtocolError(f"event is not JSON: {payload[:80]!r}") from e
