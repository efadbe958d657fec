"""Conversation memory: one DynamoDB item per chat thread, read once and written once per turn.

The item (partition key ``thread_id``, a key-safe form of the session id)
holds the thread's recent messages as a list of JSON strings, newest last,
and a ``ttl``. A model turn reads the item once before the model runs
(:meth:`ThreadMemory.load`, a consistent ``GetItem``) and writes it once after
the answer has been streamed (:meth:`ThreadMemory.save`, one ``PutItem``). A
direct command needs no history, so it only appends its exchange
(:meth:`ThreadMemory.append`, one ``UpdateItem`` with ``list_append``), also
after its answer is out. So "and in production?" is understood in the same
thread, also after the agent restarts, at one request before the first text
of a model answer and none before a direct one.

The item stays small: at most :data:`MAX_MESSAGES` messages, long tool
results and answers cut to :data:`MAX_TEXT_CHARS`, and a history always
starts with a person's question (a tool result is never kept without the call
it answers).
"""

import hashlib
import json
import logging
import re
import threading
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from strands.types.content import Message

from centralops.errors import CentralOpsError

logger = logging.getLogger("centralops.agent.memory")

MAX_MESSAGES = 40
MAX_TEXT_CHARS = 4_000
TTL_S = 30 * 24 * 3600
_SAFE = re.compile(r"^[A-Za-z0-9._:=@+-]{1,200}$")
CUT = "\n[cut: the full output was shown in the thread]"


def storage_id(session_id: str) -> str:
    """A key-safe form of a session id (hashed when it holds separators or odd characters)."""
    if _SAFE.match(session_id) and session_id not in {".", ".."}:
        return session_id
    return "h-" + hashlib.sha256(session_id.encode()).hexdigest()[:40]


class MemoryUnavailableError(CentralOpsError):
    """The conversation could not be saved."""

    code = "memory_unavailable"


NOT_SAVED = (
    "The answer above is complete, but this conversation could not be saved; "
    "a follow-up in this thread may not remember it. Ask it in full if it does not."
)
NOT_READ = (
    "I could not read this thread's earlier messages, so I answered this question on its own. "
    "If it follows up on an earlier one, ask it in full."
)


def _shrink(value: Any) -> Any:
    """The value with every long text cut to :data:`MAX_TEXT_CHARS` (tool results, answers)."""
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT_CHARS else value[:MAX_TEXT_CHARS] + CUT
    if isinstance(value, list):
        return [_shrink(v) for v in value]
    if isinstance(value, dict):
        return {k: _shrink(v) for k, v in value.items()}
    return value


def _is_question(message: Message) -> bool:
    return message["role"] == "user" and any("text" in block for block in message["content"])


def trim(messages: list[Message]) -> list[Message]:
    """The most recent messages to keep: at most :data:`MAX_MESSAGES`, starting at a question."""
    kept = list(messages[-MAX_MESSAGES:])
    while kept and not _is_question(kept[0]):
        kept.pop(0)
    return [_shrink(m) for m in kept]


def _decode(item: dict[str, Any]) -> list[Message]:
    out: list[Message] = []
    for raw in item.get("messages", {}).get("L", []):
        try:
            message = json.loads(raw["S"])
        except (KeyError, TypeError, ValueError):
            continue
        if isinstance(message, dict) and message.get("role") in {"user", "assistant"}:
            out.append(message)  # type: ignore[arg-type]
    return out


def _encode(messages: list[Message]) -> dict[str, Any]:
    return {"L": [{"S": json.dumps(m, separators=(",", ":"), default=str)} for m in messages]}


class ThreadMemory:
    """The memory table, one item per thread.

    Args:
        table_name: The memory table (partition key ``thread_id``, TTL attribute ``ttl``).
        client: A boto3 DynamoDB client; created lazily when omitted.
        region: Region of the lazily created client.
        endpoint_url: Endpoint of the lazily created client (moto locally).
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.table_name = table_name
        self._client = client
        self._region = region
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The DynamoDB client (created on first use; creation is not thread-safe, hence the lock)."""
        with self._lock:
            if self._client is None:
                import boto3

                self._client = boto3.session.Session().client(
                    "dynamodb", region_name=self._region, endpoint_url=self._endpoint_url
                )
            return self._client

    def _key(self, session_id: str) -> dict[str, Any]:
        return {"thread_id": {"S": storage_id(session_id)}}

    def load(self, session_id: str) -> list[Message]:
        """The thread's recent messages, oldest first (one consistent ``GetItem``).

        Raises:
            MemoryUnavailableError: The table could not be read.
        """
        try:
            out = self.client.get_item(
                TableName=self.table_name, Key=self._key(session_id), ConsistentRead=True
            )
        except (BotoCoreError, ClientError) as e:
            logger.warning("memory read failed", extra={"error": str(e)})
            raise MemoryUnavailableError(NOT_READ) from e
        return trim(_decode(out.get("Item") or {}))

    def save(self, session_id: str, messages: list[Message]) -> None:
        """Replace the thread's messages with the most recent of ``messages`` (one ``PutItem``).

        Raises:
            MemoryUnavailableError: The write failed.
        """
        item = {
            **self._key(session_id),
            "messages": _encode(trim(messages)),
            "ttl": {"N": str(int(time.time()) + TTL_S)},
        }
        try:
            self.client.put_item(TableName=self.table_name, Item=item)
        except (BotoCoreError, ClientError) as e:
            logger.warning("memory write failed", extra={"error": str(e)})
            raise MemoryUnavailableError(NOT_SAVED) from e

    def append(self, session_id: str, prompt: str, answer: str) -> None:
        """Add a question and its answer without reading the thread (one ``UpdateItem``).

        When the thread already holds :data:`MAX_MESSAGES` messages the append
        is refused by its condition, and the thread is read, trimmed and
        written instead (rare: once every few dozen turns of a long thread).

        Raises:
            MemoryUnavailableError: The exchange could not be saved.
        """
        exchange: list[Message] = [
            {"role": "user", "content": [{"text": prompt}]},
            {"role": "assistant", "content": [{"text": answer}]},
        ]
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=self._key(session_id),
                UpdateExpression="SET #m = list_append(if_not_exists(#m, :empty), :new), #t = :ttl",
                ConditionExpression="attribute_not_exists(#m) OR size(#m) < :max",
                ExpressionAttributeNames={"#m": "messages", "#t": "ttl"},
                ExpressionAttributeValues={
                    ":empty": {"L": []},
                    ":new": _encode([_shrink(m) for m in exchange]),
                    ":ttl": {"N": str(int(time.time()) + TTL_S)},
                    ":max": {"N": str(MAX_MESSAGES)},
                },
            )
            return
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                logger.warning("memory append failed", extra={"error": str(e)})
                raise MemoryUnavailableError(NOT_SAVED) from e
        except BotoCoreError as e:
            logger.warning("memory append failed", extra={"error": str(e)})
            raise MemoryUnavailableError(NOT_SAVED) from e
        try:
            history = self.load(session_id)
        except MemoryUnavailableError as e:
            raise MemoryUnavailableError(NOT_SAVED) from e
        self.save(session_id, [*history, *exchange])
