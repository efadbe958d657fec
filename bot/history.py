"""A person's recent queries, for the App Home tab, kept in DynamoDB so every replica sees them.

Stored in the idempotency table under ``recent#{platform}#{team}#{user}`` with a
TTL, as a short list (newest first): no extra table for a convenience.
"""

import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bot.chat import ChatUser
from bot.dynamo import DynamoTable, storage_error
from centralops.errors import CentralOpsError

KEEP = 10
TTL_S = 30 * 24 * 3600


def _key(who: ChatUser) -> dict[str, Any]:
    return {"key": {"S": f"recent#{who.platform}#{who.team}#{who.user}"}}


class RecentQueries:
    """Remembers the last few queries of each person.

    Args:
        table: The idempotency table.
    """

    def __init__(self, table: DynamoTable) -> None:
        self.table = table

    async def add(self, who: ChatUser, text: str) -> None:
        """Record a query (best effort: a failure here never blocks an answer)."""
        try:
            recent = await self.list(who)
        except CentralOpsError:
            recent = []
        recent = [text[:200], *[q for q in recent if q != text[:200]]][:KEEP]
        try:
            await self.table.call(
                "put_item",
                Item={
                    **_key(who),
                    "queries": {"L": [{"S": q} for q in recent]},
                    "ttl": {"N": str(int(time.time()) + TTL_S)},
                },
            )
        except (BotoCoreError, ClientError):
            return

    async def list(self, who: ChatUser) -> list[str]:
        """The person's recent queries, newest first."""
        try:
            out = await self.table.call("get_item", Key=_key(who))
        except (BotoCoreError, ClientError) as e:
            raise storage_error(e, "read your recent queries") from e
        item = out.get("Item") or {}
        return [q["S"] for q in item.get("queries", {}).get("L", [])]
