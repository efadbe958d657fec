"""The account registry as the bot reads it: which accounts a person may query.

The bridge enforces entitlement (the agent checks it too, for kinder messages); the bot reads the same registry only to answer
``/aws accounts``, fill the App Home tab and tell production changes apart.
"""

from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from bot.dynamo import Table, storage_error
from centralops.accounts import AccountItem, entitled

_deserialize = TypeDeserializer().deserialize


@dataclass(frozen=True)
class AccountInfo:
    """One registry entry, reduced to what chat shows."""

    account_id: str
    name: str
    environment: str
    aliases: tuple[str, ...]
    enabled: bool
    allowed_groups: tuple[str, ...]
    payer: bool = False  # the organisation's management account: Cost Explorer only

    def allows(self, groups: set[str]) -> bool:
        """Whether a member of ``groups`` may query this account (enabled, and the kernel's entitlement rule)."""
        return self.enabled and entitled(self.allowed_groups, groups)

    def matches(self, ref: str) -> bool:
        """Whether ``ref`` names this account (id, name or alias)."""
        ref = ref.strip().lower()
        return ref in {self.account_id, self.name.lower(), *(a.lower() for a in self.aliases)}


class AccountDirectory:
    """Reads the accounts table.

    Args:
        table: The accounts table.
    """

    def __init__(self, table: Table) -> None:
        self.table = table

    async def all(self) -> list[AccountInfo]:
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
        out = []
        for raw in items:
            item = AccountItem.from_item({k: _deserialize(x) for k, x in raw.items()})
            out.append(
                AccountInfo(
                    account_id=item.account_id,
                    name=item.name,
                    environment=item.environment,
                    aliases=item.aliases,
                    enabled=item.enabled,
                    allowed_groups=item.allowed_groups,
                    payer=item.payer,
                )
            )
        return sorted(out, key=lambda a: a.name)

    async def visible_to(self, groups: set[str]) -> list[AccountInfo]:
        """The enabled accounts a member of ``groups`` may query."""
        return [a for a in await self.all() if a.allows(groups)]
