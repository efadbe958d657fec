"""Answers through a slash command's ``response_url``, for channels the bot cannot post in.

A private channel or group DM that the bot is not a member of answers
``chat.postMessage`` with ``channel_not_found`` or ``not_in_channel``. The
slash command still carries a ``response_url`` (valid for 30 minutes, up to 5
messages), so the answer is collected and posted there at the end: the tables
first (one per message), each approval card as a message of its own (with its
Approve / Deny buttons), then the text with the follow-up buttons and a
one-line hint to invite the bot. There is no thread, no progress and no file
there.

Buttons work on these messages: a click's payload carries a ``response_url``
of its own (again 5 messages in 30 minutes), which replaces the decided card
(``replace_original``) and carries the resumed or follow-up answer. Such
answers share one conversation per channel (the thread :func:`reply_thread`),
since the channel has no thread the bot can read.
"""

from typing import Any

from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.chat import ApprovalCard, Table, cut_at_boundary
from bot.slack import blocks as b
from bot.slack import markup
from centralops.events import Followup

NOT_REACHABLE = frozenset({"not_in_channel", "channel_not_found"})
MAX_TABLES = 3  # response_url takes 5 messages: tables, the answer, and room for a late error
INLINE_CAP = 3500
INVITE_HINT = (
    "CentralOps is not a member of this channel, so this answer has no thread or files. "
    "Invite it with `/invite @CentralOps` to get those."
)
DONE_BLOCK = "centralops_answer"
REPLY_BLOCK = "centralops_response_url"
"""Marks the messages posted through a ``response_url``, so a click on them is answered the same way."""
THREAD_PREFIX = "response-url-"
MESSAGES = 5
"""What one ``response_url`` takes (within 30 minutes)."""


def reply_thread(channel: str) -> str:
    """The conversation of the answers given through ``response_url`` in ``channel``."""
    return f"{THREAD_PREFIX}{channel}"


def is_reply_thread(thread: str | None) -> bool:
    """Whether ``thread`` is such a conversation."""
    return bool(thread and thread.startswith(THREAD_PREFIX))


def posted_through_response_url(message: dict[str, Any]) -> bool:
    """Whether a clicked message is one of ours posted through a ``response_url``."""
    return any(block.get("block_id") == REPLY_BLOCK for block in message.get("blocks") or [])


class ResponseUrlReply:
    """Collects one answer and posts it through ``response_url``.

    Args:
        url: The slash command's ``response_url``.
        user: The person who asked.
        question: What they asked (repeated above the answer, as the parent message would).
    """

    def __init__(self, url: str, user: str, question: str = "") -> None:
        self.webhook = AsyncWebhookClient(url)
        self.user = user
        self.question = question
        self._text = ""
        self._tables: list[Table] = []
        self._cards: list[ApprovalCard] = []
        self._followups: list[Followup] = []

    async def notice(self, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """A private reply (``text`` is mrkdwn, escaped already)."""
        await self.webhook.send(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    def text(self, delta: str) -> None:
        """Keep a piece of the answer."""
        self._text += delta

    def table(self, table: Table) -> None:
        """Keep a table of the answer."""
        self._tables.append(table)

    def approval(self, card: ApprovalCard) -> None:
        """Keep an approval card (posted as a message of its own, so a decision replaces only the card)."""
        self._cards.append(card)

    def followups(self, items: list[Followup]) -> None:
        """Keep the follow-up buttons of the answer."""
        self._followups = list(items)

    async def replace(self, text: str, blocks: list[dict[str, Any]]) -> None:
        """Replace the message that was clicked (a click's ``response_url``), e.g. with the decided card."""
        await self.webhook.send(
            text=text, blocks=[*blocks, _marker()], response_type="in_channel", replace_original=True
        )

    async def finish(self, errors: list[str]) -> None:
        """Post the tables, each approval card, then the answer with its buttons and the invite hint."""
        cards = self._cards[: MESSAGES - 2]  # the answer and a late error keep their messages
        shown_tables = max(min(MAX_TABLES, MESSAGES - 2 - len(cards)), 0)
        for table in self._tables[:shown_tables]:
            await self.webhook.send(
                text=markup.notification(table.summary()),
                blocks=b.table_blocks(table),
                response_type="in_channel",
                replace_original=False,
            )
        for card in cards:
            await self.webhook.send(
                text=markup.notification(f"Approval needed: {card.command}"),
                blocks=[*b.approval_blocks(card), _marker()],
                response_type="in_channel",
                replace_original=False,
            )
        body = self._text
        left_out = len(self._tables) - shown_tables
        if len(body) > INLINE_CAP:
            body = cut_at_boundary(body, INLINE_CAP) + "\n\n_The rest of the answer is not shown here._"
        if left_out > 0:
            body += f"\n\n_{left_out} more table(s) are not shown here._"
        body += "".join(f"\n\n⚠️ {m}" for m in errors)
        blocks: list[dict[str, Any]] = [
            {**b.section(f"{b.parent_text(self.user, self.question)}"), "block_id": REPLY_BLOCK}
        ]
        if len(self._cards) > len(cards):
            blocks.append(b.context("More approvals were asked than fit here: ask for one change at a time."))
        if body.strip():
            blocks.append(b.markdown(body.strip()))
        elif not self._tables and not self._cards:
            blocks.append(b.markdown("The agent finished without an answer. Try asking in other words."))
        blocks.extend(b.followup_blocks(self._followups))
        blocks.append(
            {"type": "context", "block_id": DONE_BLOCK, "elements": [{"type": "mrkdwn", "text": INVITE_HINT}]}
        )
        await self.webhook.send(
            text=markup.notification(body or self.question),
            blocks=blocks,
            response_type="in_channel",
            replace_original=False,
        )


def _marker() -> dict[str, Any]:
    return {
        "type": "context",
        "block_id": REPLY_BLOCK,
        "elements": [
            {
                "type": "mrkdwn",
                "text": "Decisions and results come here, as CentralOps is not in this channel.",
            }
        ],
    }
