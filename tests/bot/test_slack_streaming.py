"""Streaming an answer: the chat.*Stream methods when Slack has them, one updated message when not,
a file for long or wide answers."""

from centralops import events
from tests.fixtures.slack_stack import CHANNEL, SlackStack
from tests.fixtures.slack_stack import slack as slack
from tests.fixtures.slack_stack import slack_cognito as slack_cognito

PIECES = [f"Line {i}: {'x' * 20}\n" for i in range(6)]


def paced_answer(pause: float = 0.12) -> list[events.Event | float]:
    script: list[events.Event | float] = [events.status("Querying 2 accounts…")]
    script += [events.tool_start("staging", "aws s3 ls"), events.tool_start("production", "aws s3 ls"), pause]
    script += [events.tool_end("staging", "aws s3 ls", ok=True, ms=10), pause]
    script += [events.tool_end("production", "aws s3 ls", ok=False, ms=20), pause]
    for piece in PIECES:
        script += [events.text(piece), pause]
    script += [events.followups([{"label": "Count objects", "prompt": "count objects in staging"}])]
    script += [events.done("s")]
    return script


def ok_calls(slack: SlackStack, method: str) -> list[dict[str, object]]:
    return [c for c in slack.stand_in.calls if c["method"] == method and c.get("ok")]


async def test_answer_streams_with_the_streaming_methods(slack: SlackStack) -> None:
    slack.runtime.script("q", paced_answer())
    thread = await slack.console.slash("alice", "q", CHANNEL)
    [answer] = thread.answers()
    assert answer["stream"] == "completed"
    assert answer["text"] == "".join(PIECES)
    assert ok_calls(slack, "chat.startStream") and ok_calls(slack, "chat.stopStream")
    assert len(ok_calls(slack, "chat.appendStream")) >= 1
    # The buttons ride on the closed stream; the checklist shows both accounts' outcomes.
    assert any(e["action_id"].startswith("centralops_followup_") for _, e in thread.buttons())
    shown = thread.render()
    assert "✓ *staging*" in shown and "✗ *production*" in shown


async def test_without_streaming_methods_one_message_is_updated(slack: SlackStack) -> None:
    await slack.console.configure(streaming=False)
    slack.runtime.script("q", paced_answer())
    thread = await slack.console.slash("alice", "q", CHANNEL)
    [answer] = thread.answers()
    assert "stream" not in answer
    assert answer["text"] == "".join(PIECES).strip()
    assert answer["edits"] >= 1
    assert [c.get("error") for c in slack.stand_in.calls if c["method"] == "chat.startStream"] == [
        "unknown_method"
    ]
    assert ok_calls(slack, "chat.appendStream") == []
    # The next answer goes straight to the fallback without asking again.
    await slack.console.slash("alice", "q", CHANNEL)
    assert len([c for c in slack.stand_in.calls if c["method"] == "chat.startStream"]) == 1


async def test_long_answer_is_attached_as_a_file_with_a_summary(slack: SlackStack) -> None:
    rows = [f"| bucket-{i:04d} | {i * 7} objects |\n" for i in range(400)]
    slack.runtime.script(
        "big", [events.text("".join(rows[:200])), 0.1, events.text("".join(rows[200:])), events.done("s")]
    )
    thread = await slack.console.slash("alice", "big", CHANNEL)
    [upload] = [m for m in thread.messages if m.get("files")]
    [stored] = [f for f in slack.stand_in.files.values() if f["id"] == upload["files"][0]["id"]]
    assert stored["content"] == "".join(rows)
    [answer] = thread.answers()
    assert "attached file" in answer["text"]
    assert len(answer["text"]) < 5000


async def test_wide_table_goes_into_a_file(slack: SlackStack) -> None:
    wide = "| " + " | ".join(f"column-{i}" for i in range(20)) + " |\n"
    slack.runtime.script("wide", [events.text(wide), events.done("s")])
    thread = await slack.console.slash("alice", "wide", CHANNEL)
    assert any(m.get("files") for m in thread.messages)
    assert "attached file" in thread.answers()[0]["text"]
