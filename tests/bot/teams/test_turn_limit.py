"""Answers longer than Teams' turn limit still arrive: the turn returns, the work goes on.

The limit is simulated: ``teams_fast`` gives each request 2 s (Teams gives
15 s) and the scripted Runtime stays silent for 4 s, so an answer produced
inside the turn would make the console raise ``TeamsTurnTooSlow``.
"""

from centralops import events
from tests.fixtures.teams_fakes import TeamsStack

SLOW = 4.0


async def test_a_1on1_answer_slower_than_the_turn_limit_is_delivered(teams_fast: TeamsStack) -> None:
    teams = teams_fast
    assert SLOW > teams.console.turn_limit_s
    teams.runtime.script(
        "describe every instance everywhere",
        (0, events.status("Asking 3 accounts…")),
        (SLOW, events.text("7 instances in 3 accounts.")),
        (0, events.done("s")),
    )

    chat = await teams.console.personal(user="alice", text="describe every instance everywhere")

    assert chat.turn.status in (200, 202)
    [answer] = chat.messages
    assert answer["final"] and answer["text"] == "7 instances in 3 accounts."


async def test_a_channel_answer_slower_than_the_turn_limit_is_delivered(teams_fast: TeamsStack) -> None:
    teams = teams_fast
    teams.runtime.script(
        "describe every instance everywhere",
        (SLOW, events.text("7 instances in 3 accounts.")),
        (0, events.done("s")),
    )

    post = await teams.console.channel(user="bob", text="describe every instance everywhere")

    assert [m["text"] for m in post.messages] == ["7 instances in 3 accounts."]


async def test_the_runtime_being_down_ends_the_answer_with_an_error_the_user_can_act_on(
    teams: TeamsStack,
) -> None:
    teams.runtime.script("list buckets in staging", (0, events.status("Resolving…")))  # the stream just stops

    chat = await teams.console.personal(user="alice", text="list buckets in staging")

    assert "cut off before it finished" in chat.messages[0]["text"]
