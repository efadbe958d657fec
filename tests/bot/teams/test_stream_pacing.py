"""Progress in a 1:1 stream never holds the answer back.

Teams takes one streaming update a second and the SDK queues the rest, so a
burst of progress (a fan-out's checklist) would make the answer wait behind
stale checklists. Only the newest progress goes out, and it goes out before
the text.
"""

import asyncio
from typing import Any

from centralops import events
from tests.fixtures.teams_fakes import TeamsStack

ACCOUNTS = ["staging", "production", "development", "sandbox", "audit", "logging"]


def informative(calls: list[dict[str, Any]]) -> list[str]:
    return [
        str(c["activity"].get("text") or "")
        for c in calls
        if c["type"] == "typing"
        and any(e.get("streamType") == "informative" for e in c["activity"].get("entities", []))
    ]


async def test_a_burst_of_progress_sends_only_the_newest_before_the_answer(teams: TeamsStack) -> None:
    command = "aws s3api list-buckets"
    burst = [(0, events.tool_start(a, command)) for a in ACCOUNTS]
    burst += [(0, events.tool_end(a, command, ok=True, ms=5)) for a in ACCOUNTS]
    teams.runtime.script(
        "fan out",
        (0, events.status("Asking 6 accounts…")),
        *burst,
        (0, events.text("Done.\n")),
        (0, events.done("s")),
    )

    chat = await teams.console.personal(user="alice", text="fan out")

    [answer] = chat.messages
    assert answer["final"] and "Done." in answer["text"]
    updates = informative(await teams.console.activities(chat.conversation_id))
    assert len(updates) <= 2, f"stale progress was queued: {updates}"
    assert all(a in updates[-1] for a in ACCOUNTS), "the newest checklist went out, with every account"


async def test_progress_spread_over_time_keeps_flowing(teams: TeamsStack) -> None:
    command = "aws s3api list-buckets"
    # Each account starts once the progress naming the one before went out (at most one update a
    # second), so each step is spread from the last however slowly a loaded machine runs.
    went_out = {a: asyncio.Event() for a in ACCOUNTS[:3]}
    steps = [
        (0.0 if i == 0 else went_out[ACCOUNTS[i - 1]], events.tool_start(a, command))
        for i, a in enumerate(ACCOUNTS[:3])
    ]
    teams.runtime.script(
        "slow", *steps, (went_out[ACCOUNTS[2]], events.text("Done.\n")), (0, events.done("s"))
    )
    chat = await teams.console.personal(user="alice", text="slow", wait=False)
    for _ in range(600):
        updates = informative(await teams.console.activities(chat.conversation_id))
        for account, event in went_out.items():
            if any(account in u for u in updates):
                event.set()
        if all(e.is_set() for e in went_out.values()):
            break
        await asyncio.sleep(0.05)
    chat.messages = await teams.console.settle(chat.conversation_id, set())
    assert "Done." in chat.messages[-1]["text"]
    updates = informative(await teams.console.activities(chat.conversation_id))
    assert len(updates) >= 3, "one update a second still goes out while the agent works"
