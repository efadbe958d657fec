"""Backpressure people can see: a bounded queue of answers per replica.

At most ``running`` answers run at once on a replica. The next ``queued`` wait
in order, and each person is told at once where they stand ("queued at
position N"). Past that, the request is refused at once with "try again in a
minute", and nothing runs. Waiting is cheap (a future), so a burst never turns
into answers minutes late with no word to anyone.
"""

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

logger = logging.getLogger(__name__)

BUSY_QUEUED = (
    "CentralOps is busy: your request is queued at position {n} and starts as soon as a place frees up."
)
BUSY_FULL = "CentralOps is too busy to take this request now. Nothing was run: try again in a minute."


class Admission:
    """The answers one replica runs and queues.

    Args:
        running: Answers running at once.
        queued: Answers waiting at most; more are refused.
    """

    def __init__(self, *, running: int = 16, queued: int = 64) -> None:
        self.running_limit = running
        self.queue_limit = queued
        self.running = 0
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self.refused = 0
        self.peak_queue = 0

    @property
    def queued(self) -> int:
        """Answers waiting now."""
        return len(self._waiting)

    async def enter(self, on_queued: Callable[[int], Awaitable[None]]) -> bool:
        """Take a place, waiting in line if needed; ``False`` when the line is full (nothing may run).

        Args:
            on_queued: Told the position (1 = next) at once when the request has to wait.
        """
        if self.running < self.running_limit and not self._waiting:
            self.running += 1
            return True
        if len(self._waiting) >= self.queue_limit:
            self.refused += 1
            logger.warning(
                "answer refused: queue full", extra={"running": self.running, "queued": self.queued}
            )
            return False
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        self.peak_queue = max(self.peak_queue, len(self._waiting))
        position = len(self._waiting)
        logger.info("answer queued", extra={"position": position, "running": self.running})
        try:
            await on_queued(position)
            await turn  # the place is handed over by leave(): running stays counted
        except BaseException:
            if turn in self._waiting:
                self._waiting.remove(turn)
            elif turn.done() and not turn.cancelled():
                self.leave()  # handed a place, then gone: pass it on
            raise
        return True

    def leave(self) -> None:
        """Give the place back: to the first in line, else free it."""
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.running -= 1


ADMISSION_KEY: web.AppKey[Admission] = web.AppKey("centralops_admission")
"""The replica's one queue, shared by its Slack and Teams edges."""
