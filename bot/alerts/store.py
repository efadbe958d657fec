"""The alerts table: channel subscriptions, one record per alert message, digests and rate windows.

One DynamoDB table (partition key ``key``, TTL ``ttl``) keeps, keyed apart:

- ``subscriptions`` — every subscription, a map by ``sub#{platform}#{team}#{channel}#{id}``
  (see :class:`Subscription`), read with one ``GetItem``;
- ``msg#{platform}#{team}#{channel}#{subject}`` — the message showing one alert subject in one
  channel: its chat reference, the alert as last shown, the event ids already applied, mute;
- ``digest#{platform}#{team}#{channel}#{minute}`` — the grouped message of one channel and minute;
- ``rate#{platform}#{team}#{channel}#{minute}`` — how many alerts the channel got that minute;
- ``teams-service#{tenant}`` — the Bot Connector service URL of a Teams tenant (for posting unasked).

A message record that is shown carries ``thread`` = ``{platform}#{team}#{channel}#{ref}``, the key of
the sparse index ``by-thread``: a reply in an alert's thread finds its alert with one ``Query``.

Every replica reads and writes the same items, so any of them can post, edit or
answer a click, and a restart loses nothing.
"""

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from bot.dynamo import DynamoTable, is_conditional_failure, storage_error

logger = logging.getLogger(__name__)

_ser = TypeSerializer().serialize
_de = TypeDeserializer().deserialize

MESSAGE_TTL_S = 14 * 86400
SUBSCRIPTIONS = "subscriptions"
THREAD_INDEX = "by-thread"
EVENT_IDS_KEPT = 50


def _item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser(v) for k, v in values.items() if v is not None}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _de(v) for k, v in item.items()}


def _num(value: Any, default: float = 0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class Place:
    """A channel on a platform (a Slack channel, a Teams channel or chat)."""

    platform: str
    team: str
    channel: str

    @property
    def key(self) -> str:
        """``platform#team#channel``."""
        return f"{self.platform}#{self.team}#{self.channel}"


@dataclass(frozen=True)
class Subscription:
    """What one channel wants to hear about.

    Empty ``accounts`` and ``environments`` mean every registered account; empty
    ``kinds`` every kind of event.
    """

    place: Place
    accounts: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    min_severity: str = "low"
    created_by: str = ""
    created_at: int = 0

    @property
    def sub_id(self) -> str:
        """The same selection always has the same id: subscribing twice replaces, never doubles."""
        raw = "|".join(
            [
                ",".join(sorted(self.accounts)),
                ",".join(sorted(self.environments)),
                ",".join(sorted(self.kinds)),
            ]
        )
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    @property
    def key(self) -> str:
        """The item key."""
        return f"sub#{self.place.key}#{self.sub_id}"

    def to_item(self) -> dict[str, Any]:
        """Plain values of the item."""
        return {
            "key": self.key,
            "platform": self.place.platform,
            "team": self.place.team,
            "channel": self.place.channel,
            "accounts": list(self.accounts),
            "environments": list(self.environments),
            "kinds": list(self.kinds),
            "min_severity": self.min_severity,
            "created_by": self.created_by,
            "created_at": self.created_at,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "Subscription":
        """Read an item (plain values)."""
        return cls(
            Place(str(item["platform"]), str(item["team"]), str(item["channel"])),
            tuple(str(a) for a in item.get("accounts") or ()),
            tuple(str(e) for e in item.get("environments") or ()),
            tuple(str(k) for k in item.get("kinds") or ()),
            str(item.get("min_severity") or "low"),
            str(item.get("created_by") or ""),
            int(_num(item.get("created_at"))),
        )


@dataclass
class MessageRecord:
    """The message showing one alert subject in one channel."""

    key: str
    place: Place
    alert: dict[str, Any]
    ref: str = ""  # Slack ts / Teams activity id; empty while the first post is under way
    digest: str = ""  # the digest item's key when the alert is shown grouped
    events: list[str] = field(default_factory=list)
    changes: int = 1
    first_at: float = 0.0
    state_time: str = ""  # the newest state's time shown (ISO 8601): older events never overwrite it
    resolved_at: float = 0.0
    muted_until: float = 0.0
    muted_by: str = ""
    claimed_at: float = 0.0

    def to_item(self) -> dict[str, Any]:
        """Plain values of the item."""
        return {
            "key": self.key,
            "platform": self.place.platform,
            "team": self.place.team,
            "channel": self.place.channel,
            "alert": self.alert,
            "ref": self.ref,
            "digest": self.digest,
            "events": self.events[-EVENT_IDS_KEPT:],
            "changes": self.changes,
            "first_at": str(self.first_at),
            "state_time": self.state_time,
            "resolved_at": str(self.resolved_at),
            "muted_until": str(self.muted_until),
            "muted_by": self.muted_by,
            "claimed_at": str(self.claimed_at),
            "thread": thread_key(self.place, self.ref) if self.ref else None,
            "ttl": int(time.time()) + MESSAGE_TTL_S,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "MessageRecord":
        """Read an item (plain values)."""
        return cls(
            key=str(item["key"]),
            place=Place(str(item["platform"]), str(item["team"]), str(item["channel"])),
            alert=dict(item.get("alert") or {}),
            ref=str(item.get("ref") or ""),
            digest=str(item.get("digest") or ""),
            events=[str(e) for e in item.get("events") or ()],
            changes=int(_num(item.get("changes"), 1)),
            first_at=_num(item.get("first_at")),
            state_time=str(item.get("state_time") or ""),
            resolved_at=_num(item.get("resolved_at")),
            muted_until=_num(item.get("muted_until")),
            muted_by=str(item.get("muted_by") or ""),
            claimed_at=_num(item.get("claimed_at")),
        )


def thread_key(place: Place, ref: str) -> str:
    """The ``by-thread`` index key of the message ``ref`` (Slack ts, Teams activity id) in ``place``."""
    return f"{place.key}#{ref}"


def message_key(place: Place, subject_key: str) -> str:
    """The item key of the message showing ``subject_key`` in ``place``."""
    return f"msg#{place.key}#{subject_key}"


class AlertStore:
    """Reads and writes the alerts table.

    Args:
        table: The alerts table.
    """

    def __init__(self, table: DynamoTable) -> None:
        self.table = table

    def _batch_get(self, TableName: str, **kwargs: Any) -> Any:
        """``BatchGetItem`` names its tables inside the request; :meth:`Table.call` adds one more."""
        del TableName
        return self.table.client.batch_get_item(**kwargs)

    async def _call(self, what: str, operation: str | Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return await self.table.call(operation, **kwargs)
        except ClientError as e:
            if is_conditional_failure(e):
                raise
            raise storage_error(e, what) from e
        except BotoCoreError as e:
            raise storage_error(e, what) from e

    # -- subscriptions -------------------------------------------------------------

    async def subscriptions(self, place: Place | None = None) -> list[Subscription]:
        """Every subscription, or those of one channel: one read of the ``subscriptions`` item.

        All subscriptions live in one item, as a map by channel and selection, so matching an
        alert never scans the table (which holds every alert message too); each change is one
        atomic ``SET`` or ``REMOVE`` of its map entry.
        """
        got = await self._call(
            "read the alert subscriptions", "get_item", Key={"key": {"S": SUBSCRIPTIONS}}, ConsistentRead=True
        )
        subs = _plain(got.get("Item", {})).get("subs") or {}
        out = [Subscription.from_item(v) for v in subs.values() if isinstance(v, dict)]
        if place is not None:
            out = [s for s in out if s.place == place]
        return sorted(out, key=lambda s: (s.created_at, s.key))

    async def put_subscription(self, sub: Subscription) -> None:
        """Add (or replace) a subscription."""
        try:
            await self._put_entry(sub)
        except ClientError as e:
            if not is_conditional_failure(e):
                raise
            # The first subscription ever: create the item, then set the entry.
            try:
                await self._call(
                    "save the subscription",
                    "put_item",
                    Item=_item({"key": SUBSCRIPTIONS, "subs": {}}),
                    ConditionExpression="attribute_not_exists(#k)",
                    ExpressionAttributeNames={"#k": "key"},
                )
            except ClientError as again:
                if not is_conditional_failure(again):
                    raise
            await self._put_entry(sub)

    async def _put_entry(self, sub: Subscription) -> None:
        await self._call(
            "save the subscription",
            "update_item",
            Key={"key": {"S": SUBSCRIPTIONS}},
            UpdateExpression="SET subs.#id = :sub",
            ConditionExpression="attribute_exists(subs)",
            ExpressionAttributeNames={"#id": sub.key},
            ExpressionAttributeValues={":sub": _ser(sub.to_item())},
        )

    async def delete_subscription(self, sub: Subscription) -> None:
        """Remove a subscription."""
        await self._call(
            "remove the subscription",
            "update_item",
            Key={"key": {"S": SUBSCRIPTIONS}},
            UpdateExpression="REMOVE subs.#id",
            ExpressionAttributeNames={"#id": sub.key},
        )

    # -- messages ------------------------------------------------------------------

    async def message(self, key: str) -> MessageRecord | None:
        """The message record, if any."""
        got = await self._call(
            "read the alert's message", "get_item", Key={"key": {"S": key}}, ConsistentRead=True
        )
        return MessageRecord.from_item(_plain(got["Item"])) if "Item" in got else None

    async def message_in_thread(self, place: Place, ref: str) -> MessageRecord | None:
        """The record of the alert message ``ref`` in ``place`` (one ``Query`` of the ``by-thread`` index)."""
        got = await self._call(
            "find the alert of this thread",
            "query",
            IndexName=THREAD_INDEX,
            KeyConditionExpression="#t = :t",
            ExpressionAttributeNames={"#t": "thread"},
            ExpressionAttributeValues={":t": {"S": thread_key(place, ref)}},
            Limit=1,
        )
        items = got.get("Items") or []
        return MessageRecord.from_item(_plain(items[0])) if items else None

    async def messages(self, keys: list[str]) -> dict[str, MessageRecord]:
        """Several message records at once (BatchGetItem, 100 keys a call), by key."""
        out: dict[str, MessageRecord] = {}
        for at in range(0, len(keys), 100):
            request: dict[str, Any] = {
                self.table.name: {"Keys": [{"key": {"S": k}} for k in dict.fromkeys(keys[at : at + 100])]}
            }
            for _ in range(5):  # unprocessed keys are asked again (throttling)
                got = await self._call("read the alert messages", self._batch_get, RequestItems=request)
                for raw in got.get("Responses", {}).get(self.table.name, []):
                    record = MessageRecord.from_item(_plain(raw))
                    out[record.key] = record
                request = got.get("UnprocessedKeys") or {}
                if not request:
                    break
        return out

    async def claim_message(self, record: MessageRecord) -> bool:
        """Create the record before its first post; ``False`` when one exists already."""
        try:
            await self._call(
                "record the alert",
                "put_item",
                Item=_item(record.to_item()),
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": "key"},
            )
        except ClientError as e:
            if is_conditional_failure(e):
                return False
            raise
        return True

    async def save_message(self, record: MessageRecord) -> None:
        """Write the record as it is now."""
        await self._call("record the alert", "put_item", Item=_item(record.to_item()))

    # -- digests and rate windows ----------------------------------------------------

    async def count(self, key: str, ttl_s: int = 3600) -> int:
        """Add one to a counter; its new value."""
        got = await self._call(
            "count the channel's alerts",
            "update_item",
            Key={"key": {"S": key}},
            UpdateExpression="ADD #n :one SET #t = :ttl",
            ExpressionAttributeNames={"#n": "n", "#t": "ttl"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":ttl": {"N": str(int(time.time()) + ttl_s)}},
            ReturnValues="UPDATED_NEW",
        )
        return int(got["Attributes"]["n"]["N"])

    async def get(self, key: str) -> dict[str, Any] | None:
        """Any item, as plain values."""
        got = await self._call(
            "read the alerts table", "get_item", Key={"key": {"S": key}}, ConsistentRead=True
        )
        return _plain(got["Item"]) if "Item" in got else None

    async def put(self, values: dict[str, Any]) -> None:
        """Write any item (plain values; a TTL of two weeks is added when it has none)."""
        values = {"ttl": int(time.time()) + MESSAGE_TTL_S, **values}
        await self._call("write the alerts table", "put_item", Item=_item(values))
