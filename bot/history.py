"""A person's recent queries, for the App Home tab, kept in DynamoDB so every replica sees them.

Stored in the idempotency table under ``recent#{platform}#{team}#{user}`` with a
TTL, as a list (oldest first): no extra table for a convenience. Recording a
query is one ``UpdateItem`` that appends, without reading (on Slack it rides in
the answer's delivery transaction, see :meth:`RecentQueries.keep`); the list is
cut back to :data:`KEEP` only when it reaches :data:`CAP` (one read and one
write, once every few dozen queries), and readers show the newest :data:`KEEP`
distinct queries.
"""

import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bot.chat import ChatUser
from bot.dynamo import DynamoTable, Keep, is_conditional_failure, storage_error
from centralops.errors import CentralOpsError

KEEP = 10
CAP = 50
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

    def _append(self, who: ChatUser, text: str) -> dict[str, Any]:
        """The appending update (without the table name): fails its condition once the list is full."""
        return {
            "Key": _key(who),
            "UpdateExpression": "SET #q = list_append(if_not_exists(#q, :empty), :new), #t = :ttl",
            "ConditionExpression": "attribute_not_exists(#q) OR size(#q) < :cap",
            "ExpressionAttributeNames": {"#q": "queries", "#t": "ttl"},
            "ExpressionAttributeValues": {
                ":empty": {"L": []},
                ":new": {"L": [{"S": text[:200]}]},
                ":ttl": {"N": str(int(time.time()) + TTL_S)},
                ":cap": {"N": str(CAP)},
            },
        }

    def keep(self, who: ChatUser, text: str) -> Keep:
        """Recording ``text`` as a write that can ride in another transaction (see :class:`~bot.dynamo.Keep`).

        When the list is full the transaction refuses it, and :meth:`add` (which cuts the list back)
        records it on its own.
        """
        return Keep(
            {"Update": {"TableName": self.table.name, **self._append(who, text)}}, lambda: self.add(who, text)
        )

    async def add(self, who: ChatUser, text: str) -> None:
        """Record a query (best effort: a failure here never blocks an answer)."""
        try:
            await self.table.call("update_item", **self._append(who, text))
            return
        except ClientError as e:
            if not is_conditional_failure(e):
                return
        except BotoCoreError:
            return
        try:
            recent = [*reversed(await self.list(who)), text[:200]]
            ttl = {"N": str(int(time.time()) + TTL_S)}
            await self.table.call(
                "put_item", Item={**_key(who), "queries": {"L": [{"S": q} for q in recent]}, "ttl": ttl}
            )
        except (CentralOpsError, BotoCoreError, ClientError):
            return

    async def list(self, who: ChatUser) -> list[str]:
        """The person's recent queries, newest first."""
        try:
            out = await self.table.call("get_item", Key=_key(who))
        except (BotoCoreError, ClientError) as e:
            raise storage_error(e, "read your recent queries") from e
        item = out.get("Item") or {}
        recent: list[str] = []
        for q in reversed(item.get("queries", {}).get("L", [])):
            if q["S"] not in recent:
                recent.append(q["S"])
        return recent[:KEEP]
