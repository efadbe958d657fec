"""The durable outbox: what an answer must still show, kept in DynamoDB until it reached the chat.

While an answer is shown, its renderer keeps a :class:`Journal`: one item per
answer holding where it goes (platform, channel, thread), the checklist message
and the answer as it stands. The item carries a lease the live renderer renews;
when the answer reached the thread the item is marked delivered.

If the renderer cannot finish (the chat API refused past every retry, or the
bot replica died), the lease runs out and any replica's :class:`Sweeper` takes
the item (a conditional update, so one replica does) and delivers it: the
checklist closes (no line is left running) and the answer is posted as one
message. So an answer whose commands ran always reaches the person.

Item shape (table ``outbox``, partition key ``answer_id``, TTL ``ttl``): see
docs/ARCHITECTURE.md.
"""

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from botocore.exceptions import BotoCoreError, ClientError

from bot.chat import CheckItem, Checklist
from bot.dynamo import DynamoTable, Keep, is_conditional_failure

logger = logging.getLogger(__name__)

State = Literal["open", "closing", "delivered"]
LEASE_S = 60.0  # a live renderer renews its lease well within this; a dead one's answer is swept after it
KEEP_S = 7 * 24 * 3600  # delivered items are kept this long (TTL), for inspection
INDEX = "undelivered"  # sparse index of the items still carrying `pending` (infra/tables.py)
REPLICA = uuid.uuid4().hex[:12]  # this process, as a lease owner


@dataclass
class Parcel:
    """What one answer must still show, and where.

    Attributes:
        answer_id: Unique per answer.
        platform: ``slack`` or ``teams``.
        team: Workspace or tenant.
        channel: Channel (Slack) or conversation (Teams) id.
        thread: Thread ts (Slack) or reply-to activity id (Teams).
        user: The person the answer is for.
        state: ``open`` while it streams, ``closing`` once the whole answer is known, ``delivered``.
        body: The answer as it stands (markdown): all of it once ``closing``.
        checklist: The per-account checklist (:func:`checklist_items`).
        checklist_ref: The message holding the checklist (Slack ts, Teams activity id), if any.
        extra: What the platform needs to write there later (the Slack question, the Teams
            conversation reference).
    """

    answer_id: str
    platform: str
    team: str
    channel: str
    thread: str
    user: str
    state: State = "open"
    body: str = ""
    checklist: list[dict[str, Any]] = field(default_factory=list)
    checklist_ref: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def closed_checklist(self) -> Checklist:
        """The checklist with every call that never reported marked as stopped."""
        checklist = Checklist(
            items=[
                CheckItem(
                    str(i.get("account", "")),
                    str(i.get("command", "")),
                    i.get("state", "running"),
                    i.get("ms"),
                )
                for i in self.checklist
            ]
        )
        checklist.close()
        return checklist

    def item(self, *, lease_until: float, owner: str) -> dict[str, Any]:
        """The DynamoDB item."""
        now = int(time.time())
        item: dict[str, Any] = {
            "answer_id": {"S": self.answer_id},
            "platform": {"S": self.platform},
            "team": {"S": self.team},
            "channel": {"S": self.channel},
            "thread": {"S": self.thread},
            "user": {"S": self.user},
            "state": {"S": self.state},
            "body": {"S": self.body},
            "checklist": {"S": json.dumps(self.checklist, separators=(",", ":"))},
            "checklist_ref": {"S": self.checklist_ref},
            "lease_until": {"N": f"{lease_until:.3f}"},
            "owner": {"S": owner},
            "updated_at": {"N": str(now)},
            "ttl": {"N": str(now + KEEP_S)},
        }
        if self.state != "delivered":
            item["pending"] = {"S": "1"}  # in the sparse index the sweepers scan
        if self.extra:
            item["extra"] = {"S": json.dumps(self.extra, separators=(",", ":"), sort_keys=True)}
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "Parcel":
        """Build from a low-level DynamoDB item."""

        def s(name: str) -> str:
            return str(item.get(name, {}).get("S", ""))

        state = s("state")
        return cls(
            answer_id=s("answer_id"),
            platform=s("platform"),
            team=s("team"),
            channel=s("channel"),
            thread=s("thread"),
            user=s("user"),
            state=state if state in ("open", "closing", "delivered") else "open",  # type: ignore[arg-type]
            body=s("body"),
            checklist=[i for i in _loads(s("checklist"), []) if isinstance(i, dict)],
            checklist_ref=s("checklist_ref"),
            extra=_loads(s("extra"), {}),
        )


def _loads(text: str, empty: Any) -> Any:
    if not text:
        return empty
    try:
        value = json.loads(text)
    except ValueError:
        return empty
    return value if isinstance(value, type(empty)) else empty


def new_id() -> str:
    """A new answer id."""
    return uuid.uuid4().hex


def checklist_items(checklist: Checklist | None) -> list[dict[str, Any]]:
    """A checklist as plain items for the outbox."""
    if checklist is None:
        return []
    return [
        {"account": i.account, "command": i.command, "state": i.state, "ms": i.ms} for i in checklist.items
    ]


class OutboxStore:
    """The outbox table.

    Args:
        table: Partition key ``answer_id``, TTL attribute ``ttl``.
        lease_s: How long an answer stays with the replica showing it without a renewal.
    """

    def __init__(self, table: DynamoTable, *, lease_s: float = LEASE_S) -> None:
        self.table = table
        self.lease_s = lease_s

    async def put(self, parcel: Parcel, *, owner: str = REPLICA) -> bool:
        """Write the parcel and renew its lease; ``False`` when DynamoDB failed (logged, never raised).

        A delivered item is never reopened: a late write of a finished answer changes nothing.
        """
        try:
            await self.table.call(
                "put_item",
                Item=parcel.item(lease_until=time.time() + self.lease_s, owner=owner),
                ConditionExpression="attribute_not_exists(answer_id) OR #s <> :delivered",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":delivered": {"S": "delivered"}},
            )
        except ClientError as e:
            if not is_conditional_failure(e):
                _log_failure("keep the answer", e)
            return False
        except BotoCoreError as e:
            _log_failure("keep the answer", e)
            return False
        return True

    async def claim(self, parcel: Parcel, *, owner: str = REPLICA) -> bool:
        """Create the answer's item unless it exists: the claim of its chat delivery (see :class:`bot.idempotency.Claim`).

        Returns:
            ``False`` when another delivery created it first; ``True`` when this one did, or when
            DynamoDB failed (logged: answering twice beats never answering; later writes keep it).
        """
        try:
            await self.table.call(
                "put_item",
                Item=parcel.item(lease_until=time.time() + self.lease_s, owner=owner),
                ConditionExpression="attribute_not_exists(answer_id)",
            )
        except ClientError as e:
            if is_conditional_failure(e):
                return False
            _log_failure("claim the answer", e)
        except BotoCoreError as e:
            _log_failure("claim the answer", e)
        return True

    async def delivered(self, answer_id: str, also: list[Keep] | None = None) -> None:
        """Mark the answer delivered (failures are logged: the sweeper may then show it once more).

        ``also`` (the answer's feedback record, the person's recent query...) is written in the same
        ``TransactWriteItems`` request; when the transaction is refused (a write's own condition, say),
        the mark and each of those writes are made on their own.
        """
        update = {
            "Key": {"answer_id": {"S": answer_id}},
            "UpdateExpression": "SET #s = :delivered, delivered_at = :now REMOVE pending",
            "ExpressionAttributeNames": {"#s": "state"},
            "ExpressionAttributeValues": {
                ":delivered": {"S": "delivered"},
                ":now": {"N": str(int(time.time()))},
            },
        }
        if also:
            items = [{"Update": {"TableName": self.table.name, **update}}, *(k.action for k in also)]
            try:
                await self.table.call(lambda **_: self.table.client.transact_write_items(TransactItems=items))
                return
            except (BotoCoreError, ClientError) as e:
                code = (
                    e.response.get("Error", {}).get("Code")
                    if isinstance(e, ClientError)
                    else type(e).__name__
                )
                logger.info("delivery transaction refused; writing on its own", extra={"error_code": code})
        try:
            await self.table.call("update_item", **update)
        except (BotoCoreError, ClientError) as e:
            _log_failure("mark the answer delivered", e)
        if also:
            await asyncio.gather(*(k.alone() for k in also))

    async def get(self, answer_id: str) -> Parcel | None:
        """One parcel, or ``None``."""
        out = await self.table.call("get_item", Key={"answer_id": {"S": answer_id}}, ConsistentRead=True)
        item = out.get("Item")
        return Parcel.from_item(item) if item else None

    async def stale(self, *, limit: int = 50) -> list[Parcel]:
        """Undelivered answers whose lease ran out (their renderer is gone or gave up).

        The scan reads the sparse index, so its cost follows the answers in flight, not the table.
        """
        found: list[Parcel] = []
        kwargs: dict[str, Any] = {
            "IndexName": INDEX,
            "FilterExpression": "#s <> :delivered AND lease_until < :now",
            "ExpressionAttributeNames": {"#s": "state"},
            "ExpressionAttributeValues": {
                ":delivered": {"S": "delivered"},
                ":now": {"N": f"{time.time():.3f}"},
            },
        }
        while len(found) < limit:
            out = await self.table.call("scan", **kwargs)
            found += [Parcel.from_item(i) for i in out.get("Items", [])]
            if "LastEvaluatedKey" not in out:
                break
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        return found[:limit]

    async def take(self, answer_id: str, *, owner: str = REPLICA) -> bool:
        """Take an expired lease (one replica wins); ``True`` when this replica now owns the answer."""
        now = time.time()
        try:
            await self.table.call(
                "update_item",
                Key={"answer_id": {"S": answer_id}},
                UpdateExpression="SET lease_until = :until, #o = :me",
                ConditionExpression="#s <> :delivered AND lease_until < :now",
                ExpressionAttributeNames={"#s": "state", "#o": "owner"},
                ExpressionAttributeValues={
                    ":delivered": {"S": "delivered"},
                    ":now": {"N": f"{now:.3f}"},
                    ":until": {"N": f"{now + self.lease_s:.3f}"},
                    ":me": {"S": owner},
                },
            )
        except ClientError as e:
            if is_conditional_failure(e):
                return False
            raise
        return True


def _log_failure(what: str, error: BotoCoreError | ClientError) -> None:
    code = (
        error.response.get("Error", {}).get("Code")
        if isinstance(error, ClientError)
        else type(error).__name__
    )
    logger.warning("outbox write failed", extra={"what": what, "error_code": code})


RUN_PREFIX = "run:"  # outbox items of approved runs: ``run:<approval_id>``


async def begin_run(
    store: OutboxStore,
    *,
    approval_id: str,
    decision: str,
    thread: dict[str, str],
    decider: dict[str, str],
    platform_extra: dict[str, Any] | None = None,
) -> "Journal":
    """Record that an approval's resume is under way (renewed while it runs; see :class:`Sweeper`)."""
    parcel = Parcel(
        answer_id=RUN_PREFIX + approval_id,
        platform=thread.get("platform", decider.get("platform", "")),
        team=thread.get("team", ""),
        channel=thread.get("channel", ""),
        thread=thread.get("thread", ""),
        user=thread.get("user", ""),
        extra={
            "approval_id": approval_id,
            "decision": decision,
            "thread": thread,
            "decider": decider,
            **({"platform": platform_extra} if platform_extra else {}),
        },
    )
    journal = Journal(store, parcel)
    await journal.start()
    return journal


class Journal:
    """One answer's outbox item, kept by the renderer that shows it.

    Writes are paced (at most one per ``every_s``, the last one always) and a
    background task renews the lease while the answer is open, so a long silence
    of the agent never hands a live answer to another replica.
    """

    def __init__(self, store: OutboxStore, parcel: Parcel, *, every_s: float = 1.0) -> None:
        self.store = store
        self.parcel = parcel
        self.every_s = every_s
        self._written_at = 0.0
        self._renew: asyncio.Task[None] | None = None
        self._done = False
        self.also: list[Keep] = []  # written with the delivery mark (see OutboxStore.delivered)

    async def start(self, *, claim: bool = False) -> bool:
        """Write the first item and start renewing the lease.

        Args:
            claim: Create the item only if it does not exist (it claims the chat delivery).

        Returns:
            ``False`` when ``claim`` found the item made by another delivery (nothing is renewed then).
        """
        self._written_at = time.monotonic()
        if claim:
            if not await self.store.claim(self.parcel):
                self._done = True
                return False
        else:
            await self.store.put(self.parcel)
        self._renew = asyncio.create_task(self._renew_lease())
        return True

    async def note(self, **changes: Any) -> None:
        """Record what the answer shows now (paced)."""
        for name, value in changes.items():
            setattr(self.parcel, name, value)
        if time.monotonic() - self._written_at >= self.every_s:
            await self._write()

    async def closing(self, body: str, checklist: list[dict[str, Any]], checklist_ref: str) -> None:
        """The whole answer is known: keep all of it before the last chat writes."""
        self.parcel.state, self.parcel.body, self.parcel.checklist = "closing", body, checklist
        self.parcel.checklist_ref = checklist_ref
        await self._write()

    async def delivered(self) -> None:
        """The answer reached the thread."""
        self._stop()
        self._done = True
        self.parcel.state = "delivered"
        also, self.also = self.also, []
        await self.store.delivered(self.parcel.answer_id, also)

    async def abandon(self) -> None:
        """Stop renewing and let the lease run out now: a sweeper finishes the answer."""
        self._stop()
        also, self.also = self.also, []
        await asyncio.gather(*(k.alone() for k in also))  # the sweeper's mark carries none of them
        if not self._done:
            await self.store.put(self.parcel)  # the latest content, before another replica reads it
            with contextlib.suppress(BotoCoreError, ClientError):
                await self.store.table.call(
                    "update_item",
                    Key={"answer_id": {"S": self.parcel.answer_id}},
                    UpdateExpression="SET lease_until = :now",
                    ConditionExpression="#s <> :delivered",
                    ExpressionAttributeNames={"#s": "state"},
                    ExpressionAttributeValues={
                        ":now": {"N": f"{time.time():.3f}"},
                        ":delivered": {"S": "delivered"},
                    },
                )

    async def _write(self) -> None:
        self._written_at = time.monotonic()
        await self.store.put(self.parcel)

    async def _renew_lease(self) -> None:
        while not self._done:
            await asyncio.sleep(self.store.lease_s / 3)
            if not self._done:
                await self._write()

    def _stop(self) -> None:
        if self._renew is not None:
            self._renew.cancel()
            self._renew = None


@runtime_checkable
class KeepsWithAnswer(Protocol):
    """A renderer whose answer has an outbox item: other writes can ride in its delivery mark."""

    def keep_with_answer(self, keeps: list[Keep]) -> bool:
        """Write ``keeps`` with the delivery mark; ``False`` when this answer has no outbox item."""
        ...


Deliver = Callable[[Parcel], Awaitable[None]]


class Sweeper:
    """Finishes, on this replica, answers whose renderer is gone.

    Args:
        store: The outbox table.
        deliver: Per platform, shows a parcel in its thread (raises when it could not).
        resume: Per platform, resumes an approved run a stopped replica left (``run:`` items); the
            agent runs it at most once and shows the kept result when it already ran.
        every_s: Seconds between two looks at the table.
    """

    def __init__(
        self,
        store: OutboxStore,
        deliver: dict[str, Deliver],
        *,
        resume: dict[str, Deliver] | None = None,
        every_s: float = 5.0,
    ) -> None:
        self.store = store
        self.deliver = deliver
        self.resume = resume or {}
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> int:
        """One pass; how many answers it delivered."""
        try:
            parcels = await self.store.stale()
        except (BotoCoreError, ClientError) as e:
            _log_failure("read the outbox", e)
            return 0
        done = 0
        for parcel in parcels:
            run = parcel.answer_id.startswith(RUN_PREFIX)
            deliver = (self.resume if run else self.deliver).get(parcel.platform)
            if deliver is None:
                continue
            try:
                if not await self.store.take(parcel.answer_id):
                    continue
            except (BotoCoreError, ClientError) as e:
                _log_failure("take the answer", e)
                continue
            log = {"answer_id": parcel.answer_id, "platform": parcel.platform, "state": parcel.state}
            try:
                await deliver(parcel)
            except Exception:
                # Left undelivered: its new lease runs out and the next pass tries again.
                logger.exception("outbox delivery failed; retried later", extra=log)
                continue
            await self.store.delivered(parcel.answer_id)
            logger.info("outbox delivered an unfinished answer", extra=log)
            done += 1
        return done

    def start(self) -> None:
        """Sweep in the background until :meth:`stop`."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stop sweeping."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await self.sweep()
            await asyncio.sleep(self.every_s)
