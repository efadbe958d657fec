"""Answers longer than Teams' turn limit still arrive: the turn returns, the work goes on.

The scripted Runtime holds the answer until Teams has the turn's response, so the answer is slower
than the turn whatever the limit: a bot that answered inside the turn would never return it, and the
console would raise ``TeamsTurnTooSlow`` at Teams' 15 s limit.
"""

import asyncio

from centralops import events
from infra.local.consoles.teams import CHANNEL
from tests.fixtures.teams_fakes import TeamsStack


async def test_a_1on1_answer_slower_than_the_turn_limit_is_delivered(teams: TeamsStack) -> None:
    turn_ended = asyncio.Event()
    teams.runtime.script(
        "describe every instance everywhere",
        (0, events.status("Asking 3 accounts…")),
        (turn_ended, events.text("7 instances in 3 accounts.")),
        (0, events.done("s")),
    )

    chat = await teams.console.personal(user="alice", text="describe every instance everywhere", wait=False)
    assert chat.turn.status in (200, 202)
    turn_ended.set()
    chat.messages = await teams.console.settle(chat.conversation_id, set())

    [answer] = chat.messages
    assert answer["final"] and answer["text"] == "7 instances in 3 accounts."


async def test_a_channel_answer_slower_than_the_turn_limit_is_delivered(teams: TeamsStack) -> None:
    turn_ended = asyncio.Event()
    teams.runtime.script(
        "describe every instance everywhere",
        (turn_ended, events.text("7 instances in 3 accounts.")),
        (0, events.done("s")),
    )
    seen = {m["id"] for m in await teams.console.messages(CHANNEL)}

    post = await teams.console.channel(user="bob", text="describe every instance everywhere", wait=False)
    assert post.turn.status in (200, 202)
    turn_ended.set()
    post.messages = await teams.console.settle(post.conversation_id, seen)

    assert [m["text"] for m in post.messages] == ["7 instances in 3 accounts."]


async def test_the_runtime_being_down_ends_the_answer_with_an_error_the_user_can_act_on(
    teams: TeamsStack,
) -> None:
    teams.runtime.script("list buckets in staging", (0, events.status("Resolving…")))  # the stream just stops

    chat = await teams.console.personal(user="alice", text="list buckets in staging")

    assert "cut off before it finished" in chat.messages[0]["text"]
