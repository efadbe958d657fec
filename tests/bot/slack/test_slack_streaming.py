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
    # The buttons ride on the closed stream; each account is a task card with its outcome, the
    # command and the time taken, in the stream itself (no mrkdwn checklist in the parent).
    assert any(e["action_id"].startswith("centralops_followup_") for _, e in thread.buttons())
    assert answer["task_display_mode"] == "plan"
    assert answer["plan"] == "Done: 1 of 2 calls answered"  # no title is left saying work goes on
    assert [(t["title"], t["status"], t["details"], t.get("output")) for t in answer["tasks"].values()] == [
        ("staging", "complete", "aws s3 ls", "done in 10 ms"),
        ("production", "error", "aws s3 ls", "failed in 20 ms"),
    ]
    shown = thread.render()
    assert "✓ staging · aws s3 ls · done in 10 ms" in shown and "✗ production" in shown
    assert "*staging*" not in str(thread.messages[0]["blocks"])


async def test_without_streaming_methods_one_message_is_updated(slack: SlackStack) -> None:
    await slack.console.configure(streaming=False)
    slack.runtime.script("q", paced_answer())
    thread = await slack.console.slash("alice", "q", CHANNEL)
    [answer] = thread.answers()
    assert "stream" not in answer
    assert answer["blocks"][0]["text"] == "".join(PIECES).strip()
    # The notification text is a short plain summary, never the markdown of the answer.
    assert answer["text"].startswith("Line 0:") and "\n" not in answer["text"] and len(answer["text"]) <= 150
    assert answer["edits"] >= 1
    assert [c.get("error") for c in slack.stand_in.calls if c["method"] == "chat.startStream"] == [
        "unknown_method"
    ]
    assert ok_calls(slack, "chat.appendStream") == []
    # Without the streaming methods the calls show as the mrkdwn checklist in the parent message.
    assert "✓ *staging*" in thread.render() and "✗ *production*" in thread.render()
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


async def test_a_wide_table_shows_20_columns_and_the_rest_goes_into_a_csv_file(slack: SlackStack) -> None:
    columns = [f"column-{i}" for i in range(25)]
    rows = [[f"r{r}c{c}" for c in range(25)] for r in range(3)]
    slack.runtime.script("wide", [events.table(columns, rows, "Wide"), events.done("s")])
    thread = await slack.console.slash("alice", "wide", CHANNEL)
    [table_message] = [m for m in thread.messages if any(b["type"] == "table" for b in m["blocks"])]
    [table] = [b for b in table_message["blocks"] if b["type"] == "table"]
    assert [len(r) for r in table["rows"]] == [20] * 4
    assert "5 more columns" in thread.render()
    [upload] = [m for m in thread.messages if m.get("files")]
    [stored] = [f for f in slack.stand_in.files.values() if f["id"] == upload["files"][0]["id"]]
    assert stored["content"].splitlines()[0] == ",".join(columns)
    assert thread.answers() == [table_message], "the table closes the answer; nothing is added after it"
