"""The alert a question is asked about: the optional ``alert`` field of the Runtime payload (DESIGN §2.1).

A reply in an alert message's thread is a question about that alert. The bot
sends what the alert message shows, and the agent resolves "it", "this alarm"
and "that account" to it. Every value is AWS data (an alarm name or a reason
may say anything), so it is read here into a bounded, typed shape, and the
agent uses it as data only: it never grants anything (the bridge decides every
call on the verified caller), and a payload without it works as before.
"""

import json
import re
from collections.abc import Mapping
from typing import Any, Final, NotRequired, TypedDict

PAYLOAD_KEY: Final = "alert"
"""The key of the Runtime payload that carries the alert."""

KINDS: Final = ("alarm", "finding", "health", "task", "event")
MAX_QUERIES: Final = 4
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
_LIMITS: Final[Mapping[str, int]] = {
    "account_name": 128,
    "kind": 16,
    "title": 255,
    "resource": 512,
    "metric": 300,
    "state": 60,
    "reason": 1000,
    "time": 40,
}


class AlertContext(TypedDict):
    """The alert a thread is about.

    Attributes:
        account_id: The member account the alert came from (12 digits).
        region: Where it happened.
        kind: ``alarm``, ``finding``, ``health``, ``task`` or ``event``.
        title: The alarm name, the finding's title, the Health event type...
        state: ``ALARM`` / ``OK`` / ``INSUFFICIENT_DATA``, a severity label, ``open``...
        account_name: The account's name in the registry.
        resource: What it is about (the alarm ARN, the finding id, the task ARN...).
        metric: ``<namespace> <metric name>`` of a metric alarm.
        reason: Why, in AWS's words.
        time: When it happened (ISO 8601).
        queries: Read-only AWS CLI commands (without ``aws``) that look at it in its account:
            the ones Investigate asks. Suggestions only: every call is still reviewed and the
            bridge decides it.
    """

    account_id: str
    region: str
    kind: str
    title: str
    state: str
    account_name: NotRequired[str]
    resource: NotRequired[str]
    metric: NotRequired[str]
    reason: NotRequired[str]
    time: NotRequired[str]
    queries: NotRequired[list[str]]


def _text(value: Any, limit: int) -> str:
    """One line of at most ``limit`` characters (control characters and line breaks become spaces)."""
    if value is None or isinstance(value, dict | list):
        return ""
    return " ".join(str(value).split())[:limit]


def read(raw: Any) -> AlertContext | None:
    """The alert of a payload's ``alert`` field, bounded and typed; ``None`` when absent or unusable.

    An account id that is not 12 digits, or a region that is not a region name, makes the
    whole field unusable: a question is then answered as if it had none, never about a guess.
    """
    if not isinstance(raw, Mapping):
        return None
    account = _text(raw.get("account_id"), 12)
    region = _text(raw.get("region"), 32)
    if not _ACCOUNT.match(account) or not _REGION.match(region):
        return None
    kind = _text(raw.get("kind"), 16)
    out: AlertContext = {
        "account_id": account,
        "region": region,
        "kind": kind if kind in KINDS else "event",
        "title": _text(raw.get("title"), _LIMITS["title"]),
        "state": _text(raw.get("state"), _LIMITS["state"]),
    }
    for key in ("account_name", "resource", "metric", "reason", "time"):
        if value := _text(raw.get(key), _LIMITS[key]):
            out[key] = value
    queries = raw.get("queries")
    if isinstance(queries, list):
        kept = [q for q in (_text(q, 2048) for q in queries[:MAX_QUERIES]) if q]
        if kept:
            out["queries"] = kept
    return out


def as_data(alert: AlertContext) -> str:
    """The alert as one line of JSON that cannot close a fence or become markup.

    ``<``, ``>`` and ``&`` are written as ``\\u003c``, ``\\u003e`` and ``\\u0026`` and backticks as
    ``\\u0060``: whatever an alarm name says, it cannot end the ``<alert_context>`` block it is put
    in, nor open a code span or a tag. :func:`from_data` reads it back.
    """
    text = json.dumps(alert, ensure_ascii=True, sort_keys=True)
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("`", "\\u0060")):
        text = text.replace(char, escaped)
    return text


def from_data(text: str) -> AlertContext | None:
    """The alert written by :func:`as_data` (read again through :func:`read`)."""
    try:
        return read(json.loads(text))
    except ValueError:
        return None
