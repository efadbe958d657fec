"""The platform-free conversation core: commands, identity, the Runtime stream, approvals.

Edges (``bot/slack``, ``bot/teams``) turn their payloads into
:class:`~bot.chat.ChatRequest` and implement :class:`~bot.chat.AnswerRenderer` and
:class:`~bot.chat.DecisionNotifier`; this module decides what happens and never sees
a platform type. Each path takes the narrowest port it needs.
"""

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from bot import metrics
from bot.accounts import AccountDirectory
from bot.approvals import ApprovalStore, Decision, DecisionRefused
from bot.chat import (
    AnswerRenderer,
    ApprovalCard,
    ChatPlace,
    ChatRequest,
    ChatUser,
    Checklist,
    DecisionNotifier,
    IdentityProvider,
    LinkedIdentity,
    Notifier,
    RatesAnswers,
    Stoppable,
    Table,
    literal,
)
from bot.commands import RUN_ONE_LINE, RUN_USAGE, help_text, parse
from bot.feedback import AnswerRecord, FeedbackStore, WeekRate
from bot.history import RecentQueries
from bot.outbox import KeepsWithAnswer, OutboxStore, Parcel, begin_run
from bot.results import ResultFiles
from bot.runtime_client import RuntimeClient, session_id
from bot.stops import StopSwitch, until_stopped
from centralops import tracing
from centralops.accounts import AccountItem
from centralops.alert_context import AlertContext
from centralops.errors import CentralOpsError
from centralops.events import FileEvent
from centralops.identity import IdentityError, VerifiedCaller
from centralops.platforms import login_command

logger = logging.getLogger(__name__)

RendererFactory = Callable[[ChatPlace, ChatUser], AnswerRenderer]
STOP_AFTER_S = 2.0
"""How long an answer runs before it offers Stop: a quick answer shows no Stop and pays nothing for one."""
STOPPED = (
    "Stopped, as you asked: nothing more runs for this answer. "
    "Calls already sent finish in their accounts (read-only) but are not shown."
)
ViewerRole = Literal["decided", "requester", "approver", "unlinked", "viewer"]


class AlertCommandsPort(Protocol):
    """The alerts part of the core (``bot.alerts.manage.AlertCommands``)."""

    async def command(
        self, kind: str, text: str, who: ChatUser, where: ChatPlace, renderer: Notifier, prefix: str
    ) -> None:
        """``subscribe …``, ``unsubscribe …`` or ``subscriptions``."""
        ...


STOPPED_AFTER_RUN = (
    "The answer stopped before it was complete. The calls listed above were started and may have run "
    "(✓ and ✗ mark those that reported); do not run them again. "
    "Ask about their results in this thread if you need more."
)
"""Said instead of any "try again" once a command has run: repeating it could change things twice."""


@dataclass
class HomeView:
    """What a person's home surface shows."""

    link: LinkedIdentity | None = None
    accounts: list[AccountItem] = field(default_factory=list)
    recent: list[str] = field(default_factory=list)
    problem: str | None = None
    admin: bool = False
    registry: list[AccountItem] = field(default_factory=list)
    feedback: list[WeekRate] = field(default_factory=list)
    groups: frozenset[str] = frozenset()  # the person's verified groups (other features' admin rules)


def _groups(claims: dict[str, Any]) -> set[str]:
    raw = claims.get("cognito:groups") or []
    return {str(g) for g in (raw if isinstance(raw, list) else [raw])}


def _principal(claims: dict[str, Any]) -> str:
    """The kernel's identity rule (verified email, else the username); empty when it names nobody."""
    try:
        return VerifiedCaller.from_claims(claims).requester
    except IdentityError:
        return ""


class Conversation:
    """Handles one chat turn end to end.

    Args:
        identity: Chat user to Cognito ID token.
        runtime: The AgentCore Runtime client.
        approvals: The approvals table.
        accounts: The account registry (read-only).
        history: Recent queries per person.
        approver_group: Cognito group allowed to decide approvals (and, in App Home, the admins).
        files: Reads full fan-out results for ``file`` events; without it they are described, not attached.
        feedback: Where answers and votes on them are kept; no feedback buttons when omitted.
        stops: Stoppable turns across replicas; no Stop button when omitted.
        stop_after_s: How long an answer runs before Stop is offered (and its turn recorded).
    """

    alerts: AlertCommandsPort | None = None  # set by bot.alerts.setup_alerts

    def __init__(
        self,
        *,
        identity: IdentityProvider,
        runtime: RuntimeClient,
        approvals: ApprovalStore,
        accounts: AccountDirectory,
        history: RecentQueries,
        approver_group: str,
        files: ResultFiles | None = None,
        feedback: FeedbackStore | None = None,
        stops: StopSwitch | None = None,
        stop_after_s: float = STOP_AFTER_S,
    ) -> None:
        self.identity = identity
        self.runtime = runtime
        self.approvals = approvals
        self.accounts = accounts
        self.history = history
        self.approver_group = approver_group
        self.files = files
        self.feedback = feedback
        self.stops = stops
        self.stop_after_s = stop_after_s
        self.outbox: OutboxStore | None = None  # set by the app: approved runs survive a restart

    async def handle(self, request: ChatRequest, renderer: AnswerRenderer, *, prefix: str = "/aws") -> None:
        """Answer one message; every failure ends as a message the person can act on.

        Args:
            request: The message and who sent it where.
            renderer: Where the answer goes.
            prefix: How help texts address the bot on this platform (``/aws``, ``@CentralOps``).
        """
        who = request.who
        cmd = parse(request.text)
        log = {"platform": who.platform, "user": who.user, "command": cmd.kind, "source": request.source}
        logger.info("chat request", extra=log)
        try:
            if cmd.kind == "help":
                await renderer.notice(help_text(prefix))
            elif cmd.kind == "usage":
                await renderer.notice(RUN_USAGE.format(p=prefix))
            elif cmd.kind == "multiline_run":
                await renderer.notice(RUN_ONE_LINE.format(p=prefix))
            elif cmd.kind == "login":
                url = await self.identity.login_url(who.platform, who.team, who.user)
                await renderer.login_prompt(url, "Link your chat account to your CentralOps identity:")
            elif cmd.kind == "logout":
                removed = await self.identity.unlink(who.platform, who.team, who.user)
                await renderer.notice(
                    f"Unlinked. Run `{prefix} login` to link again."
                    if removed
                    else f"You were not linked. Run `{prefix} login` to link your account."
                )
            elif cmd.kind == "whoami":
                await renderer.notice(await self._whoami_text(who, prefix))
            elif cmd.kind == "accounts":
                await self._accounts(who, renderer, prefix)
            elif cmd.kind in ("subscribe", "unsubscribe", "subscriptions"):
                if self.alerts is None:
                    await renderer.notice(
                        "Alerts are not set up in this CentralOps. Ask your administrators."
                    )
                else:
                    await self.alerts.command(cmd.kind, cmd.text, who, request.where, renderer, prefix)
            else:
                prompt = f"run {cmd.cli} in {cmd.account}" if cmd.kind == "run" else cmd.text
                await self._ask(request, prompt, renderer, prefix)
        except CentralOpsError as e:
            logger.warning("chat request failed", extra={**log, "code": e.code})
            await renderer.error(e.message)

    async def _token(self, who: ChatUser, renderer: Notifier, prefix: str) -> str | None:
        try:
            return await self.identity.id_token(who.platform, who.team, who.user)
        except CentralOpsError as e:
            logger.info(
                "identity not usable", extra={"platform": who.platform, "user": who.user, "code": e.code}
            )
            if e.code not in {"not_linked", "relink_required"}:
                # A passing outage (Cognito, KMS, DynamoDB): signing in again would not help.
                await renderer.notice(e.message)
                return None
            try:
                url = await self.identity.login_url(who.platform, who.team, who.user)
            except CentralOpsError:
                await renderer.notice(e.message)
                return None
            await renderer.login_prompt(url, e.message)
            return None

    async def _whoami_text(self, who: ChatUser, prefix: str) -> str:
        link = await self.identity.whoami(who.platform, who.team, who.user)
        if link is None:
            return f"You are not linked yet. Run `{prefix} login` to link your account."
        return f"You are linked to {literal(link.display_name)} since {link.linked_at[:10]}."

    async def _accounts(self, who: ChatUser, renderer: Notifier, prefix: str) -> None:
        token = await self._token(who, renderer, prefix)
        if token is None:
            return
        visible = await self.accounts.visible_to(_groups(self.identity.claims(token)))
        if not visible:
            await renderer.notice("You may not query any account yet. Ask your CentralOps administrators.")
            return
        lines = [
            f"• {literal(a.name)} {literal(a.account_id)} ({literal(a.environment)})"
            + (f" — also {', '.join(literal(x) for x in a.aliases)}" if a.aliases else "")
            for a in visible
        ]
        await renderer.notice("Accounts you may query:\n" + "\n".join(lines))

    async def _ask(self, request: ChatRequest, prompt: str, renderer: AnswerRenderer, prefix: str) -> None:
        asked = time.monotonic()  # the answer's latency, as the person waits for it, starts here
        token = await self._token(request.who, renderer, prefix)
        if token is None:
            return
        thread = await renderer.open(request)
        # A convenience for the App Home tab, never in the way: written with the answer's delivery
        # mark where the answer has one, else on its own after the answer is out.
        kept = isinstance(renderer, KeepsWithAnswer) and renderer.keep_with_answer(
            [self.history.keep(request.who, request.text)]
        )
        try:
            with tracing.span("bot answer", platform=request.where.platform):
                await self._stream(
                    request.who,
                    request.where.in_thread(thread),
                    prompt,
                    token,
                    renderer,
                    asked=asked,
                    alert=request.alert,
                )
        finally:
            if not kept:
                await self.history.add(request.who, request.text)

    async def _stream(
        self,
        who: ChatUser,
        where: ChatPlace,
        prompt: str,
        token: str,
        renderer: AnswerRenderer,
        resume: dict[str, str] | None = None,
        asked: float | None = None,
        alert: AlertContext | None = None,
    ) -> None:
        checklist = Checklist()
        started, failed = asked or time.monotonic(), False
        asked_for: list[str] = []  # approvals this turn asked for (denied if the person stops it)
        events = self.runtime.invoke(
            id_token=token, prompt=prompt, who=who, where=where, resume=resume, alert=alert
        )
        async with self._stoppable(who, renderer, resume) as offer:
            stop = offer.stop
            stream = until_stopped(events, stop)
            try:
                async for event in stream:
                    if event["type"] == "status":
                        checklist.status = event["text"]
                        await renderer.progress(checklist)
                    elif event["type"] == "tool":
                        if event["phase"] == "start":
                            checklist.start(event["account"], event["command"])
                        else:
                            checklist.end(
                                event["account"],
                                event["command"],
                                ok=event.get("ok", True),
                                ms=event.get("ms"),
                            )
                        await renderer.progress(checklist)
                    elif event["type"] == "text":
                        await renderer.text(event["delta"])
                    elif event["type"] == "table":
                        await renderer.table(
                            Table(
                                columns=[str(c) for c in event["columns"]],
                                rows=[[str(v) for v in row] for row in event["rows"]],
                                title=str(event.get("title") or ""),
                            )
                        )
                    elif event["type"] == "approval":
                        asked_for.append(str(event["approval_id"]))
                        await renderer.approval(
                            ApprovalCard(
                                approval_id=event["approval_id"],
                                command=event["command"],
                                accounts=list(event["accounts"]),
                                reason=event["reason"],
                                risk=event["risk"],
                                requester=event.get("requester") or who.name or who.user,
                            )
                        )
                    elif event["type"] == "followups":
                        await renderer.followups(list(event["items"]))
                    elif event["type"] == "error":
                        failed = True
                        await renderer.error(STOPPED_AFTER_RUN if checklist.ran() else event["message"])
                    elif event["type"] == "file":
                        await self._attach(event, renderer)
                    elif event["type"] == "done":
                        break
                if stop.is_set():
                    await self._after_stop(token, asked_for, renderer)
            except Exception:
                if not checklist.ran():
                    raise
                # Commands ran: the person gets what arrived and the truth, never a "try again".
                failed = True
                logger.exception("answer failed after its commands ran", extra={"user": who.user})
                await renderer.error(STOPPED_AFTER_RUN)
            finally:
                await stream.aclose()  # closes the Runtime response too, whether the answer ended or stopped
                await offer.withdraw()  # before the answer closes, so a Stop being offered goes with it
                metrics.answered((time.monotonic() - started) * 1000, question=resume is None, failed=failed)
                checklist.close()  # whatever ended the answer, no account is left showing as running
                await self._offer_feedback(prompt, checklist, who, where, renderer)
                await renderer.finish()

    @contextlib.asynccontextmanager
    async def _stoppable(
        self, who: ChatUser, renderer: AnswerRenderer, resume: dict[str, str] | None
    ) -> AsyncIterator["_StopOffer"]:
        """A Stop for a question's turn that runs past :attr:`stop_after_s`; never for an approved change."""
        offer = _StopOffer()
        if self.stops is not None and resume is None and isinstance(renderer, Stoppable):
            offer.task = asyncio.create_task(self._offer_stop(self.stops, who, renderer, offer))
        try:
            yield offer
        finally:
            await offer.withdraw()

    async def _offer_stop(
        self, stops: StopSwitch, who: ChatUser, renderer: Stoppable, offer: "_StopOffer"
    ) -> None:
        await asyncio.sleep(self.stop_after_s)  # most answers are done by now: no record, no Stop message
        offer.started.set()
        turn_id = stops.new_id()
        async with stops.watch(turn_id, who) as asked:
            try:
                await renderer.stoppable(turn_id, asked.set)
            except Exception:  # a missing Stop button never costs the answer
                logger.warning("stop button not shown", exc_info=True)
            finally:
                offer.settled.set()
            await asked.wait()
            offer.stop.set()

    async def _after_stop(self, token: str, asked_for: list[str], renderer: Notifier) -> None:
        """The person stopped the turn: withdraw what it asked to approve, and say what happened."""
        me = _principal(self.identity.claims(token)) or "the requester"
        withdrawn = 0
        for approval_id in asked_for:
            try:
                await self.approvals.decide(approval_id, "denied", me)
                withdrawn += 1
            except CentralOpsError as e:
                logger.info("approval of a stopped turn not withdrawn", extra={"code": e.code})
        await renderer.error(STOPPED + (" The approval it asked for was withdrawn." if withdrawn else ""))

    async def _offer_feedback(
        self, prompt: str, checklist: Checklist, who: ChatUser, where: ChatPlace, renderer: AnswerRenderer
    ) -> None:
        """Name the calls the answer came from and, when feedback is kept, remember the answer for a vote."""
        if not isinstance(renderer, RatesAnswers):
            return
        record = AnswerRecord.new(
            prompt or "(the change after an approval)",
            checklist,
            who,
            where,
            trace_id=tracing.current_trace_id() or "",
            session_id=session_id(where.platform, where.team, where.channel, where.thread or where.channel),
        )
        renderer.cite(record.commands)
        if self.feedback is None:
            return
        if isinstance(renderer, KeepsWithAnswer) and renderer.keep_with_answer(self.feedback.keeps(record)):
            renderer.rate(record.answer_id)  # the record is written with the answer's delivery mark
            return
        try:
            await self.feedback.remember(record)
        except CentralOpsError as e:
            # The answer is shown either way; only the buttons are left out.
            logger.warning("answer not kept for feedback", extra={"code": e.code})
            return
        renderer.rate(record.answer_id)

    async def _attach(self, event: FileEvent, renderer: AnswerRenderer) -> None:
        """Attach a result document to the thread (renderers that can), else say where it went."""
        attach = getattr(renderer, "attach", None)
        if self.files is None or attach is None:
            await renderer.text(
                f"\n\n_{event['summary']} could not be attached here; ask about fewer accounts._"
            )
            return
        try:
            content = await self.files.read(event)
        except CentralOpsError as e:
            await renderer.text(f"\n\n_{e.message}_")
            return
        await attach(event["name"], content, event["summary"])

    async def decide(
        self,
        *,
        approval_id: str,
        decision: Decision,
        decider: ChatUser,
        where: ChatPlace,
        renderer: DecisionNotifier,
        renderer_for: RendererFactory,
        prefix: str = "/aws",
        platform_extra: dict[str, Any] | None = None,
    ) -> None:
        """Decide an approval clicked at ``where``, then resume the agent in the original thread.

        The resume is recorded in the outbox first (with ``platform_extra``, what the platform needs to
        write into the thread later), so another replica finishes it if this one stops.

        The approval is read from the table by id; the payload contributes only
        that id and the place of the click, which must be the approval's thread.
        """
        log = {"approval_id": approval_id[:64], "decision": decision, "user": decider.user}
        try:
            approval = await self.approvals.get(approval_id)
            t = approval.thread if approval else {}
            if approval is None or (
                t.get("channel") and (t.get("channel") != where.channel or t.get("thread") != where.thread)
            ):
                logger.warning("approval click refused: unknown or out of place", extra=log)
                await renderer.notice(
                    "This button does not match any pending approval here, so nothing was decided. "
                    "Use the buttons on the original request."
                )
                return
            token = await self._token(decider, renderer, prefix)
            if token is None:
                return
            claims = self.identity.claims(token)
            if self.approver_group not in _groups(claims):
                logger.info("approval refused: not an approver", extra=log)
                await renderer.notice(
                    f"Only members of *{self.approver_group}* can approve or deny changes. "
                    "Ask one of them to decide this request."
                )
                return
            me = _principal(claims).lower()
            if not me:
                logger.info("approval refused: decider has no verified identity", extra=log)
                await renderer.notice(
                    "Your sign-in has no verified email, so your decision cannot be recorded under your name. "
                    "Ask an administrator to verify your email, then sign in again with "
                    f"`{login_command(decider.platform)}`."
                )
                return
            self_request = me == approval.requester.lower() or (
                t.get("user") == decider.user and t.get("platform", decider.platform) == decider.platform
            )
            if decision == "approved" and self_request:
                # Every change is approved by a second person; the bridge refuses a self-approval too.
                logger.info("approval refused: own change", extra=log)
                await renderer.notice(
                    "You cannot approve your own change: every change needs a second person. "
                    "Ask another approver to decide it."
                )
                return
            decided = await self.approvals.decide(approval_id, decision, _principal(claims))
        except DecisionRefused as e:
            await renderer.notice(e.message)
            return
        except CentralOpsError as e:
            await renderer.error(e.message)
            return
        logger.info("approval decided", extra=log)
        if decision == "approved":
            metrics.approval_granted()
        card = decided.card()
        await renderer.decided(dataclasses.replace(card, accounts=await self._names(card.accounts)))
        run = None
        if self.outbox is not None:
            run = await begin_run(
                self.outbox,
                approval_id=decided.approval_id,
                decision=decision,
                thread=decided.thread,
                decider=dataclasses.asdict(decider),
                platform_extra=platform_extra,
            )
        await self._resume(decided.thread, decided.approval_id, decision, decider, renderer_for, prefix)
        if run is not None:
            await run.delivered()

    async def resume_run(self, parcel: Parcel, renderer_for: RendererFactory, prefix: str = "/aws") -> None:
        """Resume an approved run that a stopped replica left (the outbox sweeper calls this).

        The agent runs an approval at most once: when it already ran, it shows the kept result.
        """
        x = parcel.extra
        decider = x.get("decider") or {}
        logger.info("resuming an approved run left unfinished", extra={"approval_id": x.get("approval_id")})
        await self._resume(
            {str(k): str(v) for k, v in (x.get("thread") or {}).items()},
            str(x.get("approval_id", "")),
            "approved" if x.get("decision") == "approved" else "denied",
            ChatUser(*(str(decider.get(k, "")) for k in ("platform", "team", "user", "name"))),
            renderer_for,
            prefix,
        )

    async def approval_view(
        self, approval_id: str, viewer: ChatUser
    ) -> tuple[ApprovalCard | None, ViewerRole]:
        """What one person may do with an approval card: the card (from the table) and their role.

        Roles: ``decided`` (no longer pending), ``requester`` (waits for someone else),
        ``approver`` (may decide), ``unlinked`` (must sign in first), ``viewer`` (anyone else).
        The card only shows this; :meth:`decide` and the bridge enforce it.
        """
        approval = await self.approvals.get(approval_id)
        if approval is None:
            return None, "viewer"
        card = approval.card()
        card = dataclasses.replace(card, accounts=await self._names(card.accounts))
        if approval.status != "pending" or approval.expired(time.time()):
            return card, "decided"
        t = approval.thread or {}
        if t.get("user") == viewer.user and t.get("platform", viewer.platform) == viewer.platform:
            return card, "requester"
        try:
            token = await self.identity.id_token(viewer.platform, viewer.team, viewer.user)
        except CentralOpsError:
            return card, "unlinked"
        claims = self.identity.claims(token)
        if _principal(claims).lower() == approval.requester.lower():
            return card, "requester"
        return card, "approver" if self.approver_group in _groups(claims) else "viewer"

    async def _names(self, refs: list[str]) -> list[str]:
        """Account names for ids (as the approval item stores them), for people to read."""
        try:
            known = await self.accounts.all()
        except CentralOpsError:
            return refs
        return [next((a.name for a in known if a.matches(ref)), ref) for ref in refs]

    async def _resume(
        self,
        thread: dict[str, str],
        approval_id: str,
        decision: Decision,
        decider: ChatUser,
        renderer_for: RendererFactory,
        prefix: str,
    ) -> None:
        place = ChatPlace(
            thread.get("platform", decider.platform),
            thread.get("team", decider.team),
            thread.get("channel", ""),
            thread.get("thread") or None,
        )
        requester = ChatUser(place.platform, place.team, thread.get("user", ""), thread.get("user_name", ""))
        renderer = renderer_for(place, requester)
        if not place.channel or not place.thread or not requester.user:
            await renderer.error("The agent could not be resumed: the approval lost its thread. Ask again.")
            return
        try:
            token = await self.identity.id_token(requester.platform, requester.team, requester.user)
        except CentralOpsError as e:
            await renderer.error(f"The request was {decision}, but it cannot continue: {e.message}")
            return
        await self._stream(
            requester, place, "", token, renderer, resume={"approval_id": approval_id, "decision": decision}
        )

    async def home(self, who: ChatUser) -> HomeView:
        """What the person's home surface shows: link, accounts, recent queries."""
        view = HomeView()
        try:
            view.link = await self.identity.whoami(who.platform, who.team, who.user)
            view.recent = await self.history.list(who)
            if view.link is not None:
                token = await self.identity.id_token(who.platform, who.team, who.user)
                groups = _groups(self.identity.claims(token))
                view.accounts = await self.accounts.visible_to(groups)
                view.groups = frozenset(groups)
                # Admins (the approvers) see every account and how answers are rated.
                view.admin = self.approver_group in groups
                if view.admin:
                    view.registry = await self.accounts.all()
                    if self.feedback is not None:
                        view.feedback = await self.feedback.weekly(who.platform, who.team)
        except CentralOpsError as e:
            view.problem = e.message
        return view


@dataclass
class _StopOffer:
    """The Stop of one answer: offered by a task once the answer runs long enough."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)  # the answer ran long enough: offering
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # the Stop was offered (or failed to be)
    task: "asyncio.Task[None] | None" = None

    async def withdraw(self) -> None:
        """End the offer; a Stop being posted right now lands first, so closing the answer removes it."""
        task, self.task = self.task, None
        if task is None:
            return
        if not task.done() and self.started.is_set():
            await self.settled.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
