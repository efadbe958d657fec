"""Account registry lookups, cached briefly so a fan-out reads each entry once."""

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bridge.errors import AccountError

_ACCOUNT_ID = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class AccountEntry:
    """What the bridge needs from a registry entry."""

    account_id: str
    name: str
    enabled: bool
    role_name: str
    write_role_name: str | None
    external_id: str | None
    default_region: str | None


class Registry:
    """Reads the accounts table.

    Args:
        table_name: The accounts table.
        client_factory: Creates the DynamoDB client on first use.
        default_role_name: The role used when an entry names none.
        default_external_id: The ExternalId used when an entry names none.
        ttl_s: How long an entry is cached.
        clock: Monotonic clock (tests).
    """

    def __init__(
        self,
        table_name: str,
        client_factory: Callable[[], Any],
        *,
        default_role_name: str,
        default_external_id: str | None = None,
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table = table_name
        self._factory = client_factory
        self._client: Any = None
        self._default_role = default_role_name
        self._default_external_id = default_external_id
        self._ttl = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, AccountEntry]] = {}
        self._lock = threading.Lock()

    def _dynamodb(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            return self._client

    def get(self, account_id: str) -> AccountEntry:
        """The enabled entry for ``account_id``.

        Raises:
            AccountError: The id is malformed, unknown or disabled, or the registry cannot be read.
        """
        if not isinstance(account_id, str) or not _ACCOUNT_ID.match(account_id):
            raise AccountError(
                f"{account_id!r} is not a 12-digit AWS account id. Resolve the account name from the registry first.",
                code="invalid_account_id",
            )
        hit = self._cache.get(account_id)
        if hit and hit[0] > self._clock():
            entry = hit[1]
        else:
            entry = self._load(account_id)
            self._cache[account_id] = (self._clock() + self._ttl, entry)
        if not entry.enabled:
            raise AccountError(
                f"Account {entry.name} ({account_id}) is disabled in the CentralOps registry. "
                "Ask an administrator to enable it.",
                code="account_disabled",
            )
        return entry

    def cached(self, account_id: str) -> bool:
        """Whether :meth:`get` would answer ``account_id`` from the cache (no request)."""
        hit = self._cache.get(account_id)
        return bool(hit and hit[0] > self._clock())

    def prefetch(self, account_ids: list[str]) -> None:
        """Load the uncached entries of a fan-out with ``BatchGetItem``, 100 ids per request.

        A thousand accounts cost ten requests instead of a thousand. Ids the table does not hold,
        malformed ids and any failure are left to :meth:`get`, which reports each per account.
        """
        wanted = [a for a in dict.fromkeys(account_ids) if _ACCOUNT_ID.match(a) and not self.cached(a)]
        for start in range(0, len(wanted), 100):
            keys = [{"account_id": {"S": a}} for a in wanted[start : start + 100]]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            for _ in range(5):  # unprocessed keys (throttling) are asked again a few times
                try:
                    out = self._dynamodb().batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError):
                    return
                expires = self._clock() + self._ttl
                for item in out.get("Responses", {}).get(self._table, []):
                    entry = self._entry(item["account_id"]["S"], item)
                    self._cache[entry.account_id] = (expires, entry)
                request = out.get("UnprocessedKeys") or {}
                if not request:
                    break

    def _load(self, account_id: str) -> AccountEntry:
        try:
            item = (
                self._dynamodb()
                .get_item(TableName=self._table, Key={"account_id": {"S": account_id}}, ConsistentRead=True)
                .get("Item")
            )
        except (ClientError, BotoCoreError) as e:
            raise AccountError(
                f"The account registry could not be read ({e}). Try again; if it persists, check the bridge's role.",
                code="registry_unavailable",
            ) from e
        if not item:
            raise AccountError(
                f"Account {account_id} is not in the CentralOps registry. Check the id or register the account.",
                code="unknown_account",
            )
        return self._entry(account_id, item)

    def _entry(self, account_id: str, item: dict[str, Any]) -> AccountEntry:
        def s(name: str) -> str | None:
            value = item.get(name, {}).get("S")
            return value or None

        enabled = item.get("enabled", {}).get("BOOL", True)
        return AccountEntry(
            account_id=account_id,
            name=s("name") or account_id,
            enabled=bool(enabled),
            role_name=s("role_name") or self._default_role,
            write_role_name=s("write_role_name"),
            external_id=s("external_id") or self._default_external_id,
            default_region=s("default_region"),
        )
