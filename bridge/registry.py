"""Account registry lookups, cached briefly so a fan-out reads each entry once."""

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from bridge.errors import AccountError
from centralops.accounts import AccountItem, entitled

logger = logging.getLogger(__name__)
_deserialize = TypeDeserializer().deserialize

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_BATCH_GET = 100  # DynamoDB's BatchGetItem limit


@dataclass(frozen=True)
class TargetAccount:
    """What the bridge needs from a registry entry."""

    account_id: str
    name: str
    enabled: bool
    role_name: str
    write_role_name: str | None
    external_id: str | None
    default_region: str | None
    allowed_groups: tuple[str, ...] = ()

    def entitles(self, groups: Iterable[str]) -> bool:
        """Whether a caller in ``groups`` may query this account (the kernel's one rule)."""
        return entitled(self.allowed_groups, groups)


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
        self._cache: dict[str, tuple[float, TargetAccount]] = {}
        self._lock = threading.Lock()

    def _dynamodb(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._factory()
            return self._client

    def get(self, account_id: str) -> TargetAccount:
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

    def prefetch(self, account_ids: list[str]) -> dict[str, TargetAccount]:
        """The registered entries (enabled or not) of ``account_ids``, read in as few calls as possible.

        Cached entries are used as they are; the others are read with ``BatchGetItem`` (100 keys a
        call, consistent reads) and cached, so the per-account :meth:`get` that follows reads nothing.
        Malformed and unknown ids are simply absent. A read that fails leaves its ids absent too:
        :meth:`get` then reports the failure for each account.
        """
        found: dict[str, TargetAccount] = {}
        missing: list[str] = []
        now = self._clock()
        for account_id in dict.fromkeys(account_ids):
            if not isinstance(account_id, str) or not _ACCOUNT_ID.match(account_id):
                continue
            hit = self._cache.get(account_id)
            if hit and hit[0] > now:
                found[account_id] = hit[1]
            else:
                missing.append(account_id)
        for start in range(0, len(missing), _BATCH_GET):
            keys = [{"account_id": {"S": a}} for a in missing[start : start + _BATCH_GET]]
            for _ in range(5):
                try:
                    out = self._dynamodb().batch_get_item(
                        RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}}
                    )
                except (ClientError, BotoCoreError):
                    break
                for item in out.get("Responses", {}).get(self._table, []):
                    entry = self._entry(item)
                    self._cache[entry.account_id] = (self._clock() + self._ttl, entry)
                    found[entry.account_id] = entry
                keys = out.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
                if not keys:
                    break
        return found

    def _load(self, account_id: str) -> TargetAccount:
        try:
            item = (
                self._dynamodb()
                .get_item(TableName=self._table, Key={"account_id": {"S": account_id}}, ConsistentRead=True)
                .get("Item")
            )
        except (ClientError, BotoCoreError) as e:
            logger.warning("registry read failed", extra={"account_id": account_id, "error": repr(e)[:300]})
            raise AccountError(
                "The account registry could not be read. Try again; if it persists, check the bridge's role.",
                code="registry_unavailable",
            ) from e
        if not item:
            raise AccountError(
                f"Account {account_id} is not in the CentralOps registry. Check the id or register the account.",
                code="unknown_account",
            )
        return self._entry(item)

    def _entry(self, item: dict[str, Any]) -> TargetAccount:
        entry = AccountItem.from_item({k: _deserialize(v) for k, v in item.items()})
        return TargetAccount(
            account_id=entry.account_id,
            name=entry.name,
            enabled=entry.enabled,
            role_name=entry.role_name or self._default_role,
            write_role_name=entry.write_role_name,
            external_id=entry.external_id or self._default_external_id,
            default_region=entry.default_region,
            allowed_groups=entry.allowed_groups,
        )
