"""Replies in an alert's thread: which threads are alert threads, and the alert the agent is told about.

Platform-free like :mod:`bot.alerts.manage`. Every reply in every thread of
every channel the bot is in reaches the bot, so the test is cheap: the edges
drop what is not a person's threaded reply before asking, and here a thread
already known not to be an alert's costs nothing (a per-replica memory of
such threads: a thread's root never becomes an alert message later). Anything
else is one ``Query`` of the alerts table's ``by-thread`` index, which returns
the alert's message record itself, as it is now (state, reason).
"""

import logging
import time
from collections import OrderedDict

from bot.alerts.events import Alert
from bot.alerts.store import AlertStore, Place
from bot.chat import ChatPlace
from centralops import alert_context
from centralops.alert_context import AlertContext
from centralops.errors import CentralOpsError

logger = logging.getLogger(__name__)

REMEMBERED = 4096
"""Threads per replica remembered as not an alert's."""
SETTLING_S = 60.0
"""A thread younger than this is not remembered as not an alert's: the index may not show it yet."""


def _age_s(thread: str, now: float) -> float | None:
    """How old a thread's root is, when its id is a time (Slack ``ts`` in s, Teams message id in ms)."""
    try:
        at = float(thread)
    except ValueError:
        return None
    return now - (at / 1000 if at > 1e11 else at)


def context_of(alert: Alert, account_name: str = "") -> AlertContext | None:
    """What the agent is told about ``alert`` (bounded and typed by the kernel's reader)."""
    metric = next((v for k, v in alert.facts if k == "Metric"), "")
    return alert_context.read(
        {
            "account_id": alert.account_id,
            "account_name": account_name,
            "region": alert.region,
            "kind": alert.kind,
            "title": alert.title,
            "resource": alert.subject,
            "metric": metric,
            "state": alert.state,
            "reason": alert.reason,
            "time": alert.time.isoformat(),
            "queries": [*alert.queries, *alert.sibling_queries],
        }
    )


class AlertThreads:
    """Finds the alert whose message opened a thread.

    Args:
        store: The alerts table.
        remembered: How many non-alert threads this replica remembers.
    """

    def __init__(self, store: AlertStore, *, remembered: int = REMEMBERED) -> None:
        self.store = store
        self.remembered = remembered
        self._plain: OrderedDict[tuple[str, str, str, str], None] = OrderedDict()
        self.lookups = 0  # reads of the table, for the cost tests and the bench

    def known_plain(self, where: ChatPlace) -> bool:
        """Whether ``where``'s thread is already known not to be an alert's (no read needed)."""
        return self._key(where) in self._plain

    def _key(self, where: ChatPlace) -> tuple[str, str, str, str]:
        return (where.platform, where.team, where.channel, where.thread or "")

    def _remember_plain(self, where: ChatPlace) -> None:
        key = self._key(where)
        self._plain[key] = None
        self._plain.move_to_end(key)
        while len(self._plain) > self.remembered:
            self._plain.popitem(last=False)

    async def alert_of(self, where: ChatPlace) -> AlertContext | None:
        """The alert whose message is the root of ``where.thread``; ``None`` for any other thread.

        A failed read is logged and treated as no alert: the reply then gets no answer rather
        than an error in a thread that may not be an alert's at all.
        """
        if not where.thread or where.thread == where.channel or self.known_plain(where):
            return None
        self.lookups += 1
        try:
            record = await self.store.message_in_thread(
                Place(where.platform, where.team, where.channel), where.thread
            )
        except CentralOpsError as e:
            logger.warning("alert thread lookup failed", extra={"channel": where.channel, "code": e.code})
            return None
        if record is None:
            age = _age_s(where.thread, time.time())
            if age is None or age > SETTLING_S:  # the index is updated shortly after a post
                self._remember_plain(where)
            return None
        return context_of(Alert.from_item(record.alert), str(record.alert.get("account_name") or ""))
