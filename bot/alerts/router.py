"""Which channels hear about an alert, and how: a new message, an edit, or a line in the minute's digest.

For each channel whose subscriptions match, :class:`AlertRouter` keeps one
message per alert subject (an alarm, a finding, a task...):

- the first event posts a message; later events **edit** it (an alarm back to OK
  edits its message, it never posts another);
- a subject that comes back within :data:`REOPEN_S` of resolving reuses its
  message and says how often it changed state (a flapping alarm is one message);
- an event already applied (SQS delivers at least once) or older than the state
  shown changes nothing;
- a channel gets at most ``per_minute`` new messages a minute; later alerts of
  that minute are grouped into one digest message, posted when the minute ends,
  which says how many it holds. Nothing is dropped without a word.
"""

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.alerts.events import Alert, severity_rank
from bot.alerts.store import AlertStore, MessageRecord, Place, Subscription, message_key
from centralops.accounts import AccountItem
from centralops.errors import CentralOpsError

logger = logging.getLogger(__name__)

REOPEN_S = 3600.0
"""A subject that fires again within this long after resolving reuses its message."""
CLAIM_STALE_S = 120.0
"""A first post that did not finish in this long is taken over by the next delivery."""
SUBSCRIPTIONS_TTL_S = 10.0


class DeliveryError(CentralOpsError):
    """The chat platform did not take the message; the event is retried (it stays on the queue)."""

    code = "alert_delivery"


@dataclass(frozen=True)
class AlertView:
    """What one alert message shows."""

    alert: Alert
    account_name: str
    environment: str
    record_key: str
    changes: int = 1
    first_at: float = 0.0
    muted_until: float = 0.0
    muted_by: str = ""

    @property
    def flapping(self) -> bool:
        """The subject changed state more than twice while this message showed it."""
        return self.changes > 2


@dataclass(frozen=True)
class DigestEntry:
    """One alert in a digest."""

    record_key: str
    kind: str
    title: str
    state: str
    account_id: str
    account_name: str
    region: str
    time: float


@dataclass(frozen=True)
class DigestView:
    """The grouped alerts of one channel and minute."""

    minute: int
    entries: tuple[DigestEntry, ...]

    @property
    def window(self) -> str:
        """``13:05-13:06 UTC``."""
        start = datetime.fromtimestamp(self.minute * 60, UTC)
        end = datetime.fromtimestamp(self.minute * 60 + 60, UTC)
        return f"{start:%H:%M}-{end:%H:%M} UTC"


class Poster(Protocol):
    """How one platform shows alerts in a channel."""

    async def post(self, place: Place, view: AlertView) -> str:
        """Post a new alert message; its reference (Slack ``ts``, Teams activity id)."""
        ...

    async def update(self, place: Place, ref: str, view: AlertView) -> None:
        """Edit an alert message in place."""
        ...

    async def post_digest(self, place: Place, view: DigestView) -> str:
        """Post a digest message; its reference."""
        ...

    async def update_digest(self, place: Place, ref: str, view: DigestView) -> None:
        """Edit a digest message."""
        ...


def matches(sub: Subscription, alert: Alert, account: AccountItem, *, with_severity: bool = True) -> bool:
    """Whether ``sub`` covers ``alert`` from ``account``."""
    scoped = not sub.accounts and not sub.environments
    in_scope = scoped or account.account_id in sub.accounts or account.environment in sub.environments
    if not in_scope or (sub.kinds and alert.kind not in sub.kinds):
        return False
    return not with_severity or severity_rank(alert.severity) >= severity_rank(sub.min_severity)


@dataclass
class _Digest:
    entries: list[tuple[MessageRecord, DigestEntry]] = field(default_factory=list)
    done: asyncio.Future[None] | None = None


class AlertRouter:
    """Delivers alerts to the subscribed channels of every platform.

    Args:
        store: The alerts table.
        posters: One :class:`Poster` per platform (``slack``, ``teams``).
        per_minute: New messages a channel gets in one minute before alerts are grouped.
        clock: Seconds since the epoch (tests move it).
        digest_delay_s: How long after its minute ends a digest is posted.
    """

    def __init__(
        self,
        store: AlertStore,
        posters: dict[str, Poster],
        *,
        per_minute: int = 5,
        clock: Callable[[], float] = time.time,
        digest_delay_s: float = 1.0,
    ) -> None:
        self.store = store
        self.posters = posters
        self.per_minute = per_minute
        self.clock = clock
        self.digest_delay_s = digest_delay_s
        self.edit_delay_s = 1.0  # edits of one digest within this long share one chat call
        self._subs: tuple[float, list[Subscription]] | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._digests: dict[tuple[str, int], _Digest] = {}
        self._refreshes: dict[str, asyncio.Future[None]] = {}

    def forget_subscriptions(self) -> None:
        """Read the subscriptions again on the next alert (after a change in this replica)."""
        self._subs = None

    async def subscriptions(self) -> list[Subscription]:
        """Every subscription, cached for a few seconds (other replicas' changes arrive within that)."""
        now = time.monotonic()
        if self._subs is None or now - self._subs[0] > SUBSCRIPTIONS_TTL_S:
            self._subs = (now, await self.store.subscriptions())
        return self._subs[1]

    async def deliver(self, alert: Alert, account: AccountItem) -> int:
        """Show ``alert`` in every channel that asked for it; how many channels it reached.

        Raises:
            DeliveryError: A platform refused or failed; the caller retries the whole event
                (channels that already show it ignore the repeat).
            StorageError: The alerts table failed.
        """
        full: dict[Place, bool] = {}
        for sub in await self.subscriptions():
            if sub.place.platform not in self.posters:
                continue
            if matches(sub, alert, account):
                full[sub.place] = True
            elif matches(sub, alert, account, with_severity=False):
                full.setdefault(sub.place, False)
        if not full:
            logger.info("alert matches no subscription", extra=_log(alert))
            return 0
        results = await asyncio.gather(
            *(self._place(place, alert, account, may_post=may) for place, may in full.items()),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        return sum(1 for r in results if r)

    async def _place(self, place: Place, alert: Alert, account: AccountItem, *, may_post: bool) -> bool:
        key = message_key(place, alert.subject_key)
        if len(self._locks) > 10000:  # forget idle locks now and then; one per subject in flight is enough
            self._locks = {k: v for k, v in self._locks.items() if v.locked()}
        async with self._locks.setdefault(key, asyncio.Lock()):
            return await self._apply(place, key, alert, account, may_post)

    async def _apply(
        self, place: Place, key: str, alert: Alert, account: AccountItem, may_post: bool
    ) -> bool:
        now = self.clock()
        record = await self.store.message(key)
        if record is not None:
            shown = bool(record.ref or record.digest)
            if shown and alert.event_id in record.events:
                logger.info("alert already applied", extra={**_log(alert), "channel": place.channel})
                return True
            if not shown and now - record.claimed_at < CLAIM_STALE_S:
                raise DeliveryError("Another delivery of this alert is being posted; retrying.")
            if shown:
                stale = float(record.state_time or 0) > alert.time.timestamp()
                reopened = not alert.resolved and record.resolved_at and now - record.resolved_at > REOPEN_S
                if stale:
                    record.events.append(alert.event_id)
                    await self.store.save_message(record)
                    return True
                if not reopened or record.muted_until > now:
                    await self._edit(record, alert, account, now)
                    return True
        if not may_post or alert.resolved:
            return False
        previous = record
        record = MessageRecord(
            key,
            place,
            {**alert.to_item(), "account_name": account.name},
            events=[*(record.events if record else []), alert.event_id],
            first_at=now,
            state_time=str(alert.time.timestamp()),
            claimed_at=now,
        )
        if previous is None:
            if not await self.store.claim_message(record):
                # Another replica is posting this very subject now: its record will answer the retry.
                raise DeliveryError("Another delivery of this alert is being posted; retrying.")
        else:
            await self.store.save_message(record)  # a stale claim taken over, or a new message replacing one
        minute = int(now // 60)
        if await self.store.count(f"rate#{place.key}#{minute}") <= self.per_minute:
            try:
                record.ref = await self._poster(place).post(place, self._view(record, alert, account))
            except DeliveryError:
                record.claimed_at = 0.0  # known not posted: the retry posts at once
                await self.store.save_message(record)
                raise
            await self.store.save_message(record)
        else:
            await self._group(place, minute, record, alert, account)
        return True

    async def _edit(self, record: MessageRecord, alert: Alert, account: AccountItem, now: float) -> None:
        before = record.alert.get("state")
        record.alert = {**alert.to_item(), "account_name": account.name}
        record.events.append(alert.event_id)
        record.state_time = str(alert.time.timestamp())
        if alert.state != before:
            record.changes += 1
        record.resolved_at = now if alert.resolved else 0.0
        if record.ref:
            await self._poster(record.place).update(
                record.place, record.ref, self._view(record, alert, account)
            )
            await self.store.save_message(record)
        else:
            await self.store.save_message(record)  # the digest's line is drawn from this record
            await self._refresh_digest(record.place, record.digest)

    async def _refresh_digest(self, place: Place, key: str) -> None:
        """Edit the digest message, each line from its alert's record; edits asked for within
        :attr:`edit_delay_s` share one call.

        Each caller waits for an edit that started after its own record was stored, so its event is
        acknowledged only once the channel shows it.
        """
        pending = self._refreshes.get(key)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._refreshes[key] = pending

            async def refresh(done: asyncio.Future[None]) -> None:
                await asyncio.sleep(self.edit_delay_s)
                self._refreshes.pop(key, None)  # later changes wait for the next edit
                try:
                    item = await self.store.get(key)
                    if item and item.get("ref"):
                        entries = [_entry_from(e) for e in item.get("entries") or ()]
                        shown = await self.store.messages([e.record_key for e in entries])
                        view = DigestView(
                            int(float(item.get("minute", 0))),
                            tuple(_current(e, shown.get(e.record_key)) for e in entries),
                        )
                        await self._poster(place).update_digest(place, str(item["ref"]), view)
                except Exception as e:
                    done.set_exception(e if isinstance(e, CentralOpsError) else DeliveryError(str(e)))
                    return
                done.set_result(None)

            task = asyncio.ensure_future(refresh(pending))
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
        await asyncio.shield(pending)

    # -- digests ---------------------------------------------------------------------------

    async def _group(
        self, place: Place, minute: int, record: MessageRecord, alert: Alert, account: AccountItem
    ) -> None:
        """Wait for the minute's digest to be posted with this alert in it."""
        slot = (place.key, minute)
        digest = self._digests.get(slot)
        if digest is None or digest.done is None:
            digest = _Digest(done=asyncio.get_running_loop().create_future())
            self._digests[slot] = digest
            delay = max(0.0, (minute + 1) * 60 - self.clock()) + self.digest_delay_s
            asyncio.get_running_loop().call_later(delay, self._flush_soon, place, minute)
        digest.entries.append((record, _entry(record.key, alert, account)))
        assert digest.done is not None  # noqa: S101 - created above
        await asyncio.shield(digest.done)

    def _flush_soon(self, place: Place, minute: int) -> None:
        task = asyncio.ensure_future(self.flush(place, minute))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def flush(self, place: Place, minute: int) -> None:
        """Post (or extend) the digest of ``place`` for ``minute`` and release the alerts waiting on it."""
        digest = self._digests.pop((place.key, minute), None)
        if digest is None or digest.done is None:
            return
        try:
            key = f"digest#{place.key}#{minute}"
            item = await self.store.get(key) or {"key": key, "minute": minute, "entries": []}
            entries = [_entry_from(e) for e in item.get("entries") or ()]
            known = {e.record_key for e in entries}
            entries.extend(e for _, e in digest.entries if e.record_key not in known)
            view = DigestView(minute, tuple(entries))
            poster = self._poster(place)
            if item.get("ref"):
                await poster.update_digest(place, str(item["ref"]), view)
            else:
                item["ref"] = await poster.post_digest(place, view)
            item.update(platform=place.platform, team=place.team, channel=place.channel)
            item["entries"] = [e.__dict__ | {"time": str(e.time)} for e in entries]
            await self.store.put(item)
            for record, _ in digest.entries:
                record.digest = key
                await self.store.save_message(record)
        except Exception as e:
            logger.warning(
                "alert digest not posted", extra={"channel": place.channel, "error": type(e).__name__}
            )
            digest.done.set_exception(e if isinstance(e, CentralOpsError) else DeliveryError(str(e)))
            return
        digest.done.set_result(None)

    def _poster(self, place: Place) -> Poster:
        poster = self.posters.get(place.platform)
        if poster is None:
            raise DeliveryError(f"No chat platform {place.platform!r} is set up to show alerts.")
        return poster

    def view(self, record: MessageRecord, account: AccountItem | None) -> AlertView:
        """The view of a stored record (after a mute, for instance)."""
        alert = Alert.from_item(record.alert)
        return AlertView(
            alert,
            account.name if account else alert.account_id,
            account.environment if account else "",
            record.key,
            record.changes,
            record.first_at,
            record.muted_until,
            record.muted_by,
        )

    def _view(self, record: MessageRecord, alert: Alert, account: AccountItem) -> AlertView:
        return AlertView(
            alert,
            account.name,
            account.environment,
            record.key,
            record.changes,
            record.first_at,
            record.muted_until,
            record.muted_by,
        )


def _entry(key: str, alert: Alert, account: AccountItem) -> DigestEntry:
    return DigestEntry(
        key,
        alert.kind,
        alert.title,
        alert.state,
        alert.account_id,
        account.name,
        alert.region,
        alert.time.timestamp(),
    )


def _current(entry: DigestEntry, record: MessageRecord | None) -> DigestEntry:
    """A digest line with the state its alert's record holds now."""
    if record is None:
        return entry
    alert = record.alert
    return dataclasses.replace(entry, state=str(alert.get("state") or entry.state))


def _entry_from(values: dict[str, Any]) -> DigestEntry:
    return DigestEntry(
        str(values.get("record_key", "")),
        str(values.get("kind", "")),
        str(values.get("title", "")),
        str(values.get("state", "")),
        str(values.get("account_id", "")),
        str(values.get("account_name", "")),
        str(values.get("region", "")),
        float(values.get("time") or 0),
    )


def _log(alert: Alert) -> dict[str, Any]:
    return {"event_id": alert.event_id, "kind": alert.kind, "account_id": alert.account_id}
