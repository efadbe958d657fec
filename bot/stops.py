"""Stop: the person who asked ends the agent's turn while the answer streams.

A turn that can be stopped is recorded in the idempotency table
(``turn#{id}``: who asked, ``running``); a Stop click on any replica marks it
``stop`` with one conditional update, and the replica streaming the answer
learns it at once when the click lands on it, else within :data:`POLL_S`
(one consistent read per poll while the answer streams). The core then closes
the Runtime stream — the agent's turn ends as on any client disconnect — and
denies any approval that turn asked for, so nothing it started can be approved
later.

Only questions are stoppable. The turn that runs an approved change is never
offered a Stop: the bridge runs it in every account in one call, and its result
always reaches the person.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import (
    Any,
    Literal,
)

from botocore.exceptions import BotoCoreError, ClientError

from bot.chat import ChatUser
from bot.dynamo import DynamoTable, is_conditional_failure, storage_error

logger = logging.getLogger(__name__)

POLL_S = 2.0
TTL_S = 24 * 3600
Outcome = Literal["stopping", "finished", "not_yours"]
REPLIES: dict[Outcome, str] = {
    "stopping": "Stopping this answer…",
    "finished": "This answer has already finished, so there is nothing to stop.",
    "not_yours": "Only the person who asked can stop this answer.",
}
"""What the person who clicked Stop is told, on every platform."""


def _key(turn_id: str) -> dict[str, dict[str, str]]:
    return {"key": {"S": f"turn#{turn_id[:64]}"}}


class StopSwitch:
    """Stoppable turns, shared by every replica through DynamoDB.

    Args:
        table: The idempotency table.
        poll_s: How often a streaming answer looks for a Stop from another replica.
    """

    def __init__(self, table: DynamoTable, *, poll_s: float = POLL_S) -> None:
        self.table = table
        self.poll_s = poll_s
        self._local: dict[str, asyncio.Event] = {}

    @staticmethod
    def new_id() -> str:
        """A fresh turn id (what a Stop button carries)."""
        return uuid.uuid4().hex

    async def request(self, turn_id: str, who: ChatUser) -> Outcome:
        """A Stop click by ``who``: only the person who asked may stop, and only a running turn."""
        try:
            await self.table.call(
                "update_item",
                Key=_key(turn_id),
                UpdateExpression="SET #s = :stop, stopped_at = :now",
                ConditionExpression="#s = :running AND #p = :p AND #t = :t AND #u = :u",
                ExpressionAttributeNames={"#s": "state", "#p": "platform", "#t": "team", "#u": "user"},
                ExpressionAttributeValues={
                    ":stop": {"S": "stop"},
                    ":running": {"S": "running"},
                    ":now": {"N": str(int(time.time()))},
                    ":p": {"S": who.platform},
                    ":t": {"S": who.team},
                    ":u": {"S": who.user},
                },
            )
        except ClientError as e:
            if not is_conditional_failure(e):
                raise storage_error(e, "stop this answer") from e
            return await self._why_not(turn_id, who)
        except BotoCoreError as e:
            raise storage_error(e, "stop this answer") from e
        local = self._local.get(turn_id)
        if local is not None:
            local.set()
        logger.info("stop requested", extra={"turn_id": turn_id[:64], "platform": who.platform})
        return "stopping"

    async def _why_not(self, turn_id: str, who: ChatUser) -> Outcome:
        try:
            out = await self.table.call("get_item", Key=_key(turn_id), ConsistentRead=True)
        except (BotoCoreError, ClientError) as e:
            raise storage_error(e, "stop this answer") from e
        item = out.get("Item") or {}
        if item.get("state", {}).get("S") == "running" and item.get("user", {}).get("S") != who.user:
            return "not_yours"
        return "finished"

    @contextlib.asynccontextmanager
    async def watch(self, turn_id: str, who: ChatUser) -> AsyncIterator[asyncio.Event]:
        """Record a stoppable turn for the block; the event is set when its person asks to stop.

        The record is written while the answer starts (the question is not held back for it).
        """
        stop = asyncio.Event()
        recorded = asyncio.create_task(self._record(turn_id, who))
        self._local[turn_id] = stop
        poller = asyncio.create_task(self._poll(turn_id, stop, recorded))
        try:
            yield stop
        finally:
            poller.cancel()
            self._local.pop(turn_id, None)
            if await recorded:
                with contextlib.suppress(BotoCoreError, ClientError):
                    await self.table.call(
                        "update_item",
                        Key=_key(turn_id),
                        UpdateExpression="SET #s = :done",
                        ExpressionAttributeNames={"#s": "state"},
                        ExpressionAttributeValues={":done": {"S": "finished"}},
                    )

    async def _record(self, turn_id: str, who: ChatUser) -> bool:
        try:
            await self.table.call(
                "put_item",
                Item={
                    **_key(turn_id),
                    "state": {"S": "running"},
                    "platform": {"S": who.platform},
                    "team": {"S": who.team},
                    "user": {"S": who.user},
                    "ttl": {"N": str(int(time.time()) + TTL_S)},
                },
            )
        except (BotoCoreError, ClientError) as e:
            # Without the record nobody can stop this answer; it still answers.
            logger.warning("turn not recorded; it cannot be stopped", extra={"error": type(e).__name__})
            return False
        return True

    async def _poll(self, turn_id: str, stop: asyncio.Event, recorded: "asyncio.Task[bool]") -> None:
        if not await recorded:
            return
        while not stop.is_set():
            await asyncio.sleep(self.poll_s)
            try:
                out = await self.table.call("get_item", Key=_key(turn_id), ConsistentRead=True)
            except (BotoCoreError, ClientError) as e:
                logger.warning("stop not checked", extra={"error": type(e).__name__})
                continue
            if (out.get("Item") or {}).get("state", {}).get("S") == "stop":
                stop.set()


async def until_stopped(events: AsyncIterator[Any], stop: asyncio.Event) -> AsyncGenerator[Any, None]:
    """The events of ``events`` until ``stop`` is set; then the pending read is cancelled.

    Cancelling the read inside the Runtime client's stream closes its HTTP
    response, which ends the agent's turn as a client disconnect does.
    """
    halt = asyncio.ensure_future(stop.wait())
    try:
        while True:
            read = asyncio.ensure_future(anext(events))
            done, _ = await asyncio.wait({read, halt}, return_when=asyncio.FIRST_COMPLETED)
            if read not in done:
                read.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await read
                return
            try:
                event = read.result()
            except StopAsyncIteration:
                return
            yield event
    finally:
        halt.cancel()
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(RuntimeError):
                await aclose()
