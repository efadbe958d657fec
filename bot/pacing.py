"""Pacing of one answer's writes to a chat platform, the same primitive on every platform.

:class:`Pacer` spaces calls at least an interval apart; :class:`Throttle` builds on it to
coalesce state changes into spaced writes (the newest state wins, nothing is lost at the end).
Slack paces its Web API calls with a :class:`Pacer`, Teams its channel-message updates with a
:class:`Throttle`.
"""

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable


class Pacer:
    """Spaces calls at least ``interval_s`` apart.

    Args:
        interval_s: Shortest gap between two calls.
        clock: Monotonic seconds.
    """

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._last: float | None = None

    def wait_s(self) -> float:
        """How long until the next call may go (0 when it may go now)."""
        return 0.0 if self._last is None else max(0.0, self._last + self.interval_s - self._clock())

    def spent(self) -> None:
        """A call went now: the next one waits a whole interval."""
        self._last = self._clock()


class Throttle:
    """Coalesces pokes into flushes spaced at least ``interval_s`` apart.

    A poke inside the interval schedules one delayed flush; more pokes before it
    runs only make it show newer state. :meth:`close` cancels the pending flush
    and flushes the final state at once.

    Args:
        interval_s: Shortest gap between two flushes.
        flush: Writes the current state (one platform call).
        clock: Monotonic seconds.
    """

    def __init__(
        self,
        interval_s: float,
        flush: Callable[[], Awaitable[None]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s = interval_s
        self._flush = flush
        self._pacer = Pacer(interval_s, clock)
        self._pending: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.flushes = 0

    async def poke(self) -> None:
        """The state changed: flush now if allowed, otherwise once the interval is over."""
        if self._pending is not None and not self._pending.done():
            return
        wait = self._pacer.wait_s()
        if wait <= 0:
            await self._run()
        else:
            self._pending = asyncio.create_task(self._later(wait))

    async def close(self) -> None:
        """Flush the final state, respecting the interval, and stop."""
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pending
        wait = self._pacer.wait_s()
        if wait > 0:
            await asyncio.sleep(wait)
        await self._run()

    async def _later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        await self._run()

    async def _run(self) -> None:
        async with self._lock:
            self._pacer.spent()  # a poke during the write waits too
            self.flushes += 1
            try:
                await self._flush()
            finally:
                self._pacer.spent()  # counted from the write's end: the platform sees writes an interval apart
