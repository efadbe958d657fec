"""Pacing: spaced calls, and the throttle built on them (the newest state wins, nothing lost at the end)."""

import asyncio

from bot.pacing import Pacer, Throttle


async def test_many_pokes_inside_one_interval_make_one_write_now_and_one_final_write() -> None:
    states: list[int] = []
    current = 0

    async def flush() -> None:
        states.append(current)

    now = [100.0]  # a still clock: however slowly a loaded machine runs the loop, every poke is inside
    throttle = Throttle(0.05, flush, clock=lambda: now[0])
    for current in range(1, 11):  # noqa: B007 - flush reads the loop variable
        await throttle.poke()
    await throttle.close()

    assert states == [1, 10], "the first state at once, then only the newest"


async def test_a_delayed_write_shows_the_state_of_its_time() -> None:
    states: list[str] = []
    state = "first"

    async def flush() -> None:
        states.append(state)

    throttle = Throttle(0.05, flush)
    await throttle.poke()
    state = "second"
    await throttle.poke()  # inside the interval: scheduled
    for _ in range(3000):  # until the scheduled write happened
        if throttle.flushes == 2:
            break
        await asyncio.sleep(0.01)
    state = "final"
    await throttle.close()

    assert states == ["first", "second", "final"]
    assert throttle.flushes == 3


def test_a_pacer_lets_the_first_call_go_and_spaces_the_next_by_its_interval() -> None:
    now = [100.0]
    pacer = Pacer(1.3, clock=lambda: now[0])
    assert pacer.wait_s() == 0.0

    pacer.spent()
    now[0] += 0.5

    assert abs(pacer.wait_s() - 0.8) < 1e-9
    now[0] += 2.0
    assert pacer.wait_s() == 0.0
