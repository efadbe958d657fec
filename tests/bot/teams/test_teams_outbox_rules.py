"""The rules under the Teams outbox: which Connector refusals are retried and how long, and what a kept
answer shows when the outbox delivers it (size rules, closed checklist, never a running line)."""

import time
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from bot.outbox import Parcel
from bot.teams import patient
from bot.teams.outbox import INTERRUPTED, LATE, kept_tables, late_messages, tables_of
from bot.teams.patient import patiently, refused, retry_after
from bot.teams.render import MAX_PARTS, MESSAGE_BYTES, utf16_bytes


def refusal(status: int, retry: str | None = None) -> aiohttp.ClientResponseError:
    headers = CIMultiDictProxy(CIMultiDict({"Retry-After": retry} if retry is not None else {}))
    return aiohttp.ClientResponseError(None, (), status=status, headers=headers)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "retried"),
    [(429, True), (503, True), (502, True), (400, False), (403, False), (404, False), (413, False)],
)
def test_only_refusals_that_applied_nothing_are_retried(status: int, retried: bool) -> None:
    assert refused(refusal(status)) is retried


@pytest.mark.parametrize(
    ("header", "wait"), [("2", 2.0), ("0", 0.0), ("soon", 0.5), (None, 0.5), ("9999", 60.0)]
)
def test_retry_after_is_honoured_within_bounds(header: str | None, wait: float) -> None:
    assert retry_after(refusal(429, header), 0.5) == wait


async def test_a_refused_write_is_sent_again_after_retry_after_until_it_goes_through() -> None:
    calls: list[float] = []

    async def call() -> str:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise refusal(429, "0")
        return "ok"

    assert await patiently(call, "send", deadline_s=5) == "ok"
    assert len(calls) == 3


async def test_a_write_still_refused_at_the_deadline_raises_and_others_raise_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The retries' clock is one the test moves: a loaded machine cannot make a pause look longer.
    now = [1000.0]

    async def pause(seconds: float) -> None:
        now[0] += seconds

    monkeypatch.setattr(patient, "time", SimpleNamespace(monotonic=lambda: now[0]))
    monkeypatch.setattr(patient, "asyncio", SimpleNamespace(sleep=pause))
    attempts = 0

    async def throttled() -> None:
        nonlocal attempts
        attempts += 1
        raise refusal(503, "0.2")

    with pytest.raises(aiohttp.ClientResponseError):
        await patiently(throttled, "update", deadline_s=0.5)
    assert attempts == 3  # at 0, 0.2 and 0.4 s; the next would start past the deadline
    assert now[0] - 1000.0 <= 0.5  # it gave up without waiting past the deadline

    bad = 0

    async def bad_request() -> None:
        nonlocal bad
        bad += 1
        raise refusal(400)

    with pytest.raises(aiohttp.ClientResponseError):
        await patiently(bad_request, "send", deadline_s=5)
    assert bad == 1


def parcel(**changes: Any) -> Parcel:
    base: dict[str, Any] = {
        "answer_id": "a1",
        "platform": "teams",
        "team": "tenant",
        "channel": "19:c@thread.tacv2",
        "thread": "1700",
        "user": "aad-alice",
        "checklist": [
            {"account": "staging", "command": "aws s3 ls", "state": "ok", "ms": 8},
            {"account": "production", "command": "aws s3 ls", "state": "running", "ms": None},
        ],
    }
    return Parcel(**{**base, **changes})


def test_an_interrupted_answer_shows_every_call_closed_what_arrived_and_what_to_do() -> None:
    [message] = late_messages(parcel(state="open", body="Staging has 3 buckets."))
    text = message.text or ""
    assert "(no result)" in text and "⏳" not in text and "…" not in text.replace(INTERRUPTED, "")
    assert text.index("staging") < text.index("Staging has 3 buckets.") < text.index(INTERRUPTED)
    assert "try again" not in text.lower()


def test_a_complete_answer_shows_as_it_would_have_with_its_tables_and_why_it_is_late() -> None:
    table = {"columns": ["Bucket", "Objects"], "rows": [["logs", "12"]], "title": "Buckets"}
    [message] = late_messages(parcel(state="closing", body="Two buckets.", extra={"tables": [table]}))
    assert (message.text or "").startswith("Two buckets.") and (message.text or "").endswith(LATE)
    assert message.attachments and "logs" in str(message.attachments[0].content)


def test_a_long_kept_answer_takes_a_few_messages_within_teams_size_limit_then_a_cut_note() -> None:
    body = "\n\n".join(
        f"Paragraph {i}: " + "\U0001d534ord " * 900 for i in range(40)
    )  # astral: 2 UTF-16 units each
    messages = late_messages(parcel(state="closing", body=body))
    assert len(messages) == MAX_PARTS
    assert all(
        utf16_bytes(m.model_dump(mode="json", by_alias=True, exclude_none=True)) <= MESSAGE_BYTES
        for m in messages
    )
    assert "continued in the next message" in (messages[0].text or "")
    assert "The answer was cut here" in (messages[-1].text or "")


def test_kept_tables_are_capped_and_read_back_safely() -> None:
    from bot.chat import Table

    big = Table(columns=["a"], rows=[[str(i)] for i in range(1000)], title="t")
    kept = kept_tables([big] * 9)
    assert len(kept) == 5 and all(len(t["rows"]) == 200 for t in kept)
    back = tables_of(parcel(extra={"tables": [*kept, "junk", {"columns": "x"}]}))
    assert len(back) == 5 and back[0].rows[0] == ["0"]
