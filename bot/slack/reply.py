"""Answers through a slash command's ``response_url``, for channels the bot cannot post in.

A private channel or group DM that the bot is not a member of answers
``chat.postMessage`` with ``channel_not_found`` or ``not_in_channel``. The
slash command still carries a ``response_url`` (valid for 30 minutes, up to 5
messages), so the answer is collected and posted there at the end: the tables
first (one per message), then the text with a one-line hint to invite the bot.
There is no thread, no progress and no file there.
"""

from typing import Any

from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.chat import ApprovalCard, Table, cut_at_boundary
from bot.slack import blocks as b
from bot.slack import markup

NOT_REACHABLE = frozenset({"not_in_channel", "channel_not_found"})
MAX_TABLES = 3  # response_url takes 5 messages: tables, the answer, and room for a late error
INLINE_CAP = 3500
INVITE_HINT = (
    "CentralOps is not a member of this channel, so this answer has no thread or files. "
    "Invite it with `/invite @CentralOps` to get those."
)
DONE_BLOCK = "centralops_answer"


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
        """Keep an approval card (its buttons work only where the bot can read the thread)."""
        self._cards.append(card)

    async def finish(self, errors: list[str]) -> None:
        """Post the tables, then the answer with the invite hint."""
        for table in self._tables[:MAX_TABLES]:
            await self.webhook.send(
                text=markup.notification(table.summary()),
                blocks=b.table_blocks(table),
                response_type="in_channel",
                replace_original=False,
            )
        body = self._text
        left_out = len(self._tables) - MAX_TABLES
        if len(body) > INLINE_CAP:
            body = cut_at_boundary(body, INLINE_CAP) + "\n\n_The rest of the answer is not shown here._"
        if left_out > 0:
            body += f"\n\n_{left_out} more table(s) are not shown here._"
        body += "".join(f"\n\n⚠️ {m}" for m in errors)
        blocks: list[dict[str, Any]] = [
            b.section(f"{b.parent_text(self.user, self.question)}"),
            *(
                block
                for card in self._cards
                for block in b.approval_blocks(card)
                if block.get("type") != "actions"
            ),
        ]
        if self._cards:
            blocks.append(b.context("Approvers can decide this once CentralOps is in the channel."))
        if body.strip():
            blocks.append(b.markdown(body.strip()))
        elif not self._tables and not self._cards:
            blocks.append(b.markdown("The agent finished without an answer. Try asking in other words."))
        blocks.append(
            {"type": "context", "block_id": DONE_BLOCK, "elements": [{"type": "mrkdwn", "text": INVITE_HINT}]}
        )
        await self.webhook.send(
            text=markup.notification(body or self.question),
            blocks=blocks,
            response_type="in_channel",
            replace_original=False,
        )
