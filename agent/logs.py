"""Log questions: a CloudWatch Logs Insights query, started, polled, shown as a table.

"Errors in the last hour in function staging-api in staging", "show logs of
function prod-api in production", "search logs of staging-api for 'timeout' today
in staging": ``aws logs start-query`` on the function's log group (or a named
``/log/group``) over the time window (default: the last hour), then
``aws logs get-query-results`` until the query is complete.
"""

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agent import filters
from agent.answers import AccountResult, table
from agent.resources import Column

_LOGS = re.compile(r"\b(?:logs?|logged|errors?|exceptions?|log\s+lines?|tracebacks?)\b", re.IGNORECASE)
_GROUP = re.compile(r"(?<![\w])(/[\w./#-]+)")
# Where a function's name is, most explicit first: "function x", "x function", "logs of x".
_FUNCTION = (
    re.compile(r"\b(?:function|lambda)\s+([A-Za-z0-9_-]+)", re.IGNORECASE),
    re.compile(r"\b([A-Za-z0-9_-]+)\s+(?:function|lambda)\b", re.IGNORECASE),
    re.compile(r"\blogs?\s+(?:of|for|from)\s+([A-Za-z0-9_-]+)", re.IGNORECASE),
)
_NOT_NAMES = frozenset(
    "in of for from on the a an my our this that each every any all some logs log errors error show me "
    "what which did does lambda function functions today last past".split()
)
_QUOTED = re.compile("[\"'\u201c\u2018`]([^\"'\u201d\u2019`]{1,80})[\"'\u201d\u2019`]")
_ERRORS = re.compile(r"\b(?:errors?|exceptions?|failures?|failed|tracebacks?)\b", re.IGNORECASE)
_TARGETS = re.compile(
    r"\s(?:in|on|across|from)\s+(?:the\s+)?(?!function\b|lambda\b|log\b)([^/]+?)$", re.IGNORECASE
)
MAX_POLLS = 10
PENDING = frozenset({"Scheduled", "Running", "Unknown"})
ONE_ACCOUNT = "A Logs Insights query runs in one account at a time: name one account (e.g. `in staging`)."
LIMIT = 50
START = "aws logs start-query"
RESULTS = "aws logs get-query-results"


@dataclass(frozen=True)
class LogQuery:
    """One log question."""

    log_group: str
    targets: str | None
    window: filters.Window
    pattern: str | None  # a regular expression the message must match (Logs Insights ``like``)

    def query_string(self) -> str:
        """The Logs Insights query."""
        parts = ["fields @timestamp, @message"]
        if self.pattern:
            parts.append(f"filter @message like /{self.pattern}/")
        parts.extend(["sort @timestamp desc", f"limit {LIMIT}"])
        return " | ".join(parts)

    def command(self, now: datetime | None = None) -> str:
        """The exact ``aws logs start-query`` command."""
        start, end = self.window.bounds(now)
        return (
            f"{START} --log-group-name {shlex.quote(self.log_group)} --start-time {int(start.timestamp())} "
            f"--end-time {int(end.timestamp())} --query-string {shlex.quote(self.query_string())}"
        )


def parse(prompt: str) -> LogQuery | None:
    """The log question in ``prompt``, or ``None``."""
    text = " ".join(re.sub(r"<@[A-Z0-9]+(?:\|[^>]*)?>", " ", prompt).split()).rstrip("?!.")
    if not _LOGS.search(text):
        return None
    quoted = _QUOTED.search(text)
    pattern = re.escape(quoted.group(1)) if quoted else None
    if quoted:
        text = text[: quoted.start()] + text[quoted.end() :]
    text, q = filters.extract(text)
    group = None
    if m := _GROUP.search(text):
        group = m.group(1)
        text = text[: m.start()] + text[m.end() :]
    else:
        found = next(
            (
                m
                for pattern in _FUNCTION
                for m in pattern.finditer(text)
                if m.group(1).lower() not in _NOT_NAMES
            ),
            None,
        )
        if found is not None:
            group = f"/aws/lambda/{found.group(1)}"
            text = text[: found.start()] + text[found.end() :]
    if group is None:
        return None
    if pattern is None and _ERRORS.search(text):
        pattern = "(?i)(error|exception|fail)"
    targets = None
    text = re.sub(r"\b(?:in|on|from)\s+(?=(?:in|on|from)\b)", "", " ".join(text.split()), flags=re.IGNORECASE)
    if m := _TARGETS.search(" " + text):
        targets = re.sub(r"\b(?:for|with|containing)\b.*$", "", m.group(1)).strip() or None
    window = q.window or filters.Window("the last hour", amount=1, unit="hour")
    return LogQuery(group, targets, window, pattern)


def from_command(command: str) -> LogQuery | None:
    """The query an ``aws logs start-query`` command runs (to show its result after an approval)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if words[:3] != ["aws", "logs", "start-query"]:
        return None
    opts = {words[i]: words[i + 1] for i in range(3, len(words) - 1) if words[i].startswith("--")}
    try:
        start = datetime.fromtimestamp(int(opts.get("--start-time", "0")), UTC)
        end = datetime.fromtimestamp(int(opts.get("--end-time", "0")), UTC)
    except ValueError:
        return None
    like = re.search(r"filter @message like /(.*?)/", opts.get("--query-string", ""))
    window = filters.Window(f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC")
    return LogQuery(opts.get("--log-group-name", "?"), None, window, like.group(1) if like else None)


def mentions(prompt: str) -> bool:
    """Whether the prompt is about logs (to ask for the function or log group when it names none)."""
    return bool(re.search(r"\blogs?\b|\blogged\b|\blog\s+lines?\b", prompt, re.IGNORECASE))


NAME_THE_GROUP = (
    "Which function or log group should I search? For example: `errors in the last hour in function "
    "staging-api in staging`, or `show log group /aws/lambda/staging-worker in staging`."
)


def query_id(result: AccountResult) -> str | None:
    """The ``queryId`` a started query returned."""
    payload = result.payload if isinstance(result.payload, Mapping) else {}
    value = payload.get("queryId")
    return str(value) if value else None


def status(result: AccountResult) -> str:
    """``Running``, ``Complete``, ``Failed`` … of a ``get-query-results`` answer."""
    payload = result.payload if isinstance(result.payload, Mapping) else {}
    return str(payload.get("status") or "Unknown")


def _row(fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for f in fields if isinstance(fields, list) else []:
        if isinstance(f, Mapping) and f.get("field") in {"@timestamp", "@message"}:
            value = f.get("value")
            if f["field"] == "@timestamp" and isinstance(value, str) and value.isdigit():
                # moto (and some clients) give epoch milliseconds; Logs Insights itself a UTC time.
                value = datetime.fromtimestamp(int(value) / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            row[str(f["field"])] = value
    return row


def compose(query: LogQuery, result: AccountResult, account: str) -> str:
    """The result table (newest first) and what was searched."""
    if not result.ok:
        return f"**{account}** — the log query failed: {result.error} (`{result.error_code}`)"
    payload = result.payload if isinstance(result.payload, Mapping) else {}
    rows = [_row(r) for r in payload.get("results") or []]
    what = f" matching `{query.pattern}`" if query.pattern else ""
    head = f"**{account}** · `{query.log_group}` · {query.window.words}{what}"
    state = str(payload.get("status") or "")
    if state != "Complete":
        return f"{head} — the query is still `{state}` after {MAX_POLLS} checks; ask again in a minute for its result."
    if not rows:
        return f"{head} — no log events."
    stats = payload.get("statistics") or {}
    scanned = (
        f" ({int(stats['recordsScanned'])} records scanned)"
        if isinstance(stats, Mapping) and stats.get("recordsScanned")
        else ""
    )
    columns = (Column("Time", "@timestamp"), Column("Message", "@message"))
    return f"{head} — {len(rows)} event(s){scanned}:\n\n{table(columns, rows)}"
