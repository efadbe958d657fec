"""The accounts-table item and the one entitlement rule, shared by the bridge, the agent and the bot.

An account whose ``allowed_groups`` is empty may be queried by everyone
signed in; otherwise only by members of at least one of those groups. The
bridge enforces the rule; the agent and the bot apply the same function to
say so earlier and more kindly.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from centralops.items import optional_str, strings


def entitled(allowed_groups: Iterable[str], groups: Iterable[str]) -> bool:
    """Whether a caller in ``groups`` may query an account limited to ``allowed_groups``."""
    allowed = set(allowed_groups)
    return not allowed or bool(allowed & set(groups))


@dataclass(frozen=True)
class AccountItem:
    """One accounts-table item (plain Python values, as boto3's resource or TypeDeserializer gives them).

    ``environment`` is lower-cased here, once, for every reader.
    """

    account_id: str
    name: str
    environment: str = ""
    aliases: tuple[str, ...] = ()
    enabled: bool = True
    allowed_groups: tuple[str, ...] = ()
    default_region: str | None = None
    role_name: str | None = None
    write_role_name: str | None = None
    external_id: str | None = None
    regions: tuple[str, ...] = ()  # the regions "all regions" covers; empty: the account's enabled regions
    payer: bool = False  # the organisation's management (payer) account, where Cost Explorer is asked

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> "AccountItem":
        """Read an item (plain values); missing optional attributes take their defaults."""
        account_id = str(item["account_id"])
        return cls(
            account_id=account_id,
            name=str(item.get("name") or account_id),
            environment=str(item.get("environment") or "").strip().lower(),
            aliases=strings(item.get("aliases")),
            enabled=bool(item.get("enabled", True)),
            allowed_groups=strings(item.get("allowed_groups")),
            default_region=optional_str(item.get("default_region")),
            role_name=optional_str(item.get("role_name")),
            write_role_name=optional_str(item.get("write_role_name")),
            external_id=optional_str(item.get("external_id")),
            regions=strings(item.get("regions")),
            payer=bool(item.get("payer", False)),
        )

    def to_item(self) -> dict[str, Any]:
        """The item to write (plain values; optional attributes only when set)."""
        item: dict[str, Any] = {
            "account_id": self.account_id,
            "name": self.name,
            "environment": self.environment.lower(),
            "aliases": list(self.aliases),
            "enabled": self.enabled,
            "allowed_groups": list(self.allowed_groups),
        }
        for name in ("default_region", "role_name", "write_role_name", "external_id"):
            value = getattr(self, name)
            if value:
                item[name] = value
        if self.regions:
            item["regions"] = list(self.regions)
        if self.payer:
            item["payer"] = True
        return item

    def entitles(self, groups: Iterable[str]) -> bool:
        """Whether a caller with these Cognito groups may query the account (see :func:`entitled`)."""
        return entitled(self.allowed_groups, groups)

    def queryable_by(self, groups: Iterable[str]) -> bool:
        """Whether a caller with these groups may query the account now (enabled, and entitled)."""
        return self.enabled and self.entitles(groups)

    def matches(self, ref: str) -> bool:
        """Whether ``ref`` names this account: its id, name or an alias, in any case."""
        ref = ref.strip().lower()
        return ref in {self.account_id, self.name.lower(), *(a.lower() for a in self.aliases)}

    def label(self) -> str:
        """``staging (222222222222)``."""
        return f"{self.name} ({self.account_id})"
