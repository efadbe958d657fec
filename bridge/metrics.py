"""The bridge's CloudWatch metrics, derived from the audit records of each tool call.

The audit already says what happened to every account a call named (refused,
executed, failed, how long it took), so the metrics are computed from it and
can never disagree with it. :class:`MeteredAuditLog` wraps the audit log.
"""

import logging
from collections.abc import Sequence
from typing import Protocol

from bridge.audit import AuditRecord
from centralops import metrics

logger = logging.getLogger(__name__)
SERVICE = "bridge"


class _Audit(Protocol):
    def write(self, records: Sequence[AuditRecord]) -> None: ...

    def put(self, records: Sequence[AuditRecord], *, intent: bool = False) -> list[AuditRecord]: ...

    def settled(self, records: Sequence[AuditRecord]) -> None: ...

    def now(self) -> float: ...


def observe(records: Sequence[AuditRecord]) -> None:
    """Emit the metrics of one tool call from its audit records (one per account it named)."""
    if not records:
        return
    refused = [r for r in records if r.outcome == "refused"]
    counts: dict[str, tuple[metrics.Unit, float]] = {metrics.QUERIES: ("Count", 1)}
    if refused and refused[0].error_code == "approval_required":
        counts[metrics.APPROVALS_REQUESTED] = ("Count", 1)
    ran = [r for r in records if r.outcome != "refused"]
    if any(r.approval_id and r.classification == "mutating" for r in ran):
        counts[metrics.APPROVALS_CONSUMED] = ("Count", 1)
    metrics.emit(SERVICE, counts)
    if refused:
        code = refused[0].error_code or "unknown"
        metrics.emit(SERVICE, {metrics.REFUSALS: ("Count", 1)}, {metrics.CODE: code})
    for record in ran:
        metrics.emit(
            SERVICE,
            {
                metrics.ACCOUNT_LATENCY: ("Milliseconds", record.duration_ms),
                metrics.ACCOUNT_ERRORS: ("Count", 0 if record.outcome == "executed" else 1),
            },
            {metrics.ACCOUNT: record.account_id},
        )


class MeteredAuditLog:
    """An audit log that also emits each call's metrics (see :func:`observe`).

    Args:
        inner: The audit log that stores the records.
    """

    def __init__(self, inner: _Audit) -> None:
        self.inner = inner

    def write(self, records: Sequence[AuditRecord]) -> None:
        """Emit the metrics of a refused call, then store its records."""
        self._observe(records)
        self.inner.write(records)

    def put(self, records: Sequence[AuditRecord], *, intent: bool = False) -> list[AuditRecord]:
        """Store intents or outcomes (the write-ahead's batches); metered once the call settles."""
        return self.inner.put(records, intent=intent)

    def settled(self, records: Sequence[AuditRecord]) -> None:
        """Emit the metrics of a call whose records are all final."""
        self._observe(records)
        self.inner.settled(records)

    def now(self) -> float:
        """The inner log's clock."""
        return self.inner.now()

    @staticmethod
    def _observe(records: Sequence[AuditRecord]) -> None:
        try:  # a metrics failure never touches the result
            observe(records)
        except Exception:
            logger.exception("metrics not emitted", extra={"records": len(records)})
