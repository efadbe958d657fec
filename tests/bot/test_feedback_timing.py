"""A vote clicked the moment an answer closes, before the answer's record is written, still counts."""

from typing import Any

import pytest

from bot import feedback
from bot.chat import ChatUser
from bot.feedback import FeedbackStore

BOB = ChatUser("slack", "T1", "U0BOB", "bob")
RECORD = {
    "key": {"S": "answer#a1"},
    "platform": {"S": "slack"},
    "question": {"S": "list buckets in staging"},
    "at": {"N": "1796300000"},
}


class LateRecord:
    """A table whose ``answer#`` record appears only after ``misses`` reads; it keeps every write."""

    def __init__(self, misses: int) -> None:
        self.misses = misses
        self.reads: list[dict[str, Any]] = []
        self.writes: list[tuple[str, dict[str, Any]]] = []

    async def call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        if method == "get_item":
            self.reads.append(kwargs)
            return {"Item": RECORD} if len(self.reads) > self.misses else {}
        self.writes.append((method, kwargs))
        return {}


@pytest.fixture(autouse=True)
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feedback, "RECORD_WAIT_S", 0.0)


async def test_a_vote_before_the_record_is_written_is_recorded_once_it_is() -> None:
    table = LateRecord(misses=2)
    assert await FeedbackStore(table).vote("a1", BOB, positive=False) == "recorded"  # type: ignore[arg-type]
    assert all(r["ConsistentRead"] for r in table.reads)
    [vote] = [w for m, w in table.writes if m == "put_item"]
    assert vote["Item"]["vote"] == {"S": "down"} and vote["Item"]["question"] == RECORD["question"]


async def test_an_answer_that_never_had_a_record_is_unknown_after_a_bounded_wait() -> None:
    table = LateRecord(misses=99)
    assert await FeedbackStore(table).vote("forged", BOB, positive=True) == "unknown"  # type: ignore[arg-type]
    assert len(table.reads) == feedback.RECORD_READS
    assert not table.writes
