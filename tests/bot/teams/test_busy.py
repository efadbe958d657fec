"""Teams shares the replica's bounded queue: a waiting person is told their position, past the limit
they are told to try again in a minute and nothing reaches the agent."""

import asyncio

from bot.admission import BUSY_FULL, BUSY_QUEUED, Admission
from centralops import events
from tests.fixtures.teams_fakes import TeamsStack


async def test_a_full_queue_refuses_at_once_and_runs_nothing(teams: TeamsStack) -> None:
    teams.bot.admission = Admission(running=0, queued=0)
    chat = await teams.console.personal(user="alice", text="list buckets in staging")
    assert BUSY_FULL in chat.text_of_all()
    assert teams.runtime.calls == []


async def test_a_waiting_request_is_told_its_place_and_answered_when_a_place_frees_up(
    teams: TeamsStack,
) -> None:
    admission = Admission(running=1, queued=4)
    teams.bot.admission = admission

    async def nothing(_: int) -> None:
        return None

    assert await admission.enter(nothing)  # another answer holds the only place
    teams.runtime.script(
        "list buckets in staging", (0, events.text("acme-staging-assets")), (0, events.done("s"))
    )
    chat = await teams.console.personal(user="alice", text="list buckets in staging")
    assert BUSY_QUEUED.format(n=1) in chat.text_of_all()
    assert teams.runtime.calls == []
    admission.leave()
    for _ in range(200):
        shown = " ".join(str(m) for m in await teams.console.messages(chat.conversation_id))
        if "acme-staging-assets" in shown:
            break
        await asyncio.sleep(0.05)
    assert "acme-staging-assets" in shown
