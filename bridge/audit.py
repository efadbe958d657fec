"""Audit records in the audit table: an intent before a command runs in an account, its outcome after.

A record's ``status`` says where it stands:

- ``intent``: written before the AWS call; the command may be running, or the
  bridge died before it could say how it ended. Such an item also carries
  ``pending_account`` (the account id), the key of the sparse index
  ``pending``, so admins can list them (``python -m bridge.reconcile``);
- ``done``: the bridge wrote the outcome (the same ``audit_id``, put over the
  intent, so the index entry goes away);
- ``reconciled``: an admin closed an intent the bridge never completed.
"""

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

logger = logging.getLogger(__name__)
BATCH = 25  # BatchWriteItem's limit
RETRY_DELAYS_S = (0.05, 0.1, 0.2, 0.4, 0.8)  # unprocessed items: DynamoDB asks to back off

INTENT = "intent"
DONE = "done"
RECONCILED = "reconciled"
PENDING_KEY = "pending_account"  # only on intents: the sparse index holds exactly the open ones
PENDING_INDEX = "pending"


def iso(epoch: float) -> str:
    """Epoch seconds as the table's ISO 8601 UTC time (milliseconds)."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class AuditRecord:
    """What happened (or is about to happen) to one command in one account.

    ``outcome`` is ``executed`` (the AWS call answered), ``aws_error`` (the AWS
    call ran and the service refused it), ``refused`` (stopped by the bridge
    before any AWS call) or ``failed`` (credentials, the AWS MCP Server or a
    timeout failed); empty on an intent.
    """

    requester: str
    account_id: str
    command: str
    classification: str
    outcome: str
    duration_ms: int
    tool: str
    approval_id: str | None = None
    error_code: str | None = None
    platform: str | None = None
    channel: str | None = None
    audit_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    at: float | None = None  # when the command was about to run (its intent); None: when written

    def _common(self, now: float) -> dict[str, Any]:
        item: dict[str, Any] = {
            "audit_id": {"S": self.audit_id},
            "time": {"S": iso(self.at if self.at is not None else now)},
            "requester": {"S": self.requester or "unknown"},
            "account_id": {"S": self.account_id or "unknown"},
            "command": {"S": self.command[:4000] or "(empty)"},
            "classification": {"S": self.classification},
            "tool": {"S": self.tool},
        }
        for name in ("approval_id", "platform", "channel"):
            value = getattr(self, name)
            if value:
                item[name] = {"S": str(value)[:512]}
        return item

    def item(self, now: float) -> dict[str, Any]:
        """The completed DynamoDB item (``status`` ``done``)."""
        item = self._common(now)
        item.update(status={"S": DONE}, outcome={"S": self.outcome}, duration_ms={"N": str(self.duration_ms)})
        if self.error_code:
            item["error_code"] = {"S": str(self.error_code)[:512]}
        return item

    def intent_item(self, now: float) -> dict[str, Any]:
        """The intent's DynamoDB item: no outcome yet, listed by the ``pending`` index."""
        item = self._common(now)
        item.update(status={"S": INTENT}, **{PENDING_KEY: {"S": self.account_id or "unknown"}})
        return item


class AuditLog:
    """Writes audit records with ``BatchWriteItem``, 25 per request, retrying unprocessed items.

    Args:
        table_name: The audit table.
        client_factory: Creates the DynamoDB client on first use.
        clock: Epoch seconds (tests).
        sleep: Waits between retries of unprocessed items (tests).
    """

    def __init__(
        self,
        table_name: str,
        client_factory: Callable[[], Any],
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table_name
        self._factory = client_factory
        self._client: Any = None
        self._clock = clock
        self._sleep = sleep

    def _dynamodb(self) -> Any:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def now(self) -> float:
        """The audit's clock (epoch seconds)."""
        return self._clock()

    def put(self, records: Sequence[AuditRecord], *, intent: bool = False) -> list[AuditRecord]:
        """Write intents (``intent=True``) or completed records; return those left unwritten.

        Never raises: a record is unwritten when DynamoDB refused the request or still returned
        it as unprocessed after the retries. Each failure is logged.
        """
        now = self._clock()
        left: list[AuditRecord] = []
        for start in range(0, len(records), BATCH):
            chunk = records[start : start + BATCH]
            by_id = {r.audit_id: r for r in chunk}
            items = [{"PutRequest": {"Item": r.intent_item(now) if intent else r.item(now)}} for r in chunk]
            refused = False
            try:
                for delay in (*RETRY_DELAYS_S, None):
                    out = self._dynamodb().batch_write_item(RequestItems={self._table: items})
                    items = out.get("UnprocessedItems", {}).get(self._table, [])
                    if not items or delay is None:
                        break
                    self._sleep(delay)
            except (ClientError, BotoCoreError):
                refused = True
                logger.exception(
                    "audit write failed", extra={"count": len(items), "table": self._table, "intent": intent}
                )
            if items:
                left.extend(by_id[i["PutRequest"]["Item"]["audit_id"]["S"]] for i in items)
                if not refused:  # the refusal was logged with its cause above
                    logger.error(
                        "audit records left unwritten",
                        extra={"count": len(items), "table": self._table, "intent": intent},
                    )
        return left

    def write(self, records: Sequence[AuditRecord]) -> None:
        """Write completed records (refusals: nothing ran); a failure is logged."""
        self.put(records)

    def settled(self, records: Sequence[AuditRecord]) -> None:
        """Every record of one tool call is final (already written); metering wraps this."""
