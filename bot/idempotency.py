"""Claim a chat event once, across every bot replica (a conditional put with a TTL, or the answer's outbox item)."""

import hashlib
import logging
import time
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from bot.dynamo import DynamoTable, is_conditional_failure, storage_error
from centralops.errors import CentralOpsError

logger = logging.getLogger(__name__)


class IdempotencyGuard:
    """Claims keys in the idempotency table; the first claimer wins.

    Args:
        table: The idempotency table (partition key ``key``, TTL attribute ``ttl``).
        ttl_s: How long a claim is remembered (Slack retries within minutes).
    """

    def __init__(self, table: DynamoTable, *, ttl_s: int = 24 * 3600) -> None:
        self.table = table
        self.ttl_s = ttl_s

    async def claim(self, key: str) -> bool:
        """Claim ``key``; ``False`` when another delivery (or replica) already did.

        Raises:
            StorageError: DynamoDB failed; the caller should not answer twice by guessing.
        """
        now = int(time.time())
        try:
            await self.table.call(
                "put_item",
                Item={"key": {"S": key}, "ttl": {"N": str(now + self.ttl_s)}, "claimed_at": {"N": str(now)}},
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": "key"},
            )
        except ClientError as e:
            if is_conditional_failure(e):
                logger.info("duplicate delivery ignored", extra={"key": key})
                return False
            raise storage_error(e, "record this message") from e
        except BotoCoreError as e:
            raise storage_error(e, "record this message") from e
        return True


class DuplicateDelivery(Exception):
    """Another delivery (or replica) already claimed this message: nothing more is shown for it."""


def duplicate(key: str) -> DuplicateDelivery:
    """The signal for a delivery found claimed by its answer's outbox item (logged as the guard does)."""
    logger.info("duplicate delivery ignored", extra={"key": key})
    return DuplicateDelivery(key)


@dataclass
class Claim:
    """A chat delivery not claimed yet: its first visible write claims it.

    An answer with an outbox item is claimed by creating that item (one conditional write, see
    :meth:`bot.outbox.OutboxStore.claim`); anything else it shows first (a sign-in prompt, a busy
    notice) claims it in the idempotency table.

    Attributes:
        key: The delivery's idempotency key (``slack:<team>:event:<event_id>``).
        guard: The idempotency table.
        done: Whether the claim was made (by either way).
    """

    key: str
    guard: IdempotencyGuard
    done: bool = False

    @property
    def answer_id(self) -> str:
        """The outbox id of the answer to this delivery: the same for every delivery of it."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:32]

    async def plain(self) -> None:
        """Claim in the idempotency table, once.

        Raises:
            DuplicateDelivery: Another delivery claimed it first.
        """
        if self.done:
            return
        self.done = True
        try:
            first = await self.guard.claim(self.key)
        except CentralOpsError:
            # Answering twice beats never answering when the table is down.
            logger.exception("idempotency claim failed; handling anyway", extra={"key": self.key})
            return
        if not first:
            raise DuplicateDelivery(self.key)
