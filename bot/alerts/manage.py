"""Alerts in the conversation core: ``subscribe`` / ``unsubscribe`` / ``subscriptions``, Investigate, Mute.

Platform-free like :mod:`bot.conversation`: edges hand in who clicked or typed
where, and a :class:`~bot.chat.Notifier` for the answer.

- Changing a channel's subscriptions needs membership of the admin group
  (``cognito:groups`` of the person's own ID token); listing them does not.
- Investigate reads the alert from the alerts table (the button carries only
  the message's key, and the click must come from that message's channel) and
  asks its prepared read-only commands through the normal path, **as the person
  who clicked**: the agent and the bridge apply their entitlement as for any
  question. Commands with a metric also run in the sibling environments'
  accounts the person may query.
- Mute 1 h needs a linked person who may query the alert's account.
"""

import logging
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.accounts import AccountDirectory
from bot.alerts.events import Alert
from bot.alerts.grammar import KIND_LABELS, Selection, SelectionError, parse_selection
from bot.alerts.router import AlertRouter
from bot.alerts.store import AlertStore, MessageRecord, Place, Subscription
from bot.chat import ChatPlace, ChatUser, Notifier, literal
from centralops.accounts import AccountItem
from centralops.errors import CentralOpsError
from centralops.identity import IdentityError, VerifiedCaller

if TYPE_CHECKING:
    from bot.conversation import Conversation

logger = logging.getLogger(__name__)

MUTE_S = 3600
NOT_HERE = (
    "This button does not belong to an alert of this channel, so nothing was done. "
    "Use the buttons on the alert message itself."
)
# Values CentralOps writes into a prepared command: nothing a shell, the CLI or the account
# phrase could read as anything but the one argument it is.
_SAFE = re.compile(r"^[A-Za-z0-9 _.:/#+=@,()\[\]'-]{1,2048}$")


@dataclass(frozen=True)
class Investigation:
    """What Investigate asks: the prompts in order, and a note for the thread."""

    prompts: tuple[str, ...]
    note: str


def _groups(claims: dict[str, object]) -> set[str]:
    raw = claims.get("cognito:groups") or []
    return {str(g) for g in (raw if isinstance(raw, list) else [raw])}


def describe(sub: Subscription, names: dict[str, str]) -> str:
    """One line saying what a subscription covers (core markup: data as literals)."""
    scope = [f"{literal(e)} accounts" for e in sub.environments] + [
        literal(names.get(a, a)) for a in sub.accounts
    ]
    kinds = ", ".join(KIND_LABELS.get(k, k) for k in sub.kinds) or "every kind of event"
    return (
        f"{kinds} from {' and '.join(scope) if scope else 'every account'}, "
        f"severity {sub.min_severity} and above"
    )


class AlertCommands:
    """The alerts part of the conversation core.

    Args:
        conversation: The core (identity, accounts, answering a prompt in a thread).
        store: The alerts table.
        router: Delivers alerts (its posters edit a message after a mute).
        admin_group: Who may change subscriptions.
    """

    def __init__(
        self,
        conversation: "Conversation",
        store: AlertStore,
        router: AlertRouter,
        *,
        admin_group: str,
    ) -> None:
        self.conversation = conversation
        self.store = store
        self.router = router
        self.admin_group = admin_group

    @property
    def accounts(self) -> AccountDirectory:
        """The registry."""
        return self.conversation.accounts

    async def command(
        self, kind: str, text: str, who: ChatUser, where: ChatPlace, renderer: Notifier, prefix: str
    ) -> None:
        """``subscribe …``, ``unsubscribe …`` or ``subscriptions`` typed in ``where``."""
        place = Place(where.platform, where.team, where.channel)
        if kind == "subscriptions":
            await renderer.notice(await self._listing(place, prefix))
            return
        token = await self.conversation._token(who, renderer, prefix)
        if token is None:
            return
        if self.admin_group not in _groups(self.conversation.identity.claims(token)):
            logger.info("alert subscription refused: not an admin", extra={"user": who.user})
            await renderer.notice(
                f"Only members of *{self.admin_group}* can change which alerts this channel gets. "
                f"Ask one of them; `{prefix} subscriptions` shows what it gets now."
            )
            return
        known = await self.accounts.all()
        try:
            selection = parse_selection(text, known)
        except SelectionError as e:
            await renderer.notice(str(e))
            return
        names = {a.account_id: a.name for a in known}
        if kind == "unsubscribe":
            await self._unsubscribe(place, selection, names, renderer, prefix)
            return
        if not (selection.accounts or selection.environments or selection.kinds or selection.everything):
            await renderer.notice(
                "Say what this channel should get, e.g. "
                f"`{prefix} subscribe production alarms here` or `{prefix} subscribe everything`."
            )
            return
        sub = Subscription(
            place,
            selection.accounts,
            selection.environments,
            selection.kinds,
            selection.min_severity,
            created_by=self._name(token, who),
            created_at=int(time.time()),
        )
        await self.store.put_subscription(sub)
        self.router.forget_subscriptions()
        logger.info("alert subscription added", extra={"user": who.user, "channel": where.channel})
        await renderer.notice(
            f"This channel now gets {describe(sub, names)}. "
            f"`{prefix} subscriptions` lists everything it gets; `{prefix} unsubscribe …` stops it."
        )

    def _name(self, token: str, who: ChatUser) -> str:
        try:
            return VerifiedCaller.from_claims(self.conversation.identity.claims(token)).requester
        except IdentityError:
            return who.name or who.user

    async def by_channel(self, platform: str, team: str) -> list[tuple[str, list[str]]]:
        """Every channel of a workspace (or tenant) that gets alerts, with what it gets (core markup)."""
        subs = [
            s
            for s in await self.store.subscriptions()
            if (s.place.platform, s.place.team) == (platform, team)
        ]
        if not subs:
            return []
        names = {a.account_id: a.name for a in await self.accounts.all()}
        out: dict[str, list[str]] = {}
        for sub in subs:
            out.setdefault(sub.place.channel, []).append(describe(sub, names))
        return sorted(out.items())

    async def _listing(self, place: Place, prefix: str) -> str:
        subs = await self.store.subscriptions(place)
        if not subs:
            return (
                "This channel gets no alerts. A member of "
                f"*{self.admin_group}* can subscribe it, e.g. `{prefix} subscribe production alarms here`."
            )
        names = {a.account_id: a.name for a in await self.accounts.all()}
        lines = [f"• {describe(s, names)}" for s in subs]
        return "This channel gets:\n" + "\n".join(lines)

    async def _unsubscribe(
        self, place: Place, sel: Selection, names: dict[str, str], renderer: Notifier, prefix: str
    ) -> None:
        subs = await self.store.subscriptions(place)
        everything = sel.everything or not (sel.accounts or sel.environments or sel.kinds)
        gone = [
            s
            for s in subs
            if everything
            or (s.accounts == sel.accounts and s.environments == sel.environments and s.kinds == sel.kinds)
        ]
        if not gone:
            await renderer.notice(
                "No subscription of this channel matches that, so nothing changed. "
                f"`{prefix} subscriptions` lists them; `{prefix} unsubscribe all` removes every one."
            )
            return
        for s in gone:
            await self.store.delete_subscription(s)
        self.router.forget_subscriptions()
        lines = "\n".join(f"• {describe(s, names)}" for s in gone)
        await renderer.notice(f"This channel no longer gets:\n{lines}")

    # -- buttons ---------------------------------------------------------------------------

    async def _record_here(self, record_key: str, where: ChatPlace) -> MessageRecord | None:
        record = await self.store.message(record_key) if record_key.startswith("msg#") else None
        if record is None or record.place != Place(where.platform, where.team, where.channel):
            logger.warning("alert click refused: unknown or out of place", extra={"channel": where.channel})
            return None
        return record

    async def investigation(
        self, record_key: str, who: ChatUser, where: ChatPlace, renderer: Notifier
    ) -> Investigation | None:
        """The prompts Investigate asks for the alert of ``record_key`` clicked in ``where``.

        ``None`` when the click is refused (the person was told why).
        """
        try:
            record = await self._record_here(record_key, where)
            if record is None:
                await renderer.notice(NOT_HERE)
                return None
            alert = Alert.from_item(record.alert)
            siblings = await self._siblings(alert, who)
        except CentralOpsError as e:
            await renderer.notice(e.message)
            return None
        prompts = [f"run aws {q} in {alert.account_id}" for q in alert.queries if _safe(q)]
        targets = ",".join([alert.account_id, *(a.account_id for a in siblings)])
        prompts += [f"run aws {q} in {targets}" for q in alert.sibling_queries if _safe(q)]
        if not prompts:
            await renderer.notice(
                "CentralOps has no prepared queries for this event (its names hold characters it never puts "
                "into a command). Open it in the console, or ask about it in this thread."
            )
            return None
        also = f" and in {', '.join(a.name for a in siblings)}" if siblings else ""
        note = f"Investigating for {who.name or who.user}: {len(prompts)} read-only queries in {alert.account_id}{also}."
        return Investigation(tuple(prompts), note)

    async def _siblings(self, alert: Alert, who: ChatUser) -> list[AccountItem]:
        """Accounts of the other environments that the person may query (none when that cannot be told)."""
        if not alert.sibling_queries:
            return []
        try:
            token = await self.conversation.identity.id_token(who.platform, who.team, who.user)
        except CentralOpsError:
            return []  # the first prompt asks them to sign in
        groups = _groups(self.conversation.identity.claims(token))
        known = await self.accounts.all()
        own = next((a for a in known if a.account_id == alert.account_id), None)
        env = own.environment if own else ""
        return [
            a
            for a in known
            if a.environment and a.environment != env and not a.payer and a.queryable_by(groups)
        ]

    async def mute(
        self, record_key: str, who: ChatUser, where: ChatPlace, renderer: Notifier, prefix: str
    ) -> None:
        """Mute 1 h: the alert's message stays and is still edited; nothing new is posted for it meanwhile."""
        try:
            record = await self._record_here(record_key, where)
            if record is None:
                await renderer.notice(NOT_HERE)
                return
            token = await self.conversation._token(who, renderer, prefix)
            if token is None:
                return
            claims = self.conversation.identity.claims(token)
            account = next(
                (a for a in await self.accounts.all() if a.account_id == record.alert.get("account_id")), None
            )
            if account is None or not account.queryable_by(_groups(claims)):
                await renderer.notice(
                    "You may not query this alert's account, so you cannot mute its alerts. "
                    "Ask someone who looks after that account."
                )
                return
            record.muted_until = time.time() + MUTE_S
            record.muted_by = self._name(token, who)
            await self.store.save_message(record)
            poster = self.router.posters.get(record.place.platform)
            if poster is not None and record.ref:
                await poster.update(record.place, record.ref, self.router.view(record, account))
        except CentralOpsError as e:
            await renderer.notice(e.message)
            return
        until = time.strftime("%H:%M UTC", time.gmtime(record.muted_until))
        await renderer.notice(
            f"Muted until {until}: this message is still kept up to date, and nothing new is posted for it before then."
        )


def _safe(query: str) -> bool:
    """A prepared command whose every value passed :data:`_SAFE` when it was built (quoted or not)."""
    return bool(_SAFE.match(query)) and "--account" not in query
