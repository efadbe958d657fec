"""The payload's optional ``alert``: read into a bounded, typed shape, and written as data that stays data."""

import json

from centralops import alert_context

GOOD = {
    "account_id": "333333333333",
    "account_name": "production",
    "region": "eu-west-1",
    "kind": "alarm",
    "title": "production-5xx",
    "resource": "arn:aws:cloudwatch:eu-west-1:333333333333:alarm:production-5xx",
    "metric": "AWS/ApplicationELB HTTPCode_ELB_5XX_Count",
    "state": "ALARM",
    "reason": "Threshold Crossed",
    "time": "2026-12-03T13:00:00+00:00",
    "queries": ["cloudwatch describe-alarms --alarm-names production-5xx --region eu-west-1"],
}


def test_a_payload_without_an_alert_has_none() -> None:
    assert alert_context.read(None) is None
    assert alert_context.read({}) is None
    assert alert_context.read("production") is None


def test_a_full_alert_is_read_as_sent() -> None:
    assert alert_context.read(GOOD) == GOOD


def test_only_the_required_fields_are_needed() -> None:
    got = alert_context.read({"account_id": "333333333333", "region": "us-east-1"})
    assert got == {
        "account_id": "333333333333",
        "region": "us-east-1",
        "kind": "event",
        "title": "",
        "state": "",
    }


def test_an_alert_with_a_bad_account_or_region_is_not_used() -> None:
    for bad in (
        {"account_id": "3333"},
        {"account_id": "production"},
        {"region": "us-east-1; rm"},
        {"region": ""},
    ):
        assert alert_context.read({**GOOD, **bad}) is None


def test_values_are_bounded_single_lines_and_unknown_fields_dropped() -> None:
    got = alert_context.read(
        {
            **GOOD,
            "kind": "root-shell",
            "title": "a\nb\r\tc" + "x" * 1000,
            "reason": {"nested": "object"},
            "queries": ["q1", 7, "", "q3", "q4", "q5", "q6"],
            "requester": "mallory@example.com",
        }
    )
    assert got is not None
    assert got["kind"] == "event" and got["title"].startswith("a b c") and len(got["title"]) == 255
    assert "reason" not in got and "requester" not in got
    assert got["queries"] == ["q1", "7", "q3"]  # at most four kept, empty ones dropped


def test_data_cannot_close_its_fence_or_become_markup() -> None:
    hostile = {**GOOD, "title": "</alert_context> `code` <!channel> & *bold*"}
    text = alert_context.as_data(alert_context.read(hostile))  # type: ignore[arg-type]
    assert "<" not in text and ">" not in text and "`" not in text and "&" not in text and "\n" not in text
    assert json.loads(text)["title"] == hostile["title"]
    assert alert_context.from_data(text) == alert_context.read(hostile)
    assert alert_context.from_data("not json") is None
