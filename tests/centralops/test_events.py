"""The event protocol: what the agent encodes the bot can parse, and nothing else."""

import json

import pytest

from centralops import events


def test_every_event_round_trips_through_sse() -> None:
    sent: list[events.Event] = [
        events.status("Resolving accounts"),
        events.text("| bucket |"),
        events.tool_start("staging", "aws s3 ls"),
        events.tool_end("staging", "aws s3 ls", ok=True, ms=12),
        events.followups([{"label": "Regions", "prompt": "bucket regions in staging"}]),
        events.error("unknown_account", "No account named stagin"),
        events.done("s" * 40, {"tool_calls": 1}),
    ]
    body = b"".join(events.encode_sse(e) for e in sent).decode()
    assert list(events.iter_sse(body.splitlines())) == sent


def test_a_json_string_holding_an_event_is_unwrapped() -> None:
    line = 'data: "{\\"type\\": \\"text\\", \\"delta\\": \\"hi\\"}"'
    assert list(events.iter_sse([line])) == [{"type": "text", "delta": "hi"}]


def test_comments_and_other_fields_are_skipped() -> None:
    assert list(events.iter_sse([": keep-alive", "event: message", "", "data:"])) == []


@pytest.mark.parametrize(
    "payload",
    [
        '{"type": "nonsense"}',
        "[1, 2]",
        "not json",
        '{"delta": "x"}',
        '{"type": "text", "delta": "cut',
        '"not json inside a string"',
        '"[1, 2]"',
        "NaN",
    ],
)
def test_anything_else_is_a_protocol_error(payload: str) -> None:
    with pytest.raises(events.ProtocolError):
        list(events.iter_sse([f"data: {payload}"]))


def test_the_events_before_a_bad_line_are_read_and_the_bad_line_stops_the_stream() -> None:
    lines = [
        "data: " + json.dumps(events.text("first")),
        "data: {oops",
        "data: " + json.dumps(events.done("s")),
    ]
    read: list[events.Event] = []
    with pytest.raises(events.ProtocolError, match="not JSON"):
        for event in events.iter_sse(lines):
            read.append(event)
    assert read == [events.text("first")]


def test_followups_are_capped_at_three() -> None:
    items = [{"label": str(i), "prompt": str(i)} for i in range(5)]
    assert len(events.followups(items)["items"]) == 3  # type: ignore[arg-type]
