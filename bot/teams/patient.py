"""Bot Connector writes that keep trying: sends, updates and deletes wait out 429 and 503.

The Microsoft 365 Agents SDK raises ``aiohttp.ClientResponseError`` at the first
refusal of the Bot Connector and does not retry. :func:`make_patient` registers
TurnContext hooks on a turn so that each write the Connector refused without
applying it (HTTP 429, 502, 503) is sent again after ``Retry-After`` (or a short
backoff, doubling up to 10 s) until a deadline; every other error passes through
at once. A streaming update (``typing``) still refused at the deadline is skipped
rather than raised: the next update and the final message carry its text, and a
raised one would leave the SDK's stream queue stuck. The streaming response of a 1:1 chat sends through the same turn, so
its updates and final message wait too (each streaming update carries the whole
text so far, so a repeated one never shows text twice).

A write still refused at the deadline raises as before: the renderer then leaves
the answer to the outbox (:mod:`bot.teams.outbox`), which delivers it later.

Every 429 the Connector answers counts once in the bot's ``ChatThrottled``
metric (platform ``teams``), each retry's too (:func:`bot.metrics.throttled`).
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from microsoft_agents.activity import ResourceResponse
from microsoft_agents.hosting.core import TurnContext

from bot import metrics

logger = logging.getLogger(__name__)

DEADLINE_S = 120.0
"""How long one write keeps trying before the outbox takes over (the Slack writes' deadline too)."""
THROTTLED = 429
REFUSED = frozenset({THROTTLED, 502, 503})
"""Statuses by which the Connector says it did not take the write (a repeat cannot show it twice)."""


def refused(error: BaseException) -> bool:
    """Whether the Connector refused the write without applying it (a retry may succeed)."""
    return isinstance(error, aiohttp.ClientResponseError) and error.status in REFUSED


def retry_after(error: aiohttp.ClientResponseError, fallback: float) -> float:
    """Seconds the Connector asked to wait (``Retry-After`` in seconds), else ``fallback``."""
    raw = error.headers.get("Retry-After") if error.headers is not None else None
    try:
        return min(max(float(raw), 0.0), 60.0) if raw is not None else fallback
    except (TypeError, ValueError):
        return fallback


async def patiently[T](
    call: Callable[[], Awaitable[T]], what: str, *, deadline_s: float, backoff_s: float = 0.5
) -> T:
    """``call()``, repeated after each refusal until ``deadline_s`` seconds have passed.

    Raises:
        aiohttp.ClientResponseError: Refused for good, or still refused at the deadline.
    """
    give_up = time.monotonic() + deadline_s
    wait = backoff_s
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except aiohttp.ClientResponseError as e:
            if not refused(e):
                raise
            if e.status == THROTTLED:
                metrics.throttled("teams")
            pause = retry_after(e, wait)
            if time.monotonic() + pause > give_up:
                logger.warning(
                    "teams write gave up", extra={"method": what, "attempts": attempt, "status": e.status}
                )
                raise
            logger.info(
                "teams write refused; trying again",
                extra={"method": what, "attempt": attempt, "status": e.status, "wait_s": pause},
            )
            await asyncio.sleep(pause)
            wait = min(wait * 2, 10.0)


def is_patient(context: TurnContext) -> bool:
    """Whether :func:`make_patient` made ``context``'s writes retry (and count their 429s)."""
    return bool(getattr(context, "_centralops_patient", False))


def make_patient(context: TurnContext, *, deadline_s: float = DEADLINE_S) -> TurnContext:
    """Make every write of ``context`` retry refusals until ``deadline_s`` (idempotent per context)."""
    if is_patient(context):
        return context

    async def on_send(_ctx: TurnContext, activities: list[Any], call: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await patiently(call, "send", deadline_s=deadline_s)
        except aiohttp.ClientResponseError as e:
            if not (refused(e) and activities and all(a.type == "typing" for a in activities)):
                raise
            # A streaming update carries the whole text so far and the final message carries all of it:
            # one refused past the deadline is skipped, so the SDK's stream is not left stuck by it.
            logger.warning("teams streaming update skipped", extra={"status": e.status})
            return [ResourceResponse() for _ in activities]

    async def on_update(_ctx: TurnContext, _activity: Any, call: Callable[[], Awaitable[Any]]) -> Any:
        return await patiently(call, "update", deadline_s=deadline_s)

    async def on_delete(_ctx: TurnContext, _reference: Any, call: Callable[[], Awaitable[Any]]) -> Any:
        return await patiently(call, "delete", deadline_s=deadline_s)

    context.on_send_activities(on_send)
    context.on_update_activity(on_update)
    context.on_delete_activity(on_delete)
    context._centralops_patient = True  # type: ignore[attr-defined]
    return context
