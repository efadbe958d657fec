"""A lazily created DynamoDB client shared by the bot's small table wrappers.

boto3 is synchronous; calls run in a worker thread so the event loop keeps
acknowledging Slack within its 3 seconds.
"""

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from centralops.errors import CentralOpsError

logger = logging.getLogger(__name__)

_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize


class StorageError(CentralOpsError):
    """The bot's state store (DynamoDB) failed."""

    code = "storage"


class DynamoTable:
    """One DynamoDB table, with a client injected or created on first use.

    Args:
        name: Physical table name.
        client: A boto3 DynamoDB client; created lazily when omitted.
        region: Region for the lazily created client.
        endpoint_url: Endpoint override (the local moto server).
    """

    def __init__(
        self, name: str, *, client: Any = None, region: str = "us-east-1", endpoint_url: str | None = None
    ) -> None:
        self.name = name
        self._client = client
        self._region = region
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()
        self._origin: DynamoTable | None = None

    def sibling(self, name: str) -> "DynamoTable":
        """Another table on this one's client (injected, or created once on first use by either)."""
        other = DynamoTable(name, region=self._region, endpoint_url=self._endpoint_url)
        other._origin = self._origin or self
        return other

    @property
    def client(self) -> Any:
        """The boto3 client."""
        if self._origin is not None:
            return self._origin.client
        with self._lock:  # boto3's default session is not safe for concurrent client creation
            if self._client is None:
                self._client = boto3.session.Session().client(
                    "dynamodb", region_name=self._region, endpoint_url=self._endpoint_url
                )
        return self._client

    async def call(self, operation: str | Callable[..., Any], **kwargs: Any) -> Any:
        """Run ``operation(TableName=name, **kwargs)`` in a worker thread; ``ClientError`` passes through.

        Args:
            operation: A client method name (``"put_item"``), or a bound client method.
            **kwargs: The operation's parameters other than ``TableName``.

        Given by name, the client is created (on first use) in the worker thread too:
        building a boto3 client costs tens of milliseconds the event loop should spend
        acknowledging chat platforms.
        """

        def run() -> Any:
            method = getattr(self.client, operation) if isinstance(operation, str) else operation
            return method(TableName=self.name, **kwargs)

        return await asyncio.to_thread(run)


@dataclass(frozen=True)
class Keep:
    """A best-effort write that can ride along in another write's transaction.

    Attributes:
        action: One ``TransactWriteItems`` entry (``{"Put": {...}}`` or ``{"Update": {...}}``,
            naming its table).
        alone: The same write on its own (with whatever fallback it needs), used when the
            transaction could not take it; never raises.
    """

    action: dict[str, Any]
    alone: Callable[[], Awaitable[None]]


def to_attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    """A plain item (``str``, ``int``, ``list``, ``dict``...) as DynamoDB attribute values."""
    return {k: _serialize(v) for k, v in item.items()}


def from_attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values as a plain item (numbers come back as ``Decimal``)."""
    return {k: _deserialize(v) for k, v in item.items()}


def is_conditional_failure(error: ClientError) -> bool:
    """Whether a ``ClientError`` is a failed condition expression."""
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def storage_error(
    error: BotoCoreError | ClientError, what: str, kind: type[CentralOpsError] = StorageError
) -> CentralOpsError:
    """Translate a boto error into a message a person can act on (and log what it was).

    Args:
        error: What boto raised.
        what: What CentralOps was doing, as the person reads it (``"read the approval"``).
        kind: The error to raise (a part with its own error type keeps it).
    """
    code = (
        error.response.get("Error", {}).get("Code")
        if isinstance(error, ClientError)
        else type(error).__name__
    )
    logger.warning("dynamodb call failed", extra={"what": what, "error_code": code})
    return kind(f"CentralOps could not {what} (its database did not answer). Try again in a minute.")
