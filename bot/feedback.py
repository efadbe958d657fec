"""Feedback on answers, kept in DynamoDB so any replica can take a click and admins can read the rate.

Every answer is remembered once, when it closes (``answer#{id}``: the question,
the commands it ran in which accounts, the trace id and the Runtime session).
A thumbs up or down is one item per person and answer
(``feedback#{id}#{platform}#{team}#{user}``) holding a copy of what was asked
and run, so a reviewer reads a vote without joining tables; a person may change
their mind, never vote twice. Weekly counters (``feedback-week#{platform}#{team}#{week}``,
the ISO week of the answer) give the thumbs-down rate App Home shows admins.

Everything lives in the idempotency table, as the recent queries do: no extra
table for a small, TTL-bound record. Where the answer has an outbox item (Slack),
the answer record and the channel's accounts ride in the transaction that marks
it delivered (:meth:`FeedbackStore.keeps`): no round trip of their own.
"""

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from botocore.exceptions import BotoCoreError, ClientError

from bot import metrics
from bot.chat import ChatPlace, ChatUser, Checklist
from bot.dynamo import DynamoTable, Keep, is_conditional_failure, storage_error
from centralops.errors import CentralOpsError

logger = logging.getLogger(__name__)

TTL_S = 90 * 24 * 3600
RECORD_READS = 4  # a vote looks for its answer's record this many times…
RECORD_WAIT_S = 0.5  # …this far apart (the record follows the answer's close)
MAX_COMMANDS = 50  # commands kept per answer (a wide fan-out repeats one command per account)
Outcome = Literal["recorded", "changed", "unchanged", "unknown"]


def week_of(epoch_s: float) -> str:
    """The ISO week (``2026-W49``) an instant falls in, in UTC."""
    year, week, _ = datetime.fromtimestamp(epoch_s, UTC).isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class AnswerRecord:
    """What an answer was: enough to understand a vote on it later."""

    answer_id: str
    question: str
    commands: list[tuple[str, str]]
    who: ChatUser
    where: ChatPlace
    trace_id: str = ""
    session_id: str = ""
    at: float = field(default_factory=time.time)

    @classmethod
    def new(
        cls,
        question: str,
        checklist: Checklist,
        who: ChatUser,
        where: ChatPlace,
        *,
        trace_id: str = "",
        session_id: str = "",
    ) -> "AnswerRecord":
        """A record with a fresh id; the commands are the checklist's calls, in order, once each."""
        seen: list[tuple[str, str]] = []
        for item in checklist.items:
            pair = (item.account, item.command)
            if pair not in seen:
                seen.append(pair)
        return cls(
            uuid.uuid4().hex,
            question[:2000],
            seen[:MAX_COMMANDS],
            who,
            where,
            trace_id=trace_id,
            session_id=session_id,
        )


@dataclass(frozen=True)
class WeekRate:
    """Votes on the answers of one ISO week."""

    week: str
    up: int
    down: int

    @property
    def rate(self) -> float:
        """The thumbs-down share of the votes (0 when nobody voted)."""
        total = self.up + self.down
        return self.down / total if total else 0.0


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _usage_key(place: ChatPlace) -> str:
    return f"usage#{place.platform}#{place.team}#{place.channel}"


class FeedbackStore:
    """Answers, votes and weekly counts in the idempotency table.

    Args:
        table: The idempotency table.
    """

    def __init__(self, table: DynamoTable) -> None:
        self.table = table

    def _answer_item(self, record: AnswerRecord) -> dict[str, Any]:
        return {
            "key": _s(f"answer#{record.answer_id}"),
            "question": _s(record.question or "—"),
            "commands": {"L": [{"M": {"account": _s(a), "command": _s(c)}} for a, c in record.commands]},
            "platform": _s(record.who.platform),
            "team": _s(record.who.team),
            "user": _s(record.who.user),
            "channel": _s(record.where.channel),
            "thread": _s(record.where.thread or ""),
            "trace_id": _s(record.trace_id),
            "session_id": _s(record.session_id),
            "at": {"N": str(int(record.at))},
            "ttl": {"N": str(int(record.at) + TTL_S)},
        }

    def _usage(self, record: AnswerRecord) -> dict[str, Any] | None:
        """The update adding the answer's accounts to its channel's (without the table name)."""
        accounts = sorted({a for a, _ in record.commands if a})
        if not accounts:
            return None
        return {
            "Key": {"key": _s(_usage_key(record.where))},
            "UpdateExpression": "ADD #a :a SET #t = :ttl",
            "ExpressionAttributeNames": {"#a": "accounts", "#t": "ttl"},
            "ExpressionAttributeValues": {":a": {"SS": accounts}, ":ttl": {"N": str(int(record.at) + TTL_S)}},
        }

    async def remember(self, record: AnswerRecord) -> None:
        """Keep the answer so a later vote can name what was asked and run."""
        # The answer and the channel's accounts are written at once: the answer closes one round trip later.
        await asyncio.gather(self._put_answer(self._answer_item(record)), self._add_usage(record))

    def keeps(self, record: AnswerRecord) -> list[Keep]:
        """:meth:`remember` as writes that ride in the transaction delivering the answer."""

        async def answer_alone() -> None:
            try:
                await self._put_answer(self._answer_item(record))
            except CentralOpsError as e:
                logger.warning("answer not kept for feedback", extra={"code": e.code})

        keeps = [
            Keep({"Put": {"TableName": self.table.name, "Item": self._answer_item(record)}}, answer_alone)
        ]
        usage = self._usage(record)
        if usage is not None:
            keeps.append(
                Keep({"Update": {"TableName": self.table.name, **usage}}, lambda: self._add_usage(record))
            )
        return keeps

    async def _put_answer(self, item: dict[str, Any]) -> None:
        try:
            await self.table.call("put_item", Item=item)
        except (BotoCoreError, ClientError) as e:
            raise storage_error(e, "keep this answer for feedback") from e

    async def _add_usage(self, record: AnswerRecord) -> None:
        usage = self._usage(record)
        if usage is None:
            return
        try:
            await self.table.call("update_item", **usage)
        except (BotoCoreError, ClientError) as e:
            logger.warning("channel accounts not updated", extra={"error": type(e).__name__})

    async def alias(self, platform: str, ref: str, answer_id: str) -> None:
        """Name an answer by the platform's message (Teams reports votes by message id)."""
        try:
            await self.table.call(
                "put_item",
                Item={
                    "key": _s(f"answer-ref#{platform}#{ref}"),
                    "answer_id": _s(answer_id),
                    "ttl": {"N": str(int(time.time()) + TTL_S)},
                },
            )
        except (BotoCoreError, ClientError) as e:
            raise storage_error(e, "keep this answer for feedback") from e

    async def resolve(self, platform: str, ref: str) -> str | None:
        """The answer a platform message showed, if it was named with :meth:`alias`."""
        try:
            out = await self.table.call("get_item", Key={"key": _s(f"answer-ref#{platform}#{ref}")})
        except (BotoCoreError, ClientError) as e:
            raise storage_error(e, "record your feedback") from e
        item = out.get("Item") or {}
        return item["answer_id"]["S"] if "answer_id" in item else None

    async def usual_accounts(self, place: ChatPlace) -> list[str]:
        """The accounts answers in this channel ran commands in (empty when unknown or unreadable)."""
        try:
            out = await self.table.call("get_item", Key={"key": _s(_usage_key(place))})
        except (BotoCoreError, ClientError) as e:
            logger.warning("channel accounts not read", extra={"error": type(e).__name__})
            return []
        return sorted((out.get("Item") or {}).get("accounts", {}).get("SS", []))

    async def _answer(self, answer_id: str) -> dict[str, Any] | None:
        """The ``answer#`` record, waiting out the moment between an answer's close and its record.

        The record is written right after the answer closes (with its delivery), and the buttons
        are visible from the close: a click that quick finds it on a later, consistent read.
        """
        for attempt in range(RECORD_READS):
            try:
                out = await self.table.call(
                    "get_item", Key={"key": _s(f"answer#{answer_id[:64]}")}, ConsistentRead=True
                )
            except (BotoCoreError, ClientError) as e:
                raise storage_error(e, "record your feedback") from e
            if item := out.get("Item"):
                return cast(dict[str, Any], item)
            if attempt + 1 < RECORD_READS:
                await asyncio.sleep(RECORD_WAIT_S)
        return None

    async def vote(self, answer_id: str, voter: ChatUser, *, positive: bool, comment: str = "") -> Outcome:
        """Record ``voter``'s thumbs up or down on an answer; counted once per person, changeable.

        Returns:
            ``recorded`` (a first vote), ``changed`` (the other way than before), ``unchanged``
            (the same vote again) or ``unknown`` (no such answer: forged, or older than the TTL).
        """
        answer = await self._answer(answer_id)
        if not answer or answer.get("platform", {}).get("S") != voter.platform:
            return "unknown"
        vote = "up" if positive else "down"
        week = week_of(float(answer["at"]["N"]))
        now = int(time.time())
        key = _s(f"feedback#{answer_id}#{voter.platform}#{voter.team}#{voter.user}")
        item = {
            "key": key,
            "vote": _s(vote),
            "answer_id": _s(answer_id),
            "week": _s(week),
            "voter": _s(voter.user),
            "question": answer["question"],
            "commands": answer.get("commands", {"L": []}),
            "trace_id": answer.get("trace_id", _s("")),
            "session_id": answer.get("session_id", _s("")),
            "at": {"N": str(now)},
            "ttl": {"N": str(now + TTL_S)},
        }
        if comment.strip():
            item["comment"] = _s(comment.strip()[:1000])
        try:
            await self.table.call(
                "put_item",
                Item=item,
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": "key"},
            )
            outcome: Outcome = "recorded"
        except ClientError as e:
            if not is_conditional_failure(e):
                raise storage_error(e, "record your feedback") from e
            try:
                await self.table.call(
                    "put_item",
                    Item=item,
                    ConditionExpression="#v <> :v",
                    ExpressionAttributeNames={"#v": "vote"},
                    ExpressionAttributeValues={":v": _s(vote)},
                )
            except ClientError as again:
                if is_conditional_failure(again):
                    return "unchanged"
                raise storage_error(again, "record your feedback") from again
            outcome = "changed"
        except BotoCoreError as e:
            raise storage_error(e, "record your feedback") from e
        metrics.feedback(voter.platform, positive=positive)
        await self._count(voter, week, vote, moved=outcome == "changed")
        logger.info(
            "feedback recorded",
            extra={"answer_id": answer_id, "vote": vote, "outcome": outcome, "platform": voter.platform},
        )
        return outcome

    async def _count(self, voter: ChatUser, week: str, vote: str, *, moved: bool) -> None:
        other = "down" if vote == "up" else "up"
        expression = "ADD #a :one" + (", #b :minus" if moved else "") + " SET #t = :ttl"
        names = {"#a": vote, "#t": "ttl", **({"#b": other} if moved else {})}
        values: dict[str, Any] = {
            ":one": {"N": "1"},
            ":ttl": {"N": str(int(time.time()) + 2 * TTL_S)},
            **({":minus": {"N": "-1"}} if moved else {}),
        }
        try:
            await self.table.call(
                "update_item",
                Key={"key": _s(f"feedback-week#{voter.platform}#{voter.team}#{week}")},
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except (BotoCoreError, ClientError) as e:
            # The vote itself is kept; only the weekly figure misses it.
            logger.warning(
                "weekly feedback count not updated", extra={"week": week, "error": type(e).__name__}
            )

    async def weekly(
        self, platform: str, team: str, *, weeks: int = 6, now: float | None = None
    ) -> list[WeekRate]:
        """The last ``weeks`` ISO weeks, newest first (weeks without votes included as zero)."""
        at = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
        names = []
        for i in range(weeks):
            name = week_of((at - timedelta(weeks=i)).timestamp())
            if name not in names:
                names.append(name)
        keys = [{"key": _s(f"feedback-week#{platform}#{team}#{w}")} for w in names]
        try:
            out = await self.table.call(
                lambda **kw: self.table.client.batch_get_item(
                    RequestItems={kw["TableName"]: {"Keys": keys, "ConsistentRead": True}}
                )
            )
        except (BotoCoreError, ClientError) as e:
            raise storage_error(e, "read the feedback figures") from e
        found = {
            i["key"]["S"].rsplit("#", 1)[1]: i for i in out.get("Responses", {}).get(self.table.name, [])
        }
        return [
            WeekRate(
                w,
                int(found.get(w, {}).get("up", {}).get("N", "0")),
                int(found.get(w, {}).get("down", {}).get("N", "0")),
            )
            for w in names
        ]
