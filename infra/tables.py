"""Key schemas of the DynamoDB tables, shared by the CDK stacks and the local stack.

Item shapes are documented in ``docs/ARCHITECTURE.md``.
"""

from dataclasses import dataclass
from typing import Any

from centralops import settings


@dataclass(frozen=True)
class TableSpec:
    """One table: its logical name, partition key, setting and optional index and TTL attribute.

    The index is keyed by ``index_key`` (and ``index_sort_key`` when set), both strings, and projects
    every attribute; it is sparse when only some items carry ``index_key``.
    """

    logical_name: str
    partition_key: str
    setting: str
    ttl_attribute: str | None = None
    index_name: str | None = None
    index_key: str | None = None
    index_sort_key: str | None = None


ACCOUNTS = TableSpec(
    "accounts", "account_id", settings.ACCOUNTS_TABLE, index_name="by-environment", index_key="environment"
)
IDENTITY_LINKS = TableSpec("identity-links", "link_id", settings.IDENTITY_LINKS_TABLE)
OAUTH_STATES = TableSpec("oauth-states", "state", settings.OAUTH_STATES_TABLE, ttl_attribute="ttl")
APPROVALS = TableSpec("approvals", "approval_id", settings.APPROVALS_TABLE, ttl_attribute="ttl")
# Sparse: only open intents carry pending_account (bridge/audit.py), so the index lists exactly them.
AUDIT = TableSpec(
    "audit",
    "audit_id",
    settings.AUDIT_TABLE,
    index_name="pending",
    index_key="pending_account",
    index_sort_key="time",
)
IDEMPOTENCY = TableSpec("idempotency", "key", settings.IDEMPOTENCY_TABLE, ttl_attribute="ttl")
# Index "undelivered" is sparse: only items still carrying `pending` (removed on delivery) are in it.
OUTBOX = TableSpec(
    "outbox",
    "answer_id",
    settings.OUTBOX_TABLE,
    ttl_attribute="ttl",
    index_name="undelivered",
    index_key="pending",
)
MEMORY = TableSpec("memory", "thread_id", settings.MEMORY_TABLE, ttl_attribute="ttl")
# Index "by-thread" is sparse: only alert messages already shown carry `thread` (bot/alerts/store.py).
ALERTS = TableSpec(
    "alerts", "key", settings.ALERTS_TABLE, ttl_attribute="ttl", index_name="by-thread", index_key="thread"
)

ALL_TABLES = (ACCOUNTS, IDENTITY_LINKS, OAUTH_STATES, APPROVALS, AUDIT, IDEMPOTENCY, MEMORY, ALERTS, OUTBOX)


def index_definition(spec: TableSpec) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """The DynamoDB API's ``AttributeDefinitions`` and ``GlobalSecondaryIndexes`` of ``spec``."""
    attrs = [{"AttributeName": spec.partition_key, "AttributeType": "S"}]
    if not (spec.index_name and spec.index_key):
        return attrs, []
    keys = [{"AttributeName": spec.index_key, "KeyType": "HASH"}]
    if spec.index_sort_key:
        keys.append({"AttributeName": spec.index_sort_key, "KeyType": "RANGE"})
    attrs += [{"AttributeName": k["AttributeName"], "AttributeType": "S"} for k in keys]
    index = {"IndexName": spec.index_name, "KeySchema": keys, "Projection": {"ProjectionType": "ALL"}}
    return attrs, [index]


def table_name(spec: TableSpec, prefix: str = "centralops") -> str:
    """The physical table name for a deployment prefix (``centralops-accounts``)."""
    return f"{prefix}-{spec.logical_name}"
