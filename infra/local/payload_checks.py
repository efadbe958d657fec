"""What the Slack and Teams stand-ins check in every payload the bot sends them.

Slack: slack-sdk's Block Kit models (``Block.parse(...).validate_json()``),
plus the documented limits the models do not check (50 blocks in a message,
100 in a view; one ``table`` block per message, 100 rows of at most 20 cells;
12,000 characters of markdown per payload; 40,000 characters of ``text``).
Teams: every Adaptive Card against the published 1.5 schema, the message size
as Teams counts it (UTF-16), informative updates of at most 1,000 characters.
Teams messages written through the Connector also carry a notification
``summary`` that is short plain text (:func:`teams_notification`).
Both: no text where data could have become markup (see :func:`slack_markup`
and :func:`teams_markup`).

Each stand-in appends what it checked to the JSON-lines file named by
``CENTRALOPS_PAYLOAD_CHECKS`` when that is set (the test suite's session
fixture reads it), and keeps the problems it found for ``/_stand-in/problems``.
"""

import json
import logging
import os
import re
import threading
from functools import cache
from pathlib import Path
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

CHECKS_FILE_ENV = "CENTRALOPS_PAYLOAD_CHECKS"
SCHEMA_ENV = "CENTRALOPS_ADAPTIVE_CARD_SCHEMA"
CARD = "application/vnd.microsoft.card.adaptive"
SCHEMA = Path(__file__).resolve().parents[3] / "shared" / "schemas" / "adaptive-card.v1.5.schema.json"

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
TABLE_ROWS = 100
TABLE_CELLS = 20
MARKDOWN_CHARS = 12_000
TEXT_CHARS = 40_000
TEAMS_MESSAGE_BYTES = 40 * 1024
INFORMATIVE_CHARS = 1000
TASK_FIELD_CHARS = 256
CITATIONS = 20
SUMMARY_CHARS = 150
CITATION_NAME = 80
CITATION_ABSTRACT = 160

_WJ = "\u2060"
_MENTION = re.compile(r"<@[UW][A-Z0-9]+>|<#[CG][A-Z0-9]+>")  # a person or a channel, by id
_CODE = re.compile(r"(?<![`\\])(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
_LINKISH = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*:(?=//)|\bwww(?=\.)|@(?=\w)|\](?=[(\[:])")
_MD = re.compile(r"[*_`~\[\]<>]|^\s*(?:#|[-+] |\d+\. )|(?i:\b[a-z][a-z0-9+.-]*://)|\bwww\.", re.M)
_lock = threading.Lock()
logger = logging.getLogger("centralops.local.payload_checks")


def slack_markup(text: str, kind: str) -> list[str]:
    """Where ``text`` of a ``kind`` field (``mrkdwn`` or ``markdown``) could carry a mention or a link.

    The bot writes two control sequences itself, the requester's ``<@U…>`` and a
    channel's ``<#C…>`` (App Home's subscriptions); every other ``<`` must arrive escaped. In markdown fields, link-forming sequences
    outside code must be broken by a word joiner.
    """
    problems = []
    if kind == "mrkdwn":
        rest = _MENTION.sub("", text)
        if "<" in rest or ">" in rest:
            problems.append(f"unescaped control character in mrkdwn: {rest[rest.find('<') :][:60]!r}")
        return problems
    if "<" in text or ">" in text:
        problems.append(f"unescaped < or > in markdown: {text[:60]!r}")
    prose = _CODE.sub("", text)
    for m in _LINKISH.finditer(prose):
        if prose[m.end() : m.end() + 1] != _WJ:
            problems.append(
                f"link or mention can form in markdown: {prose[max(m.start() - 20, 0) : m.end() + 20]!r}"
            )
    return problems


def _texts(node: Any) -> list[tuple[str, str]]:
    """``(kind, text)`` of every text object under ``node``: mrkdwn, plain_text, markdown blocks."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        kind = node.get("type")
        if kind in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            found.append((str(kind), node["text"]))
        elif kind == "markdown" and isinstance(node.get("text"), str):
            found.append(("markdown", node["text"]))
        for key, value in node.items():
            if key != "text" or not isinstance(value, str):
                found.extend(_texts(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_texts(item))
    return found


def check_blocks(blocks: Any, *, view: bool = False) -> list[str]:
    """Problems of a ``blocks`` list: Block Kit models, then the limits they leave out."""
    if not blocks:
        return []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    problems = []
    limit = VIEW_BLOCKS if view else MESSAGE_BLOCKS
    if len(blocks) > limit:
        problems.append(f"{len(blocks)} blocks (at most {limit})")
    tables = [b for b in blocks if isinstance(b, dict) and b.get("type") == "table"]
    if len(tables) > 1:
        problems.append(f"{len(tables)} table blocks in one message (one allowed)")
    for table in tables:
        rows = table.get("rows") or []
        if len(rows) > TABLE_ROWS:
            problems.append(f"table of {len(rows)} rows (at most {TABLE_ROWS})")
        if any(len(r) > TABLE_CELLS for r in rows):
            problems.append(f"table row of more than {TABLE_CELLS} cells")
        if any(c.get("type") == "raw_text" and not c.get("text") for r in rows for c in r):
            problems.append("empty raw_text cell")
    markdown = sum(
        len(b.get("text", "")) for b in blocks if isinstance(b, dict) and b.get("type") == "markdown"
    )
    if markdown > MARKDOWN_CHARS:
        problems.append(f"{markdown} characters in markdown blocks (at most {MARKDOWN_CHARS})")
    for raw in blocks:
        try:
            block = Block.parse(raw)
            if block is None:
                problems.append(f"unknown block type {raw.get('type')!r}")
            else:
                block.validate_json()
        except (SlackObjectFormationError, KeyError, TypeError, ValueError) as e:
            problems.append(f"{raw.get('type')} block: {e}")
    for kind, text in _texts(blocks):
        if kind in ("mrkdwn", "markdown"):
            problems.extend(slack_markup(text, kind))
    return problems


def check_slack(method: str, args: dict[str, Any]) -> list[str]:
    """Problems of one Web API call (or ``response_url`` post, ``method="response_url"``)."""
    problems: list[str] = []
    if method in ("views.publish", "views.open"):
        view = args.get("view") or {}
        if isinstance(view, str):
            view = json.loads(view)
        return check_blocks(view.get("blocks"), view=True)
    if method not in {
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "chat.startStream",
        "chat.appendStream",
        "chat.stopStream",
        "files.completeUploadExternal",
        "response_url",
    }:
        return problems
    problems.extend(check_blocks(args.get("blocks")))
    text = args.get("text")
    if isinstance(text, str):
        if len(text) > TEXT_CHARS:
            problems.append(f"text of {len(text)} characters (at most {TEXT_CHARS})")
        problems.extend(slack_markup(text, "mrkdwn"))
    if isinstance(args.get("initial_comment"), str):
        problems.extend(slack_markup(args["initial_comment"], "mrkdwn"))
    markdown = str(args.get("markdown_text") or "")
    chunks = args.get("chunks") or []
    if isinstance(chunks, str):
        chunks = json.loads(chunks)
    markdown += "".join(
        str(c.get("text", "")) for c in chunks if isinstance(c, dict) and c.get("type") == "markdown_text"
    )
    if len(markdown) > MARKDOWN_CHARS:
        problems.append(f"markdown_text of {len(markdown)} characters (at most {MARKDOWN_CHARS})")
    if markdown:
        problems.extend(slack_markup(markdown, "markdown"))
    for c in chunks:
        # Task cards and plan titles show data (accounts, commands, statuses): escaped as markdown_text is.
        if isinstance(c, dict) and c.get("type") in ("task_update", "plan_update"):
            for key in ("title", "details", "output"):
                if isinstance(c.get(key), str):
                    problems.extend(slack_markup(c[key], "markdown"))
            for key in ("details", "output"):
                if len(str(c.get(key) or "")) > TASK_FIELD_CHARS:
                    problems.append(f"task {key} of more than {TASK_FIELD_CHARS} characters")
    return problems


@cache
def _card_validator() -> Any:
    """The Adaptive Card 1.5 validator, or None when the schema file is not there.

    The schema sits beside the repository (``../shared/schemas``); a clone
    elsewhere has none. The stand-in then skips only this one check (said once
    in its log) rather than failing every card the bot sends.
    """
    from jsonschema import Draft6Validator

    path = Path(os.environ.get(SCHEMA_ENV) or SCHEMA)
    if not path.is_file():
        logger.warning(
            "Adaptive Card schema not found: cards are not checked against it",
            extra={"path": str(path), "setting": SCHEMA_ENV},
        )
        return None
    return Draft6Validator(json.loads(path.read_text()))


def teams_markup(text: str) -> list[str]:
    """Where a ``TextBlock`` or ``Fact`` text could be read as markdown (data belongs in ``TextRun`` s)."""
    m = _MD.search(text)
    return [f"markdown can form in a TextBlock or Fact: {text[:60]!r}"] if m else []


def _card_texts(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "TextBlock" and isinstance(node.get("text"), str):
            found.append(node["text"])
        if node.get("type") == "FactSet":
            for fact in node.get("facts") or []:
                found.extend(str(fact.get(k, "")) for k in ("title", "value"))
        for value in node.values():
            found.extend(_card_texts(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_card_texts(item))
    return found


def _ai_entity(activity: dict[str, Any]) -> list[str]:
    """The AI label and citations as Teams documents them (bot messages with AI-generated content)."""
    problems: list[str] = []
    text = str(activity.get("text") or "")
    for entity in activity.get("entities") or []:
        if not isinstance(entity, dict) or entity.get("type") != "https://schema.org/Message":
            continue
        if entity.get("@type") != "Message" or entity.get("@context") != "https://schema.org":
            problems.append("AI entity without @type Message and @context https://schema.org")
        if entity.get("additionalType") not in (None, ["AIGeneratedContent"]):
            problems.append(f"AI entity additionalType {entity.get('additionalType')!r}")
        cited = entity.get("citation") or []
        if len(cited) > CITATIONS:
            problems.append(f"{len(cited)} citations (Teams shows at most {CITATIONS})")
        for c in cited:
            look = c.get("appearance") or {}
            if c.get("@type") != "Claim" or look.get("@type") != "DigitalDocument":
                problems.append("citation without @type Claim / DigitalDocument")
            if len(str(look.get("name") or "")) > CITATION_NAME or not look.get("name"):
                problems.append(f"citation name empty or over {CITATION_NAME} characters")
            if len(str(look.get("abstract") or "")) > CITATION_ABSTRACT:
                problems.append(f"citation abstract over {CITATION_ABSTRACT} characters")
            if f"[{c.get('position')}]" not in text:
                problems.append(f"citation {c.get('position')} is not referred to in the text")
    return problems


def check_teams(activity: dict[str, Any]) -> list[str]:
    """Problems of one activity the bot sent or updated."""
    problems = []
    size = len(json.dumps(activity, ensure_ascii=False).encode("utf-16-le"))
    if size > TEAMS_MESSAGE_BYTES:
        problems.append(f"message of {size} bytes in UTF-16 (Teams allows {TEAMS_MESSAGE_BYTES})")
    for entity in activity.get("entities") or []:
        if isinstance(entity, dict) and entity.get("streamType") == "informative":
            if len(str(activity.get("text") or "")) > INFORMATIVE_CHARS:
                problems.append("informative update over 1000 characters")
    problems.extend(_ai_entity(activity))
    data = activity.get("channelData") or {}
    if isinstance(data, dict) and "feedbackLoop" in data and "feedbackLoopEnabled" in data:
        problems.append("channelData sets both feedbackLoop and feedbackLoopEnabled (Teams refuses it)")
    for attachment in activity.get("attachments") or []:
        if attachment.get("contentType") != CARD:
            continue
        card = attachment.get("content") or {}
        validator = _card_validator()
        for error in validator.iter_errors(card) if validator is not None else ():
            problems.append(f"Adaptive Card 1.5 schema: {error.message[:200]} at {list(error.absolute_path)}")
        for text in _card_texts(card):
            problems.extend(teams_markup(text))
    return problems


_SUMMARY_MARKUP = re.compile(
    r"[*`~|\[\]<>\\\n\r\u202a-\u202e\u2066-\u2069]|(?<!\w)_|_(?!\w)|&(?:#\d+|#x[0-9a-f]+|[a-z][a-z0-9]*);|^\s*#",
    re.I,
)


def teams_notification(activity: dict[str, Any]) -> list[str]:
    """Problems of a message's ``summary``, what Teams shows in notifications and previews.

    A message with text or attachments needs one, of at most 150 characters, in which no markdown,
    HTML tag, entity, mention or link syntax can form.
    """
    if activity.get("type") != "message" or not (activity.get("text") or activity.get("attachments")):
        return []
    summary = activity.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        return ["message without a notification summary (Teams would show raw text or nothing)"]
    problems = []
    if len(summary) > SUMMARY_CHARS:
        problems.append(f"notification summary over {SUMMARY_CHARS} characters")
    if m := _SUMMARY_MARKUP.search(summary):
        problems.append(f"markup can form in the notification summary ({m.group()!r}): {summary[:60]!r}")
    return problems


def record(where: str, what: str, problems: list[str]) -> None:
    """Append one checked payload to the checks file (when the environment names one)."""
    path = os.environ.get(CHECKS_FILE_ENV)
    if not path:
        return
    line = json.dumps({"where": where, "what": what, "problems": problems}) + "\n"
    with _lock, open(path, "a", encoding="utf-8") as f:
        f.write(line)
