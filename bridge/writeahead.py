"""Write-ahead audit of one tool call: every intent before the fan-out, outcomes in batches as they arrive.

A command runs in an account only once its intent is stored. Intents go out in
``BatchWriteItem`` requests of 25, a few at once, in the call's order. A
read-only call starts each account as soon as its own batch is stored
(``start`` then ``ready``), so the first accounts' requests are on their way
while the later intents are written; a change waits for every intent
(``begin``: it runs in all its accounts or none). Outcomes are put over their
intents 25 at a time as results come in, and at the latest ``flush_after_s``
after one arrives, never before the intents are stored, so a slow account
never holds back the record of the others and a bridge that dies mid-run
leaves intents only where it did not finish.
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from bridge.audit import BATCH, AuditRecord

logger = logging.getLogger(__name__)


class AuditStore(Protocol):
    """What the write-ahead needs of the audit log (``bridge.audit.AuditLog`` or its metered wrapper)."""

    def put(self, records: Sequence[AuditRecord], *, intent: bool = False) -> list[AuditRecord]: ...

    def now(self) -> float: ...


class WriteAhead:
    """The audit of one call's accounts.

    Args:
        audit: Where records go.
        intents: One intent per account (outcome empty), in the call's order.
        parallel: Intent batches written at once.
        flush_after_s: Longest wait of a finished account's outcome for 24 others to share its request.
    """

    def __init__(
        self,
        audit: AuditStore,
        intents: Sequence[AuditRecord],
        *,
        parallel: int = 4,
        flush_after_s: float = 0.5,
    ) -> None:
        self._audit = audit
        now = audit.now()
        self._intents = {r.account_id: replace(r, at=now) for r in intents}
        self._parallel = max(1, parallel)
        self._flush_after_s = flush_after_s
        self._final: dict[str, AuditRecord] = {}
        self._buffer: list[AuditRecord] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writes: list[asyncio.Future[list[AuditRecord]]] = []
        self._chunks: list[list[AuditRecord]] = []
        self._stored: dict[str, asyncio.Task[set[str]]] = {}  # account -> its intent batch (unwritten ids)
        self._all_stored: asyncio.Future[list[set[str]]] | None = None

    def start(self) -> None:
        """Start storing every intent, batch by batch in the call's order (idempotent)."""
        if self._all_stored is not None:
            return
        records = list(self._intents.values())
        gate = asyncio.Semaphore(self._parallel)

        async def batch(chunk: list[AuditRecord]) -> set[str]:
            async with gate:
                try:
                    left = await asyncio.to_thread(self._audit.put, chunk, intent=True)
                except Exception as e:  # put() never raises; a bug must still not let the command run
                    return {r.account_id for r in _unwritten(chunk, e)}
            return {r.account_id for r in left}

        loop = asyncio.get_running_loop()
        tasks = []
        for i in range(0, len(records), BATCH):
            chunk = records[i : i + BATCH]
            task = loop.create_task(batch(chunk))
            tasks.append(task)
            self._stored.update((r.account_id, task) for r in chunk)
        self._all_stored = asyncio.gather(*tasks)

    async def ready(self, account_id: str) -> bool:
        """Wait for this account's intent batch; ``False`` when its intent could not be stored."""
        self.start()
        task = self._stored.get(account_id)
        if task is None:
            return False
        return account_id not in await asyncio.shield(task)

    async def begin(self) -> set[str]:
        """Store every intent; return the accounts whose intent could not be stored (they must not run)."""
        self.start()
        assert self._all_stored is not None  # noqa: S101 - set by start()
        return set().union(*await asyncio.shield(self._all_stored))

    def complete(
        self, account_id: str, outcome: str, duration_ms: int, error_code: str | None
    ) -> AuditRecord | None:
        """Record how the command ended in one account (the first word on an account counts)."""
        intent = self._intents.get(account_id)
        if intent is None or account_id in self._final:
            return None
        record = replace(intent, outcome=outcome, duration_ms=duration_ms, error_code=error_code)
        self._final[account_id] = record
        self._buffer.append(record)
        if len(self._buffer) >= BATCH:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._flush_after_s, self._flush)
        return record

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._buffer:
            chunk, self._buffer = self._buffer[:BATCH], self._buffer[BATCH:]
            self._chunks.append(chunk)
            self._writes.append(asyncio.ensure_future(self._put_outcomes(chunk)))

    async def _put_outcomes(self, chunk: list[AuditRecord]) -> list[AuditRecord]:
        # An outcome put before its intent would be overwritten by it, leaving the intent open.
        if self._all_stored is not None:
            await asyncio.shield(self._all_stored)
        return await asyncio.to_thread(self._audit.put, chunk)

    async def close(self) -> list[AuditRecord]:
        """Write what is still buffered, wait for every write; return the final records in call order.

        An outcome that could not be written leaves its intent open for reconciliation (logged); the
        person still gets the result, because the command has run.
        """
        self._flush()
        if self._all_stored is not None:
            await asyncio.shield(self._all_stored)
        outs = await asyncio.gather(*self._writes, return_exceptions=True)
        left = [r for chunk, out in zip(self._chunks, outs, strict=True) for r in _unwritten(chunk, out)]
        if left:
            logger.error(
                "audit outcomes unwritten; their intents stay open for reconciliation",
                extra={"count": len(left), "audit_ids": [r.audit_id for r in left][:25]},
            )
        return [self._final[a] for a in self._intents if a in self._final]


def _unwritten(chunk: list[AuditRecord], out: list[AuditRecord] | BaseException) -> list[AuditRecord]:
    """The records of one write left unwritten; all of them when the write itself failed."""
    if isinstance(out, BaseException):
        logger.error("audit write failed unexpectedly", exc_info=out, extra={"count": len(chunk)})
        return chunk
    return out
