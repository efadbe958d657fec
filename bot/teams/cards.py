"""Adaptive Cards the Teams edge sends: sign-in, approval, decision, follow-ups, progress.

Buttons are ``Action.Execute`` (Universal Actions): a click arrives as an
``adaptiveCard/action`` invoke whose ``data`` carries only a verb and an id or
a prompt; the command, accounts and requester of an approval are always read
back from the approvals table, never from the card.

Data never goes into a ``TextBlock`` or a ``Fact``, whose text Teams reads as
markdown: every value from outside (commands, names, reasons, table cells) is
a ``TextRun`` of a ``RichTextBlock``, which Adaptive Cards show as written.
``TextBlock`` holds only the fixed words of this module.
"""

import html
import re
from typing import Any

from microsoft_agents.activity import Attachment

from bot.chat import ApprovalCard, Checklist, Table, literal
from centralops.events import Followup

CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"

APPROVE = "approve"
DENY = "deny"
FOLLOWUP = "followup"

_BOLD = re.compile(r"(?<![*\w])\*(?!\s)([^*\n]+?)\*(?![*\w])")
_MARK = {"running": "⏳", "ok": "✅", "failed": "❌", "stopped": "⏹️"}


SUMMARY_CHARS = 150
"""Longest notification summary (Teams shows about a line of it in a toast or the chat list)."""
HEAD_FACTOR = 16
"""A summary reads at most ``limit * HEAD_FACTOR`` characters of the text (markup takes room)."""
_LINK = re.compile(r"\[([^\[\]]*)\]\([^()]*\)")  # [label](url) -> label
_TAG = re.compile(r"<[^<>]*>")  # <at>Bob</at>, <b>, <script …>: the words stay, the tags go
_MARKS = re.compile(r"[*~`|\[\]<>\\]+|(?<!\w)_+|_+(?!\w)")
_ENTITYISH = re.compile(r"&(?=#?\w+;)")  # what html.unescape left: no entity of any name may form
_LEAD = re.compile(r"^(?:#+\s*|>+\s*|[-+*]\s+|\d+[.)]\s+)+")  # headings, quotes, list items
_RULE = re.compile(r"^[\s|:=*_-]*$")  # table separators and rules: nothing to read
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def _plain_once(text: str) -> str:
    for _ in range(8):  # &amp;lt; is &lt; is <
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    text = _ENTITYISH.sub("& ", _TAG.sub(" ", _LINK.sub(r"\1", text)))
    lines = (_LEAD.sub("", line.strip()) for line in text.splitlines() if not _RULE.match(line))
    words = (" ".join(_INVISIBLE.sub(" ", _MARKS.sub("", line)).split()) for line in lines)
    return "\n".join(w for w in words if w)


def plain_summary(text: str, limit: int = SUMMARY_CHARS) -> str:
    """A short plain-text line for notifications: no markdown, HTML, mention or entity can form in it.

    Entities are decoded and tags, link syntax and markdown characters dropped, again until nothing
    changes (so ``&amp;lt;b&amp;gt;`` or ``*<*b>*`` cannot leave markup behind); line breaks and
    invisible characters become spaces; the words are cut to ``limit`` characters with an ellipsis.
    Only the start of a long text is read (reading a whole 36 KB answer took 16 ms per update).
    """
    head = text[: limit * HEAD_FACTOR]
    words = _plain_words(head)
    if not words and len(head) < len(text):
        words = _plain_words(text)  # the start was all markup (a long rule, say): read it all
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"


def _plain_words(text: str) -> str:
    for _ in range(8):
        plain = _plain_once(text)
        if plain == text:
            break
        text = plain
    else:
        text = text.replace("&", " and ")  # eight nested layers of entities: no entity may remain
    return " ".join(text.split())


def card_words(content: Any, enough: int = SUMMARY_CHARS * HEAD_FACTOR) -> str:
    """The words an Adaptive Card shows (text blocks, text runs, button titles), in order.

    Reading stops once ``enough`` characters were found (what a summary reads at most).
    """
    found: list[str] = []
    size = 0

    def walk(node: Any) -> None:
        nonlocal size
        if size >= enough:
            return
        if isinstance(node, dict):
            if node.get("type") in ("TextBlock", "TextRun") and isinstance(node.get("text"), str):
                found.append(node["text"])
                size += len(node["text"]) + 1
            for key in ("body", "items", "inlines", "rows", "cells", "columns", "actions"):
                walk(node.get(key))
            if str(node.get("type", "")).startswith("Action.") and isinstance(node.get("title"), str):
                found.append(node["title"])
                size += len(node["title"]) + 1
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(content)
    return " ".join(found)


_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)


def teams_markdown(text: str) -> str:
    """The core writes Slack's ``*bold*``; Teams reads single asterisks as italics. Code stays as written."""
    parts = _CODE.split(text)
    return "".join(p if i % 2 else _BOLD.sub(r"**\1**", p) for i, p in enumerate(parts))


def card(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An Adaptive Card document."""
    doc: dict[str, Any] = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "body": body}
    if actions:
        doc["actions"] = actions
    return doc


def attachment(doc: dict[str, Any]) -> Attachment:
    """The card as a message attachment."""
    return Attachment(content_type=CONTENT_TYPE, content=doc)


def _text(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **extra}


def runs(*parts: str | dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A ``RichTextBlock`` of ``TextRun`` s: text shown exactly as written (no markdown).

    Each part is a string, or a dict of ``TextRun`` properties with its ``text``.
    """
    inlines = [
        {"type": "TextRun", "text": p} if isinstance(p, str) else {"type": "TextRun", **p}
        for p in parts
        if (p if isinstance(p, str) else p.get("text"))
    ]
    return {"type": "RichTextBlock", "inlines": inlines or [{"type": "TextRun", "text": "—"}], **extra}


def _cell(*items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "TableCell", "items": list(items)}


def facts(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Label / value rows (what a ``FactSet`` shows) with each value as plain text."""
    return {
        "type": "Table",
        "columns": [{"width": 1}, {"width": 3}],
        "firstRowAsHeader": False,
        "showGridLines": False,
        "rows": [
            {"type": "TableRow", "cells": [_cell(_text(label, weight="Bolder")), _cell(runs(value))]}
            for label, value in pairs
        ],
    }


def table_body(table: Table, *, rows: int | None = None) -> list[dict[str, Any]]:
    """An Adaptive Card ``Table`` (1.5) of the first ``rows`` rows, every cell a plain ``TextRun``."""
    shown = table.rows if rows is None else table.rows[:rows]
    header = {
        "type": "TableRow",
        "cells": [_cell(runs({"text": c, "weight": "Bolder"})) for c in table.columns],
    }
    body: list[dict[str, Any]] = []
    if table.title:
        body.append(runs({"text": table.title, "weight": "Bolder"}))
    body.append(
        {
            "type": "Table",
            "columns": [{"width": 1} for _ in table.columns],
            "firstRowAsHeader": True,
            "showGridLines": True,
            "rows": [header, *({"type": "TableRow", "cells": [_cell(runs(v)) for v in r]} for r in shown)],
        }
    )
    return body


def _execute(title: str, verb: str, data: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"type": "Action.Execute", "title": title, "verb": verb, "data": data, **extra}


def sign_in(url: str, text: str) -> dict[str, Any]:
    """The sign-in card: the reason, and a button that opens the linking flow (``/auth/start``)."""
    return card(
        [
            _text("Sign in to CentralOps", weight="Bolder", size="Medium"),
            runs(text),
            _text("The link works once, for you only, for 10 minutes.", isSubtle=True, size="Small"),
        ],
        [{"type": "Action.OpenUrl", "title": "Sign in", "url": url}],
    )


def _approval_facts(approval: ApprovalCard) -> dict[str, Any]:
    return facts(
        [
            ("Command", approval.command),
            ("Accounts", ", ".join(approval.accounts) or "—"),
            ("Requested by", approval.requester or "—"),
            ("Risk", approval.risk),
        ]
    )


def approval(approval: ApprovalCard) -> dict[str, Any]:
    """Approve / Deny for a pending approval."""
    data = {"approval_id": approval.approval_id}
    return card(
        [
            _text("Approval needed", weight="Bolder", size="Medium", color="Warning"),
            runs(approval.reason or "This command changes something and needs a second person."),
            _approval_facts(approval),
        ],
        [
            _execute("Approve", APPROVE, data, style="positive"),
            _execute("Deny", DENY, data, style="destructive"),
        ],
    )


def decided(approval: ApprovalCard) -> dict[str, Any]:
    """The card that replaces an approval for everyone once it is decided: who, when, no buttons."""
    verdict = {"approved": "Approved", "denied": "Denied"}.get(approval.status, approval.status.capitalize())
    when = approval.decided_at.strftime("%Y-%m-%d %H:%M UTC") if approval.decided_at else "just now"
    return card(
        [
            runs(
                {
                    "text": f"{verdict} by {approval.decided_by or 'an approver'}",
                    "weight": "Bolder",
                    "size": "Medium",
                    "color": "Good" if approval.status == "approved" else "Attention",
                }
            ),
            _text(f"Decided {when}.", isSubtle=True, size="Small"),
            _approval_facts(approval),
        ]
    )


def followups(items: list[Followup]) -> dict[str, Any]:
    """Suggested next queries; a click asks as the person who clicks."""
    return card(
        [_text("Ask next", weight="Bolder")],
        [_execute(item["label"][:40], FOLLOWUP, {"prompt": item["prompt"][:500]}) for item in items[:3]],
    )


def checklist_lines(checklist: Checklist, *, failed_only: bool = False, plain: bool = False) -> list[str]:
    """One line per account call (``✅ `staging` — `aws s3 ls` (120 ms)``), capped as on every platform.

    ``plain`` drops the code marks, for informative updates (plain text, never markdown).
    """
    shown, more = checklist.visible(failed_only=failed_only)
    show = (lambda v: " ".join(str(v).split())) if plain else literal
    lines = []
    for item in shown:
        took = (
            f" ({item.ms} ms)" if item.ms is not None else (" (no result)" if item.state == "stopped" else "")
        )
        lines.append(f"{_MARK[item.state]} {show(item.account)} — {show(item.shown_command)}{took}")
    return [*lines, more] if more else lines


def progress_text(checklist: Checklist) -> str:
    """The status line and the checklist, as one short informative text."""
    parts = [status] if (status := checklist.status_line()) else []
    parts.extend(checklist_lines(checklist, plain=True))
    return "\n".join(parts) or "Working on it…"
