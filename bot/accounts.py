"""The account registry as the bot reads it: which accounts a person may query.

The agent enforces entitlement; the bot reads the same registry only to answer
``/aws accounts``, fill the App Home tab and tell production changes apart.
"""

from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from bot.dynamo import Table, storage_error

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

    def allows(self, groups: set[str]) -> bool:
        """Whether a member of ``groups`` may query this account."""
        return self.enabled and (not self.allowed_groups or bool(groups & set(self.allowed_groups)))

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
            v = {k: _deserialize(x) for k, x in raw.items()}
            out.append(
                AccountInfo(
                    account_id=str(v["account_id"]),
                    name=str(v.get("name", v["account_id"])),
                    environment=str(v.get("environment", "")),
                    aliases=tuple(str(a) for a in v.get("aliases", []) or []),
                    enabled=bool(v.get("enabled", True)),
                    allowed_groups=tuple(str(g) for g in v.get("allowed_groups", []) or []),
                )
            )
        return sorted(out, key=lambda a: a.name)

    async def visible_to(self, groups: set[str]) -> list[AccountInfo]:
        """The enabled accounts a member of ``groups`` may query."""
        return [a for a in await self.all() if a.allows(groups)]
