"""Proactive turns: Teams' turn ends in seconds, the answer keeps going in the background.

Teams gives a bot about 15 seconds to answer an incoming request. The edge
acknowledges at once and continues through the adapter's
``continue_conversation_with_claims`` — the SDK's proactive path, with a
connector client of its own. A :class:`ProactiveTurn` holds that proactive
turn open while the core streams into it and closes it when the answer is done.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from microsoft_agents.activity import Activity
from microsoft_agents.hosting.core import ChannelServiceAdapter, ClaimsIdentity, TurnContext

from bot.teams.patient import DEADLINE_S, make_patient

logger = logging.getLogger(__name__)


class ProactiveTurn:
    """One proactive turn, opened on first use and held until :meth:`close`.

    Args:
        adapter: The adapter that received the original activity.
        claims: The claims of the original request (anonymous locally).
        activity: The continuation activity (see ``activities.continuation``).
        retry_s: How long each write of the turn retries Connector refusals (:mod:`bot.teams.patient`).
    """

    def __init__(
        self,
        adapter: ChannelServiceAdapter,
        claims: ClaimsIdentity,
        activity: Activity,
        retry_s: float = DEADLINE_S,
    ) -> None:
        self._adapter = adapter
        self._retry_s = retry_s
        self._claims = claims
        self._activity = activity
        self._context: asyncio.Future[TurnContext] | None = None
        self._release = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None

    async def context(self) -> TurnContext:
        """The proactive turn's context, opening the turn the first time."""
        if self._context is None:
            loop = asyncio.get_running_loop()
            self._context = loop.create_future()
            self._task = asyncio.create_task(self._hold())
        return await asyncio.shield(self._context)

    async def _hold(self) -> None:
        assert self._context is not None  # noqa: S101 - set before the task starts

        async def callback(context: TurnContext) -> None:
            if not self._context.done():  # type: ignore[union-attr]
                make_patient(context, deadline_s=self._retry_s)
                self._context.set_result(context)  # type: ignore[union-attr]
            await self._release.wait()

        try:
            await self._adapter.continue_conversation_with_claims(self._claims, self._activity, callback)
        except Exception as e:  # the SDK raises plain exceptions for connector failures
            logger.warning("proactive turn failed", extra={"error": type(e).__name__})
            if not self._context.done():
                self._context.set_exception(e)
            raise

    async def close(self) -> None:
        """Let the turn end (its connector client is closed by the SDK)."""
        self._release.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task


class Background:
    """The edge's background work, so shutdown can wait for answers in flight.

    Args:
        adapter: The adapter whose proactive turns the work uses.
        retry_s: How long each Connector write retries refusals before the outbox takes over.
    """

    def __init__(self, adapter: ChannelServiceAdapter, retry_s: float = DEADLINE_S) -> None:
        self.adapter = adapter
        self.retry_s = retry_s
        self._tasks: set[asyncio.Task[None]] = set()

    def run(self, claims: ClaimsIdentity, work: Callable[["Turns"], Awaitable[None]], what: str) -> None:
        """Start ``work`` with a fresh set of proactive turns it may open."""

        async def wrapped() -> None:
            turns = Turns(self.adapter, claims, retry_s=self.retry_s)
            try:
                await work(turns)
            except Exception:
                logger.exception("teams background work failed", extra={"work": what})
            finally:
                await turns.close()

        task = asyncio.create_task(wrapped())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout_s: float | None = None) -> None:
        """Wait until every answer in flight has been delivered."""
        while self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)
            if timeout_s is not None:
                return

    async def cancel(self) -> None:
        """Stop everything (server shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class Turns:
    """The proactive turns one piece of background work opened; all closed together."""

    def __init__(
        self, adapter: ChannelServiceAdapter, claims: ClaimsIdentity, retry_s: float = DEADLINE_S
    ) -> None:
        self.adapter = adapter
        self.claims = claims
        self.retry_s = retry_s
        self._open: list[ProactiveTurn] = []
        self._cleanups: list[Callable[[], None]] = []

    def on_close(self, cleanup: Callable[[], None]) -> None:
        """Run ``cleanup`` when the work ends, however it ends."""
        self._cleanups.append(cleanup)

    def turn(self, activity: Activity) -> ProactiveTurn:
        """A new proactive turn into the conversation of ``activity``."""
        turn = ProactiveTurn(self.adapter, self.claims, activity, self.retry_s)
        self._open.append(turn)
        return turn

    async def close(self) -> None:
        """Close every turn opened."""
        for cleanup in self._cleanups:
            cleanup()
        for turn in self._open:
            await turn.close()
