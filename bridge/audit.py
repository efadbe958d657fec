"""One audit record per executed or refused command, per account, in the audit table."""

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

logger = logging.getLogger(__name__)
_BATCH = 25


@dataclass(frozen=True)
class AuditRecord:
    """What happened to one command in one account.

    ``outcome`` is ``executed`` (the AWS call answered), ``aws_error`` (the AWS
    call ran and the service refused it), ``refused`` (stopped by the bridge
    before any AWS call) or ``failed`` (credentials, the AWS MCP Server or a
    timeout failed).
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

    def item(self, now: float) -> dict[str, Any]:
        """The DynamoDB item."""
        item: dict[str, Any] = {
            "audit_id": {"S": str(uuid.uuid4())},
            "time": {"S": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")},
            "requester": {"S": self.requester or "unknown"},
            "account_id": {"S": self.account_id or "unknown"},
            "command": {"S": self.command[:4000] or "(empty)"},
            "classification": {"S": self.classification},
            "outcome": {"S": self.outcome},
            "duration_ms": {"N": str(self.duration_ms)},
            "tool": {"S": self.tool},
        }
        for name in ("approval_id", "error_code", "platform", "channel"):
            value = getattr(self, name)
            if value:
                item[name] = {"S": str(value)[:512]}
        return item


class AuditLog:
    """Writes audit records; a failure to write is logged loudly but does not change the caller's result.

    Args:
        table_name: The audit table.
        client_factory: Creates the DynamoDB client on first use.
        clock: Epoch seconds (tests).
    """

    def __init__(
        self, table_name: str, client_factory: Callable[[], Any], *, clock: Callable[[], float] = time.time
    ) -> None:
        self._table = table_name
        self._factory = client_factory
        self._client: Any = None
        self._clock = clock

    def _dynamodb(self) -> Any:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def write(self, records: Sequence[AuditRecord]) -> None:
        """Write the records, in batches of 25."""
        items = [{"PutRequest": {"Item": r.item(self._clock())}} for r in records]
        for start in range(0, len(items), _BATCH):
            batch = items[start : start + _BATCH]
            try:
                for _ in range(5):
                    out = self._dynamodb().batch_write_item(RequestItems={self._table: batch})
                    batch = out.get("UnprocessedItems", {}).get(self._table, [])
                    if not batch:
                        break
                    time.sleep(0.05)
                if batch:
                    logger.error(
                        "audit records left unwritten", extra={"count": len(batch), "table": self._table}
                    )
            except (ClientError, BotoCoreError):
                logger.exception("audit write failed", extra={"count": len(batch), "table": self._table})
