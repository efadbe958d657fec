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
    budget_s: float | None = None,
    on_budget: Callable[[str, int], T] | None = None,
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
        budget_s: Budget of the whole fan-out; an account still waiting or running when it is spent
            gets ``on_budget``'s result instead.
        on_budget: Builds the result of an account cut by the whole budget (account id, elapsed ms).

    Returns:
        One result per account, in the order of ``account_ids``.
    """
    gate = asyncio.Semaphore(max(1, concurrency))
    deadline = time.monotonic() + budget_s if budget_s is not None else None

    async def one(account_id: str) -> T:
        async with gate:
            start = time.monotonic()
            left = deadline - start if deadline is not None else timeout_s
            if left <= 0 and on_budget is not None:
                return on_budget(account_id, 0)
            try:
                return await asyncio.wait_for(work(account_id), min(timeout_s, max(left, 0.0)))
            except TimeoutError:
                ms = int((time.monotonic() - start) * 1000)
                if left < timeout_s and on_budget is not None:
                    return on_budget(account_id, ms)
                return on_timeout(account_id, ms)

    return list(await asyncio.gather(*(one(a) for a in account_ids)))
