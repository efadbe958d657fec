"""Run one piece of work per account with bounded concurrency and a per-account budget."""

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence


async def fan_out[T](
    account_ids: Sequence[str],
    work: Callable[[str], Awaitable[T]],
    *,
    concurrency: int,
    timeout_s: float,
    on_timeout: Callable[[str, int], T],
) -> list[T]:
    """Run ``work`` for each account, at most ``concurrency`` at once.

    The budget of an account starts when its turn comes, not when the fan-out
    starts, so a long queue never eats into it.

    Args:
        account_ids: The accounts, in the order results are returned.
        work: The per-account coroutine; it reports its own errors as values.
        concurrency: How many accounts run at once.
        timeout_s: Budget of one account.
        on_timeout: Builds the result of an account that ran out of budget (account id, elapsed ms).

    Returns:
        One result per account, in the order of ``account_ids``.
    """
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(account_id: str) -> T:
        async with gate:
            start = time.monotonic()
            try:
                return await asyncio.wait_for(work(account_id), timeout_s)
            except TimeoutError:
                return on_timeout(account_id, int((time.monotonic() - start) * 1000))

    return list(await asyncio.gather(*(one(a) for a in account_ids)))
