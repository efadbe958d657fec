"""Block Kit for CentralOps messages, kept inside Slack's limits.

Limits followed: section text 3,000 characters, markdown block 12,000, button
text 75, button value 2,000, 50 blocks per message, 25 actions per block; a
``table`` block holds at most 100 rows (the header is one) of at most 20 cells,
and a message carries one table.
"""

from typing import Any

from bot.chat import ApprovalCard, Checklist, Table
from bot.conversation import HomeView
from bot.slack.feedback import REASK
from bot.slack.markup import code, mrkdwn, notification
from bot.slack.markup import markdown as safe_markdown
from centralops.accounts import AccountItem
from centralops.events import Followup

APPROVE = "centralops_approve"
DENY = "centralops_deny"
FOLLOWUP_PREFIX = "centralops_followup_"
LOGIN = "centralops_login"
ANSWER_EVENT = "centralops_answer"

SECTION_MAX = 3000
MARKDOWN_MAX = 12000
TABLE_ROWS = 99  # data rows of a table block: 100 rows with the header
TABLE_COLUMNS = 20
CELL_MAX = 500

_ICON = {
    "running": ":hourglass_flowing_sand:",
    "ok": ":white_check_mark:",
    "failed": ":x:",
    "stopped": ":heavy_minus_sign:",
}


def clip(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(text: str) -> dict[str, Any]:
    """A mrkdwn section."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_MAX)}}


def context(text: str) -> dict[str, Any]:
    """A small grey line."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, SECTION_MAX)}]}


def markdown(text: str) -> dict[str, Any]:
    """A standard-markdown block (what the agent writes), made safe: no mention, broadcast or link."""
    return {"type": "markdown", "text": clip(safe_markdown(text), MARKDOWN_MAX)}


def checklist_text(checklist: Checklist) -> str:
    """The compact per-account checklist as mrkdwn."""
    lines = []
    if status := checklist.status_line():
        lines.append(f"_{mrkdwn(status)}_")
    shown, more = checklist.visible()
    for item in shown:
        took = (
            f" · {item.ms} ms" if item.ms is not None else (" · no result" if item.state == "stopped" else "")
        )
        lines.append(f"{_ICON[item.state]} *{mrkdwn(item.account)}* {code(item.shown_command)}{took}")
    if more:
        lines.append(more)
    return "\n".join(lines) or "_Working on it…_"


def _mention(user: str) -> str:
    # A Slack user id is letters and digits; anything else is not written as a mention.
    return f"<@{user}>" if user.isalnum() else mrkdwn(user)


def parent_text(user: str, question: str) -> str:
    """The notification text of a slash command's parent message."""
    return f"{_mention(user)} asked: {notification(question, 200)}"


def parent_blocks(
    user: str, question: str, progress: str | None = "_Working on it…_"
) -> list[dict[str, Any]]:
    """The parent message of a slash command: who asked what, and the progress (none once it is over)."""
    blocks = [section(f"{_mention(user)} asked: {code(question, 500)}")]
    return [*blocks, context(progress)] if progress else blocks


def _raw(value: str) -> dict[str, Any]:
    # raw_text is shown as written: no mrkdwn, no mentions, no links.
    return {"type": "raw_text", "text": clip(" ".join(value.split()), CELL_MAX) or "—"}


def _header(value: str) -> dict[str, Any]:
    text = {"type": "text", "text": clip(" ".join(value.split()), CELL_MAX) or "—", "style": {"bold": True}}
    return {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [text]}]}


def table_blocks(table: Table) -> list[dict[str, Any]]:
    """A ``table`` block of the first page, with what was left out said underneath."""
    columns = table.columns[:TABLE_COLUMNS]
    rows = table.rows[:TABLE_ROWS]
    blocks: list[dict[str, Any]] = []
    if table.title:
        blocks.append(section(f"*{mrkdwn(clip(table.title, 300))}*"))
    blocks.append(
        {
            "type": "table",
            "rows": [[_header(c) for c in columns], *([_raw(v) for v in r[: len(columns)]] for r in rows)],
        }
    )
    left_out = []
    if len(table.rows) > len(rows):
        left_out.append(f"{len(table.rows) - len(rows)} more rows")
    if len(table.columns) > len(columns):
        left_out.append(f"{len(table.columns) - len(columns)} more columns")
    if left_out:
        blocks.append(
            context(
                f"Showing {len(rows)} of {len(table.rows)} rows; {' and '.join(left_out)} "
                "are in the attached CSV file."
            )
        )
    return blocks


def login_blocks(url: str, text: str) -> list[dict[str, Any]]:
    """A private sign-in button; ``text`` is the core's message (mrkdwn markup, escaped here)."""
    return [
        section(mrkdwn(text)),
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": LOGIN,
                    "text": {"type": "plain_text", "text": "Sign in to CentralOps"},
                    "url": url,
                    "style": "primary",
                }
            ],
        },
    ]


def _confirm(title: str, text: str, confirm: str, style: str) -> dict[str, Any]:
    return {
        "title": {"type": "plain_text", "text": title},
        "text": {"type": "mrkdwn", "text": clip(text, 300)},
        "confirm": {"type": "plain_text", "text": confirm},
        "deny": {"type": "plain_text", "text": "Cancel"},
        "style": style,
    }


def approval_blocks(card: ApprovalCard) -> list[dict[str, Any]]:
    """An approval card: pending with buttons, or decided with who and when."""
    where = ", ".join(card.accounts) or "no account"
    fence = "`" * 3
    command = clip(card.command, 1500).replace(fence, "'" * 3)
    head = (
        f"*Approval needed* ({mrkdwn(card.risk)}): {mrkdwn(card.requester)} wants to run\n"
        f"{fence}{mrkdwn(command)}{fence}\nin *{mrkdwn(clip(where, 300))}*"
    )
    blocks = [section(head)]
    if card.reason:
        blocks.append(context(f"Why: {mrkdwn(clip(card.reason, 2900))}"))
    if card.status == "pending":
        what = f"{code(card.command, 150)} in {mrkdwn(clip(where, 100))}"
        blocks.append(
            {
                "type": "actions",
                "block_id": "approval",
                "elements": [
                    {
                        "type": "button",
                        "action_id": APPROVE,
                        "text": {"type": "plain_text", "text": "Approve"},
                        "style": "primary",
                        "value": card.approval_id,
                        "confirm": _confirm("Approve this change?", f"Run {what}.", "Approve", "primary"),
                    },
                    {
                        "type": "button",
                        "action_id": DENY,
                        "text": {"type": "plain_text", "text": "Deny"},
                        "style": "danger",
                        "value": card.approval_id,
                        "confirm": _confirm("Deny this change?", f"Do not run {what}.", "Deny", "danger"),
                    },
                ],
            }
        )
    else:
        icon = ":white_check_mark:" if card.status == "approved" else ":no_entry:"
        when = card.decided_at.strftime("%Y-%m-%d %H:%M UTC") if card.decided_at else "just now"
        blocks.append(
            context(
                f"{icon} *{mrkdwn(card.status.capitalize())}* by {mrkdwn(card.decided_by or 'someone')} at {when}"
            )
        )
    return blocks


def followup_blocks(items: list[Followup]) -> list[dict[str, Any]]:
    """Suggested next queries as buttons (run as whoever clicks)."""
    if not items:
        return []
    buttons = [
        {
            "type": "button",
            "action_id": f"{FOLLOWUP_PREFIX}{i}",
            "text": {"type": "plain_text", "text": clip(item["label"], 75)},
            "value": clip(item["prompt"], 2000),
        }
        for i, item in enumerate(items[:5])
    ]
    return [{"type": "actions", "block_id": "followups", "elements": buttons}]


def _account_line(a: AccountItem) -> str:
    return f"• *{mrkdwn(a.name)}* {code(a.account_id)} ({mrkdwn(a.environment)})"


def home_view(view: HomeView, login_url: str | None) -> dict[str, Any]:
    """The App Home tab."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": "CentralOps"}}]
    if view.link is not None:
        blocks.append(
            section(f"Linked to *{mrkdwn(view.link.display_name)}* since {mrkdwn(view.link.linked_at[:10])}.")
        )
    else:
        blocks.extend(
            login_blocks(login_url, "You are not linked yet.") if login_url else [section("Not linked.")]
        )
    if view.problem:
        blocks.append(context(f":warning: {mrkdwn(view.problem)}"))
    blocks.append({"type": "divider"})
    blocks.append(section("*Accounts you may query*"))
    lines = [_account_line(a) for a in view.accounts[:40]]
    blocks.append(section("\n".join(lines) if lines else "_None yet: link your account first._"))
    blocks.append({"type": "divider"})
    blocks.append(section("*Your recent queries*"))
    if not view.recent:
        blocks.append(section("_Nothing yet. Try `/aws list buckets in staging`._"))
    for q in view.recent:
        # One click asks the same question again, in a new thread of the person's DM with the app.
        blocks.append(
            {
                **section(f"• {code(q, 150)}"),
                "accessory": {
                    "type": "button",
                    "action_id": REASK,
                    "text": {"type": "plain_text", "text": "Ask again"},
                    "value": clip(q, 2000),
                },
            }
        )
    if view.admin:
        blocks.extend(admin_blocks(view))
    return {"type": "home", "blocks": blocks[:100]}


def admin_blocks(view: HomeView) -> list[dict[str, Any]]:
    """For admins: how answers are rated week by week, and every registered account."""
    out: list[dict[str, Any]] = [{"type": "divider"}, section("*Answers rated, per week* (admins)")]
    lines = [
        f"• {mrkdwn(w.week)}: {w.down} of {w.up + w.down} thumbs down ({w.rate:.0%})"
        if w.up + w.down
        else f"• {mrkdwn(w.week)}: no feedback"
        for w in view.feedback
    ]
    out.append(section("\n".join(lines) if lines else "_No feedback yet._"))
    out.append(section("*Registered accounts* (admins)"))
    rows = [_account_line(a) + ("" if a.enabled else " — _disabled_") for a in view.registry[:40]]
    out.append(section("\n".join(rows) if rows else "_No accounts registered._"))
    if len(view.registry) > 40:
        out.append(context(f"…and {len(view.registry) - 40} more."))
    return out
