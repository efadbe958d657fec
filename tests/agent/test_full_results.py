"""The agent turns the bridge's ``full_results`` reference into a ``file`` event and a note."""

import json

from agent.answers import full_results_of
from centralops.events import parse_event


def test_a_reference_becomes_a_file_event_and_a_note() -> None:
    text = json.dumps(
        {
            "results": [],
            "ok_count": 1000,
            "error_count": 0,
            "full_results": {
                "bucket": "b",
                "key": "results/2026/12/03/x.json",
                "bytes": 7_340_032,
                "accounts": 1000,
            },
        }
    )
    event, note = full_results_of(text)
    assert event is not None
    assert parse_event(dict(event)) == event
    assert (event["bucket"], event["key"], event["bytes"]) == ("b", "results/2026/12/03/x.json", 7_340_032)
    assert "1000 accounts" in event["summary"]
    assert "attached as a file" in note and "1000 accounts" in note


def test_an_error_is_told_and_a_whole_response_adds_nothing() -> None:
    event, note = full_results_of(
        json.dumps({"results": [], "full_results_error": "Too large; ask about fewer."})
    )
    assert event is None and "Too large; ask about fewer." in note
    assert full_results_of(json.dumps({"results": []})) == (None, "")
    assert full_results_of("not json") == (None, "")


def test_the_model_path_emits_the_file_event_with_the_tool_ends() -> None:
    from agent.gate import EventSink, emit_tool_ends

    sink = EventSink()
    text = json.dumps(
        {
            "results": [{"ok": True, "account_id": "222222222222", "result": "cut", "ms": 5}],
            "ok_count": 1,
            "error_count": 0,
            "full_results": {"bucket": "b", "key": "results/2026/12/03/y.json", "bytes": 10, "accounts": 1},
        }
    )
    emit_tool_ends(sink, {"222222222222": "staging"}, ["222222222222"], "aws s3 ls", text)
    kinds = []
    while not sink.queue.empty():
        item = sink.queue.get_nowait()
        if item is not None:
            kinds.append(item["type"])
    assert kinds == ["tool", "file"]
