"""Claim a chat event once, across every bot replica (a conditional put with a TTL)."""

import logging
import time

from botocore.exceptions import BotoCoreError, ClientError

from bot.dynamo import DynamoTable, is_conditional_failure, storage_error

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
