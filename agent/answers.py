"""Reading the bridge's JSON results and turning them into readable answers.

Tool output is data: it is parsed, counted and quoted, never followed.
"""

import json
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.resources import Column, Resource
from centralops import events
from centralops.events import Event

logger = logging.getLogger(__name__)

MAX_ROWS = 500
MAX_RAW = 3000
UNREADABLE_RESULT = (
    "The tool gateway sent back something CentralOps cannot read; the agent's log has it. "
    "Tell your CentralOps administrators."
)


@dataclass
class AccountResult:
    """The outcome of one command in one account."""

    account_id: str
    ok: bool
    payload: Any = None
    error_code: str = ""
    error: str = ""
    ms: int = 0
    truncated: bool = False


def loads(value: Any) -> Any:
    """Parse JSON text, returning the value unchanged when it is not JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def unwrap(result: Any) -> Any:
    """The command's own JSON output inside the bridge's ``result`` field.

    The AWS MCP Server wraps CLI output (``{"response": {"json": "..."}}``, or MCP
    ``content`` blocks); this peels those layers so callers see what ``aws``
    printed.
    """
    value = loads(result)
    for _ in range(4):
        if isinstance(value, Mapping):
            if isinstance(value.get("response"), Mapping):
                inner = value["response"]
                value = loads(inner.get("json", inner.get("output", inner)))
                continue
            if isinstance(value.get("content"), list) and value["content"]:
                texts = [c.get("text", "") for c in value["content"] if isinstance(c, Mapping)]
                value = loads("".join(texts))
                continue
            if "json" in value and len(value) <= 3:
                value = loads(value["json"])
                continue
        break
    return value


def _one(obj: Mapping[str, Any], fallback_id: str = "") -> AccountResult:
    if obj.get("ok", True) is False or ("error" in obj and obj.get("ok") is not True):
        err = obj.get("error") or {}
        if not isinstance(err, Mapping):
            err = {"message": str(err)}
        return AccountResult(
            account_id=str(obj.get("account_id") or err.get("account_id") or fallback_id),
            ok=False,
            error_code=str(err.get("code", "error")),
            error=str(err.get("message", "The call failed.")),
            ms=int(obj.get("ms") or 0),
        )
    return AccountResult(
        account_id=str(obj.get("account_id") or fallback_id),
        ok=True,
        payload=unwrap(obj.get("result")),
        ms=int(obj.get("ms") or 0),
        truncated=bool(obj.get("truncated")),
    )


def parse_results(text: str, account_ids: Sequence[str] = ()) -> list[AccountResult]:
    """Per-account results from the text of a ``query`` or ``query_accounts`` tool result.

    Args:
        text: The tool result's text (bridge JSON).
        account_ids: The accounts the call named, for results that do not say.
    """
    data = loads(text)
    if not isinstance(data, Mapping):
        logger.warning("unreadable tool result", extra={"detail": str(text)[:300]})
        ids = account_ids or [""]
        return [AccountResult(a, ok=False, error_code="bad_result", error=UNREADABLE_RESULT) for a in ids]
    if isinstance(data.get("results"), list):
        out = []
        for i, r in enumerate(data["results"]):
            fallback = account_ids[i] if i < len(account_ids) else ""
            out.append(_one(r if isinstance(r, Mapping) else {"ok": False, "error": str(r)}, fallback))
        return out
    return [_one(data, account_ids[0] if account_ids else "")]


def _get(item: Any, path: str) -> Any:
    if not path:
        return item
    for part in path.split("."):
        if isinstance(item, list) and part.lstrip("-").isdigit():
            index = int(part)
            item = item[index] if -len(item) <= index < len(item) else None
        elif isinstance(item, Mapping):
            item = item.get(part)
        else:
            return None
    return item


def human_bytes(value: Any) -> str:
    """``1.5 GiB`` for a number of bytes; ``no data`` when there is none."""
    if not isinstance(value, int | float):
        return "no data"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def items_of(resource: Resource, payload: Any) -> list[Any]:
    """The resource items in a command's output (``Reservations[].Instances`` flattened)."""
    value: list[Any] = [payload]
    for part in resource.items.split("."):
        flatten = part.endswith("[]")
        key = part[:-2] if flatten else part
        nxt: list[Any] = []
        for v in value:
            got = v.get(key) if isinstance(v, Mapping) else None
            if got is None:
                continue
            if isinstance(got, list):
                nxt.extend(got)
            else:
                nxt.append(got)
        value = nxt
    return value


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _value(row: Any, column: Column) -> str:
    value = _get(row, column.path)
    if column.fmt == "tags" and isinstance(value, list):
        pairs = (f"{t.get('Key')}={t.get('Value')}" for t in value if isinstance(t, Mapping))
        return _cell(", ".join(pairs))
    return human_bytes(value) if column.fmt == "bytes" else _cell(value)


def table(columns: Sequence[Column], rows: Sequence[Any]) -> str:
    """A markdown table of ``rows`` (at most :data:`MAX_ROWS`)."""
    lines = ["| " + " | ".join(c.header for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows[:MAX_ROWS]:
        lines.append("| " + " | ".join(_value(row, c) for c in columns) + " |")
    if len(rows) > MAX_ROWS:
        lines.append(f"\n…and {len(rows) - MAX_ROWS} more.")
    return "\n".join(lines)


def counted(n: int, label: str) -> str:
    """``1 S3 bucket``, ``3 S3 buckets``."""
    return f"{n} {label[:-1] if n == 1 and label.endswith('s') else label}"


def md(value: Any) -> str:
    """Data inside the agent's markdown prose: markdown punctuation escaped, so it reads as written."""
    # < > & are left to each chat edge, which escapes them for the field they land in.
    return re.sub(r"([\\`*_{}\[\]()#+!|~])", r"\\\1", str(value))


def _failure(r: AccountResult, name: str) -> str:
    return f"**{md(name)}** ({r.account_id}) — failed: {md(r.error)} (`{r.error_code}`)"


def _raw(payload: Any) -> str:
    text = payload if isinstance(payload, str) else json.dumps(payload, indent=2, default=str)
    if len(text) > MAX_RAW:
        text = text[:MAX_RAW] + "\n… (cut)"
    # A fence longer than any run of backticks in the output: nothing in it can close the block.
    fence = "`" * max(3, _longest_backticks(text) + 1)
    return f"{fence}\n{text}\n{fence}"


def _longest_backticks(text: str) -> int:
    return max((len(m) for m in re.findall(r"`+", text)), default=0)


def code(text: str) -> str:
    """``text`` as an inline code span that its own backticks cannot end."""
    ticks = "`" * (_longest_backticks(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def compose(
    action: str,
    resource: Resource | None,
    results: Sequence[AccountResult],
    names: Mapping[str, str],
    command: str,
) -> str:
    """A markdown answer for ``action`` (list, count, describe, run) over per-account results."""
    parts: list[str] = []
    ok = [r for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    label = resource.label if resource else "results"

    def name(r: AccountResult) -> str:
        return names.get(r.account_id, r.account_id)

    if action == "count" and resource is not None:
        counts = [(name(r), len(items_of(resource, r.payload))) for r in ok]
        rows = [{"account": n, "count": c} for n, c in counts]
        total = sum(c for _, c in counts)
        if len(results) == 1 and ok:
            parts.append(f"**{name(ok[0])}** has **{total}** {counted(total, label).split(' ', 1)[1]}.")
        elif ok:
            parts.append(f"**{total}** {label} across {len(ok)} account(s):")
            parts.append(table((Column("Account", "account"), Column(label, "count")), rows))
    elif resource is not None and action == "list" and len(ok) > 1:
        # Several accounts, one table: an Account column rather than one table per account.
        merged = [
            {**item, "__account": name(r)} if isinstance(item, Mapping) else {"__account": name(r)}
            for r in ok
            for item in items_of(resource, r.payload)
        ]
        per_account = ", ".join(f"{md(name(r))} {len(items_of(resource, r.payload))}" for r in ok)
        parts.append(f"**{len(merged)}** {label} across {len(ok)} accounts ({per_account}):")
        if merged:
            parts.append(table((Column("Account", "__account"), *resource.columns), merged))
        if any(r.truncated for r in ok):
            parts.append("_(output truncated by the bridge)_")
    else:
        for r in ok:
            header = f"**{md(name(r))}** ({r.account_id})"
            if resource is not None and action in {"list", "count"}:
                rows = items_of(resource, r.payload)
                if not rows:
                    parts.append(f"{header} — no {label}.")
                else:
                    parts.append(
                        f"{header} — {counted(len(rows), label)}:\n\n{table(resource.columns, rows)}"
                    )
            elif r.payload in (None, "", {}, []):
                parts.append(f"{header} — {code(command)} ran and printed nothing.")
            else:
                parts.append(f"{header} — {code(command)}:\n{_raw(r.payload)}")
            if r.truncated:
                parts.append("_(output truncated by the bridge)_")
        if resource is not None and action == "list" and len(ok) > 1:
            total = sum(len(items_of(resource, r.payload)) for r in ok)
            parts.append(f"Total: **{total}** {label} across {len(ok)} accounts.")
    for r in failed:
        parts.append(_failure(r, name(r)))
    if failed and ok:
        parts.append(f"{len(ok)} account(s) answered, {len(failed)} failed.")
    return "\n\n".join(parts) if parts else "The call returned nothing."


def _bucket_of(template: str, command: str) -> str:
    pattern = re.escape(template).replace(r"\{bucket\}", r"(?P<bucket>\S+)")
    pattern = pattern.replace(r"\{start\}", r"\S+").replace(r"\{end\}", r"\S+")
    m = re.fullmatch(pattern, command)
    return m.group("bucket") if m else command


def compose_per_bucket(
    resource: Resource,
    listed: Sequence[AccountResult],
    per_bucket: Sequence[tuple[str, AccountResult]],
    names: Mapping[str, str],
    template: str,
) -> str:
    """One table row per bucket from the second stage of a per-bucket question."""
    rows: list[dict[str, Any]] = []
    for command, r in per_bucket:
        row: dict[str, Any] = {
            "account": names.get(r.account_id, r.account_id),
            "bucket": _bucket_of(template, command),
        }
        for c in resource.columns:
            if r.ok:
                row[c.header] = _value(r.payload, c)
            elif "NoSuch" in r.error:
                row[c.header] = "not set"
            else:
                row[c.header] = f"error: {r.error[:80]}"
        rows.append(row)
    columns = (
        Column("Account", "account"),
        Column("Bucket", "bucket"),
        *(Column(c.header, c.header) for c in resource.columns),
    )
    parts = []
    if rows:
        parts.append(
            f"{resource.label[:1].upper()}{resource.label[1:]} of {len(rows)} bucket(s):\n\n{table(columns, rows)}"
        )
    else:
        parts.append("There are no buckets to look at.")
    if len(per_bucket) >= 25:
        parts.append("_(only the first 25 buckets were checked)_")
    for r in listed:
        if not r.ok:
            parts.append(_failure(r, names.get(r.account_id, r.account_id)))
    return "\n\n".join(parts)


def _cells(line: str) -> list[str]:
    """The cells of one markdown table row (``\\|`` is a literal bar)."""
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", body)]


_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


class TableSplitter:
    """Turns the markdown the agent streams into ``text`` events and ``table`` events.

    Whatever writes the answer (the offline planner, a model, the direct path),
    a markdown table in it leaves as structure: the columns and the rows as
    plain values, so each chat platform shows it its own way. Text streams on
    line by line; table rows wait until the table ends.
    """

    def __init__(self) -> None:
        self._partial = ""
        self._held: list[str] = []  # a candidate header line, then the rows of a table

    def feed(self, delta: str) -> list[events.Event]:
        """Events for a piece of markdown (complete lines only; the rest waits)."""
        self._partial += delta
        lines = self._partial.split("\n")
        self._partial = lines.pop()
        out: list[events.Event] = []
        for line in lines:
            out.extend(self._line(line + "\n"))
        return out

    def close(self) -> list[events.Event]:
        """Events for whatever is left at the end of the answer."""
        out = self._line(self._partial) if self._partial else []
        self._partial = ""
        return [*out, *self._flush()]

    def _line(self, line: str) -> list[events.Event]:
        stripped = line.strip()
        if self._held:
            if len(self._held) == 1:
                if _SEPARATOR.match(stripped):
                    self._held.append(line)
                    return []
                held, self._held = self._held, []
                return [*self._text("".join(held)), *self._line(line)]
            if stripped.startswith("|"):
                self._held.append(line)
                return []
            return [*self._flush(), *self._line(line)]
        if stripped.startswith("|") and stripped.count("|") >= 2:
            self._held = [line]
            return []
        return self._text(line)

    def _flush(self) -> list[events.Event]:
        held, self._held = self._held, []
        if len(held) < 2:
            return self._text("".join(held))
        columns = _cells(held[0])
        return [events.table(columns, [_cells(r) for r in held[2:]])]

    @staticmethod
    def _text(text: str) -> list[events.Event]:
        return [events.text(text)] if text else []


async def structured(stream: AsyncIterator[events.Event]) -> AsyncIterator[events.Event]:
    """The events of ``stream`` with the markdown tables of its text as ``table`` events."""
    splitter = TableSplitter()
    async for event in stream:
        if event["type"] == "text":
            for out in splitter.feed(event["delta"]):
                yield out
            continue
        for out in splitter.close():
            yield out
        yield event
    for out in splitter.close():
        yield out


def full_results_of(text: str) -> tuple[Event | None, str]:
    """The ``file`` event for a fan-out whose full results the bridge put in S3, and a note for the answer.

    Returns ``(None, "")`` when the response carried everything inline.
    """
    doc = loads(text)
    if not isinstance(doc, Mapping):
        return None, ""
    ref = doc.get("full_results")
    if isinstance(ref, Mapping) and isinstance(ref.get("bucket"), str) and isinstance(ref.get("key"), str):
        size = int(ref.get("bytes") or 0)
        accounts = int(ref.get("accounts") or 0)
        summary = f"Full results of {accounts} accounts ({human_bytes(size)})"
        event = events.file("centralops-results.json", ref["bucket"], ref["key"], size, summary)
        note = (
            f"\n\n_The output above is cut per account; the full results of {accounts} accounts "
            f"({human_bytes(size)}) are attached as a file._"
        )
        return event, note
    if isinstance(doc.get("full_results_error"), str):
        return None, "\n\n_" + doc["full_results_error"] + "_"
    return None, ""
