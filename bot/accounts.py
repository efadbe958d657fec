"""The account registry as the bot reads it: which accounts a person may query.

The bridge enforces entitlement (the agent checks it too, for kinder messages); the bot reads the
same registry only to answer ``/aws accounts``, fill the App Home tab and name the accounts of a
decided approval card.
"""

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bot.dynamo import DynamoTable, from_attributes, storage_error
from centralops.accounts import AccountItem


class AccountDirectory:
    """Reads the accounts table.

    Args:
        table: The accounts table.
    """

    def __init__(self, table: DynamoTable) -> None:
        self.table = table

    async def all(self) -> list[AccountItem]:
        """Every registered account, sorted by name."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        try:
            while True:
                page = await self.table.call("scan", **kwargs)
                items.extend(page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (BotoCoreError, ClientError) as e:
            raise storage_error(e, "read the account registry") from e
        out = [AccountItem.from_item(from_attributes(raw)) for raw in items]
        return sorted(out, key=lambda a: a.name)

    async def visible_to(self, groups: set[str]) -> list[AccountItem]:
        """The enabled accounts a member of ``groups`` may query."""
        return [a for a in await self.all() if a.queryable_by(groups)]
