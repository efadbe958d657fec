"""The bounded queue of answers per replica: positions told at once, refusal past the limit, order kept."""

import asyncio

import pytest

from bot.admission import BUSY_FULL, BUSY_QUEUED, Admission
from centralops import events
from tests.fixtures.slack_stack import CHANNEL, SlackStack
from tests.fixtures.slack_stack import slack as slack
from tests.fixtures.slack_stack import slack_cognito as slack_cognito
from tests.fixtures.waits import until


async def test_places_are_handed_over_in_order_and_the_line_is_bounded() -> None:
    admission = Admission(running=1, queued=2)
    told: list[int] = []

    async def tell(n: int) -> None:
        told.append(n)

    assert await admission.enter(tell)
    second = asyncio.create_task(admission.enter(tell))
    third = asyncio.create_task(admission.enter(tell))
    await asyncio.sleep(0)
    assert told == [1, 2] and admission.queued == 2
    assert not await admission.enter(tell)  # the line is full: refused at once
    assert admission.refused == 1
    admission.leave()
    assert await second and not third.done()
    admission.leave()
    assert await third
    admission.leave()
    assert admission.running == 0 and admission.queued == 0


async def test_a_cancelled_waiter_leaves_the_line() -> None:
    admission = Admission(running=1, queued=5)

    async def tell(_: int) -> None:
        return None

    assert await admission.enter(tell)
    waiting = asyncio.create_task(admission.enter(tell))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert admission.queued == 0
    admission.leave()
    assert admission.running == 0


async def test_a_busy_replica_says_where_each_request_stands_and_runs_nothing_past_the_limit(
    slack: SlackStack,
) -> None:
    slack.console.bot_url = await slack.add_bot(max_answers=1, max_queued=1)
    full = asyncio.Event()  # the first answer holds its place until the line is full
    slack.runtime.script("slow", [events.text("slow done"), full, events.done("s")])
    slack.runtime.script("second", [events.text("second done"), events.done("s")])
    slack.runtime.script("third", [events.text("third done"), events.done("s")])
    first = asyncio.create_task(slack.console.slash("alice", "slow", CHANNEL))
    await until(lambda: slack.runtime.invocations)  # the first answer runs
    second = asyncio.create_task(slack.console.slash("bob", "second", CHANNEL))
    queued = BUSY_QUEUED.format(n=1)
    await until(lambda: queued in str(slack.stand_in.messages.get(CHANNEL)) + str(slack.stand_in.ephemeral))
    third = await slack.console.slash("dave", "third", CHANNEL)
    assert BUSY_FULL in third.render()
    full.set()
    assert "Try again" not in BUSY_FULL and "try again in a minute" in BUSY_FULL
    done_first, done_second = await first, await second
    assert "slow done" in done_first.render()
    assert BUSY_QUEUED.format(n=1) in done_second.render()  # told at once, before its answer
    for _ in range(200):  # then its answer follows, once the first one is done
        if "second done" in str(slack.stand_in.messages.get(CHANNEL)):
            break
        await asyncio.sleep(0.05)
    assert "second done" in str(slack.stand_in.messages.get(CHANNEL))
    prompts = [i.body["prompt"] for i in slack.runtime.invocations]
    assert "third" not in prompts  # nothing ran for the refused request
