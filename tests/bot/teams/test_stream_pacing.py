"""Progress in a 1:1 stream never holds the answer back.

Teams takes one streaming update a second and the SDK queues the rest, so a
burst of progress (a fan-out's checklist) would make the answer wait behind
stale checklists. Only the newest progress goes out, and it goes out before
the text.
"""

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
    steps = [(1.2, events.tool_start(a, command)) for a in ACCOUNTS[:3]]
    teams.runtime.script("slow", *steps, (0, events.text("Done.\n")), (0, events.done("s")))
    chat = await teams.console.personal(user="alice", text="slow")
    updates = informative(await teams.console.activities(chat.conversation_id))
    assert len(updates) >= 3, "one update a second still goes out while the agent works"
