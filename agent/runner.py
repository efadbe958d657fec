"""One invocation of the agent, from payload to typed events.

Paths, in order: a missing or invalid token ends the invocation with an
``error`` before anything else; ``resume`` runs (or reports) a decided
approval; ``run …`` goes straight to the bridge; anything else goes to the
Strands agent with the configured model, the Gateway's tools and the
session's memory.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from strands import Agent
from strands.models.model import Model
from strands.types.content import Message

from agent import gateway, logs, split
from agent.accounts import AccountRegistry
from agent.answers import AccountResult, compose, parse_results, structured
from agent.approvals import ApprovalPolicy, ApprovalStore, PendingCall, operation_of
from agent.auth import authenticate
from agent.config import AgentSettings
from agent.direct import DirectCommand, parse_direct
from agent.followups import account_choices, suggest
from agent.gate import Decision, EventSink, Gate, GateHook, IntentCheck, approval_event, ran_footer, settle
from agent.kept import kept_run
from agent.memory import MemoryUnavailableError, ThreadMemory
from agent.models import build_model
from agent.prompts import system_prompt
from agent.resources import for_command
from agent.split_tool import with_split
from agent.tools import resolve_accounts_tool
from centralops import alert_context, events
from centralops.alert_context import AlertContext
from centralops.errors import CentralOpsError
from centralops.events import Event
from centralops.exchange import TokenExchanger
from centralops.tokens import CognitoVerifier

logger = logging.getLogger("centralops.agent")

CONTEXT_KEYS = ("platform", "team", "channel", "thread", "user", "user_name")
GATEWAY_FAILED_READ = (
    "The call did not get through the tool gateway, on a fresh connection either, so this account "
    "returned nothing. Nothing was changed. Ask again in a minute; if it keeps failing, tell your "
    "CentralOps administrators (the Gateway's and the bridge's logs have the details)."
)
GATEWAY_FAILED_CHANGE = (
    "The connection to the tool gateway broke while the approved command was being sent, so CentralOps "
    "cannot tell whether it ran. Check the account (or its CloudTrail) before asking for a new approval."
)


def session_id_of(header_value: str | None, context: Mapping[str, str]) -> str:
    """The session id: the Runtime header, else derived from the thread, else a fresh one."""
    if header_value:
        return header_value
    parts = [context.get(k, "") for k in ("platform", "team", "channel", "thread")]
    if any(parts):
        return "-".join(p or "none" for p in parts)
    return f"anonymous-{uuid.uuid4()}"


@dataclass
class _Turns:
    """The invocations of one session in this process: one runs, the others wait."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


@dataclass
class AgentRuntime:
    """Everything an invocation needs, built once per process."""

    settings: AgentSettings
    verifier: CognitoVerifier
    registry: AccountRegistry
    store: ApprovalStore
    policy: ApprovalPolicy
    model_factory: Callable[[], Model]
    gateways: gateway.GatewayPool
    exchanger: TokenExchanger
    memory: ThreadMemory | None = None
    # One invocation at a time per session: turns of a thread append to one conversation.
    _turns: dict[str, "_Turns"] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_settings(
        cls, settings: AgentSettings, *, model_factory: Callable[[], Model] | None = None
    ) -> "AgentRuntime":
        """Build the runtime; the model comes from configuration unless a factory is given."""
        region, endpoint = settings.region, settings.endpoint_url
        return cls(
            settings=settings,
            verifier=settings.verifier(),
            registry=AccountRegistry(settings.accounts_table, region=region, endpoint_url=endpoint),
            store=ApprovalStore(settings.approvals_table, region=region, endpoint_url=endpoint),
            policy=ApprovalPolicy(
                prod_fanout_limit=settings.prod_fanout_limit, ttl_s=settings.approval_ttl_s
            ),
            model_factory=model_factory or (lambda: build_model(settings)),
            gateways=gateway.GatewayPool(settings.gateway_url),
            exchanger=settings.exchanger(),
            memory=ThreadMemory(settings.memory_table, region=region, endpoint_url=endpoint)
            if settings.memory_table
            else None,
        )

    @asynccontextmanager
    async def _gateway(self, gate: Gate) -> AsyncIterator[gateway.Gateway]:
        """A Gateway session as the caller, with the caller's token exchanged for the Gateway's audience.

        The exchanged token is cached per Runtime token, so a person's consecutive
        invocations reuse one token and therefore one pooled session.
        """
        issued = self.exchanger.cached(gate.caller.token)
        if issued is None:  # only a cache miss pays a thread hop (and a call to Cognito)
            issued = await asyncio.to_thread(
                self.exchanger.exchange, gate.caller.token, platform=gate.context.get("platform")
            )
        async with self.gateways.session(
            issued.token, issued.expires_at, platform=gate.context.get("platform")
        ) as gw:
            yield gw

    async def invoke(
        self,
        payload: Mapping[str, Any],
        *,
        session_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Event]:
        """Stream the events of one invocation; always ends with ``done``."""
        raw_context = payload.get("context") if isinstance(payload.get("context"), Mapping) else {}
        context = {k: str(raw_context[k]) for k in CONTEXT_KEYS if raw_context and raw_context.get(k)}
        sid = session_id_of(session_id, context)
        usage: dict[str, int] = {}
        started = time.monotonic()
        try:
            caller = await asyncio.to_thread(authenticate, self.verifier, headers, payload)
        except CentralOpsError as e:
            logger.info("invocation refused", extra={"code": e.code, "session_id": sid})
            yield events.error(e.code, e.message)
            yield events.done(sid)
            return
        prompt = str(payload.get("prompt") or "").strip()
        resume = payload.get("resume")
        gate = Gate(caller, context, sid, self.registry, self.policy, self.store)
        logger.info("invocation", extra={"session_id": sid, "requester": caller.requester})
        turn = self._turns.setdefault(sid, _Turns())
        turn.waiting += 1
        if turn.lock.locked():
            yield events.status("Waiting for the previous question in this thread to finish…")
        try:
            async with turn.lock:
                alert = alert_context.read(payload.get(alert_context.PAYLOAD_KEY))
                async for event in structured(self._route(gate, prompt, resume, usage, alert)):
                    yield event
        except CentralOpsError as e:
            yield events.error(e.code, e.message)
        except Exception:
            logger.exception("invocation failed", extra={"session_id": sid})
            yield events.error(
                "internal",
                f"Something went wrong on our side; try again. If it persists, tell the CentralOps "
                f"administrators (session {sid}).",
            )
        finally:
            turn.waiting -= 1
            if turn.waiting == 0:
                self._turns.pop(sid, None)
        logger.info(
            "invocation done",
            extra={"session_id": sid, "ms": int((time.monotonic() - started) * 1000), **usage},
        )
        yield events.done(sid, usage)

    def _route(
        self,
        gate: Gate,
        prompt: str,
        resume: Any,
        usage: dict[str, int],
        alert: AlertContext | None = None,
    ) -> AsyncIterator[Event]:
        """The path of an invocation: resume, direct command, or the model (told the thread's alert)."""
        if isinstance(resume, Mapping):
            return self._resume(gate, resume, usage)
        if direct := parse_direct(prompt):
            if alert is not None and not direct.targets and not direct.problem:
                direct = replace(direct, targets=alert["account_id"])  # the alert's thread: its account
            return self._remembered(gate, prompt, self._direct(gate, direct, usage))
        if not prompt:
            return _one(events.error("empty_prompt", "Ask a question, e.g. `list buckets in staging`."))
        return self._model(gate, prompt, usage, alert)

    def _names(self) -> dict[str, str]:
        return {a.account_id: a.name for a in self.registry.all()}

    async def _bridge(
        self, gate: Gate, call: PendingCall, usage: dict[str, int], *, approval_id: str | None = None
    ) -> AsyncIterator[Event]:
        """Run one bridge call (direct and resume paths), streaming tool events and the answer."""
        decision = await asyncio.to_thread(gate.review, call.tool, call.arguments(), approval_id=approval_id)
        names = await asyncio.to_thread(self._names)
        if decision.refusal:
            yield events.text(decision.refusal)
            return
        async with self._gateway(gate) as gw:
            # Ask the bridge (a dry run) before anyone is asked to approve something it would refuse.
            decision = await settle(gate, decision, gw, names)
        if decision.refusal:
            yield events.text(decision.refusal)
            return
        if decision.approval:
            # The card says it all: no second line about it next to the card.
            yield approval_event(decision.approval, names)
            return
        assert decision.arguments is not None  # noqa: S101 - Decision sets exactly one field
        account_names = [names.get(i, i) for i in call.account_ids]
        yield events.status(f"Running `{call.command}` in {', '.join(account_names)}…")
        for name in account_names:
            yield events.tool_start(name, call.command)
        # A read is split over several concurrent calls, each account's line ending as its call
        # returns; a change carrying an approval is sent once, as approved (agent/split.py).
        parts: list[tuple[int, list[AccountResult], str]] = []
        async for part in split.run_parts(
            lambda: self._gateway(gate),
            call.tool,
            decision.arguments,
            call.account_ids,
            calls=self.settings.fanout_calls if approval_id is None else 1,
            retry=approval_id is None,
        ):
            usage["tool_calls"] = usage.get("tool_calls", 0) + 1
            if part.ok:
                got = parse_results(part.text, part.account_ids)
            else:
                message = GATEWAY_FAILED_READ if approval_id is None else GATEWAY_FAILED_CHANGE
                got = [
                    AccountResult(a, ok=False, error_code="gateway_failed", error=message)
                    for a in part.account_ids
                ]
            parts.append((part.index, got, part.text))
            for r in got:
                yield events.tool_end(names.get(r.account_id, r.account_id), call.command, ok=r.ok, ms=r.ms)
        parts.sort(key=lambda p: p[0])  # the accounts' order, whatever order the calls returned in
        results = [r for _, got, _ in parts for r in got]
        if approval_id is None and results and all(r.error_code == "approval_required" for r in results):
            # The bridge judged it a change where the agent's quick rule did not; nothing ran: ask now.
            service, operation = operation_of(call.command)
            reason = f"`{service} {operation}` changes resources; a second person must approve it."
            pending = Decision(arguments=decision.arguments, pending=(call, "mutating", reason))
            asked = await asyncio.to_thread(gate.ask, pending)
            assert asked.approval is not None  # noqa: S101 - ask always records an approval
            yield approval_event(asked.approval, names)
            return
        if (
            (query := logs.from_command(call.command))
            and len(results) == 1
            and (qid := logs.query_id(results[0]))
        ):
            # A started Logs Insights query (often just approved): its result is what the person asked for.
            async for event in self._follow_query(gate, call, query, qid, names, usage):
                yield event
            return
        resource = for_command(call.command)
        exact = resource is not None and call.command.split() == resource.list_command.split()
        yield events.text(compose("list" if exact else "run", resource, results, names, call.command))
        attachments, note = split.attachments([text for _, _, text in parts if text])
        if note:
            yield events.text(note)
        for attachment in attachments:
            yield attachment
        answered = [names.get(r.account_id, r.account_id) for r in results if r.ok]
        if answered and (items := suggest(call.command, answered)):
            yield events.followups(items)

    async def _follow_query(
        self,
        gate: Gate,
        call: PendingCall,
        query: logs.LogQuery,
        query_id: str,
        names: Mapping[str, str],
        usage: dict[str, int],
    ) -> AsyncIterator[Event]:
        """Poll a started Logs Insights query until it completes and show its result table."""
        poll = PendingCall("query", f"{logs.RESULTS} --query-id {query_id}", call.account_ids, call.region)
        account = names.get(call.account_ids[0], call.account_ids[0])
        yield events.status(f"Waiting for the Logs Insights query in {account}…")
        result = AccountResult(
            call.account_ids[0], ok=False, error_code="gateway_failed", error=GATEWAY_FAILED_READ
        )
        for attempt in range(logs.MAX_POLLS):
            decision = await asyncio.to_thread(gate.review, poll.tool, poll.arguments())
            if decision.arguments is None:
                result = AccountResult(
                    call.account_ids[0], ok=False, error_code="refused", error=decision.refusal or ""
                )
                break
            usage["tool_calls"] = usage.get("tool_calls", 0) + 1
            ok, text = await self._call_bridge(gate, poll.tool, decision.arguments, retry=True)
            if not ok:
                break
            result = parse_results(text, call.account_ids)[0]
            if not result.ok or logs.status(result) not in logs.PENDING:
                break
            if attempt + 1 < logs.MAX_POLLS:
                await asyncio.sleep(0.5)
        yield events.text(logs.compose(query, result, account))

    async def _call_bridge(
        self, gate: Gate, tool: str, arguments: dict[str, Any], *, retry: bool
    ) -> tuple[bool, str]:
        """One bridge call through a pooled session; a broken session is replaced and, for reads, retried once.

        A change (a call carrying an approval) is never sent twice: whether a broken connection
        delivered it cannot be known here, and the bridge would refuse the used approval anyway.
        """
        for attempt in range(2 if retry else 1):
            async with self._gateway(gate) as gw:
                ok, text = await gw.call(tool, arguments)
            if ok:
                return ok, text
            logger.info("gateway session replaced after a failed call", extra={"attempt": attempt + 1})
        return False, ""

    async def _remembered(
        self, gate: Gate, prompt: str, stream: AsyncIterator[Event]
    ) -> AsyncIterator[Event]:
        """Pass a model-less path's events through and add the exchange to the session's memory."""
        answer: list[str] = []
        async for event in stream:
            if event["type"] == "text":
                answer.append(event["delta"])
            elif event["type"] == "approval":
                answer.append(f"This needs approval before it runs: {event['reason']} Nothing has run yet.")
            yield event
        if answer and self.memory is not None:
            # After the answer is out: one write, no read (a direct command needs no history).
            await asyncio.to_thread(self.memory.append, gate.session_id, prompt, "".join(answer))

    async def _direct(self, gate: Gate, direct: DirectCommand, usage: dict[str, int]) -> AsyncIterator[Event]:
        if direct.problem:
            yield events.text(direct.problem)
            return
        if not direct.targets:
            yield events.text(
                f"Say which account(s) to run `{direct.command}` in: `run {direct.command} in staging` "
                "or `--account staging`."
            )
            return
        yield events.status("Resolving accounts…")
        resolution = await asyncio.to_thread(self.registry.resolve, direct.targets, gate.caller.groups)
        if not resolution.ok:
            yield events.text(resolution.message())
            if choices := account_choices(f"run {direct.command} in {direct.targets}", resolution.as_dict()):
                yield events.followups(choices)
            return
        ids = [a.account_id for a in resolution.accounts]
        call = PendingCall("query" if len(ids) == 1 else "query_accounts", direct.command, ids)
        async for event in self._bridge(gate, call, usage):
            yield event
        for note in resolution.notes:
            yield events.text("\n\n" + note)

    async def _resume(
        self, gate: Gate, resume: Mapping[str, Any], usage: dict[str, int]
    ) -> AsyncIterator[Event]:
        approval_id = str(resume.get("approval_id") or "")
        record = await asyncio.to_thread(self.store.get, approval_id) if approval_id else None
        if record is None:
            yield events.error("unknown_approval", "That approval request does not exist (or has expired).")
            return
        if record.session_id != gate.session_id:
            yield events.error(
                "approval_mismatch",
                "That approval belongs to another conversation; resume it in its own thread.",
            )
            return
        if record.requester != gate.caller.requester:
            yield events.error(
                "approval_mismatch",
                f"Only {record.requester}, who asked for it, can run this approved request.",
            )
            return
        names = await asyncio.to_thread(self._names)
        where = ", ".join(names.get(a, a) for a in record.call.account_ids)
        if record.status == "denied":
            by = f" by {record.decided_by}" if record.decided_by else ""
            yield events.text(
                f"The request to run `{record.call.command}` in {where} was denied{by}. Nothing was run."
            )
            return
        if record.status == "pending":
            yield events.text(
                f"The request to run `{record.call.command}` in {where} is still waiting for approval."
            )
            return
        if record.consumed_at:
            if record.result:
                # A repeated resume (the chat side restarted): show what the one run showed.
                yield events.text(
                    f"The approved request to run `{record.call.command}` already ran once; "
                    f"this is its result (nothing was run again):\n\n{record.result}"
                )
                return
            yield events.text(
                f"The approved request to run `{record.call.command}` has already run once. Nothing was run again."
            )
            return
        if record.status != "approved":
            yield events.text(
                f"That request is already {record.status}; it cannot run again. Ask anew if needed."
            )
            return
        if record.expires_at and record.expires_at < time.time():
            yield events.text(
                "That approval has expired; nothing was run. Ask again to get a fresh approval."
            )
            return
        yield events.status("Approved — running it now.")
        async for event in kept_run(
            self._bridge(gate, record.call, usage, approval_id=record.approval_id),
            lambda text: self.store.record_result(record.approval_id, text),
        ):
            yield event

    async def _model(
        self, gate: Gate, prompt: str, usage: dict[str, int], alert: AlertContext | None = None
    ) -> AsyncIterator[Event]:
        yield events.status("Thinking…")
        accounts = await asyncio.to_thread(self.registry.all)
        visible = [a for a in accounts if a.enabled and a.entitles(gate.caller.groups)]
        sink = EventSink()
        check = IntentCheck.of(prompt)
        held: list[str] = []
        said: list[str] = []
        model = self.model_factory()
        history: list[Message] = []
        unread: str | None = None
        if self.memory is not None:
            try:  # the one read of the turn
                history = await asyncio.to_thread(self.memory.load, gate.session_id)
            except MemoryUnavailableError as e:
                unread = e.message
        async with self._gateway(gate) as gw:
            hook = GateHook(gate, sink, {a.account_id: a.name for a in accounts}, gw)
            agent = Agent(
                model=model,
                messages=history,
                tools=[
                    *with_split(gw.tools, gw, hook, self.settings.fanout_calls),
                    resolve_accounts_tool(self.registry, gate.caller),
                ],
                system_prompt=system_prompt(visible, alert),
                hooks=[hook],
                callback_handler=None,
            )
            outcome: dict[str, Any] = {}

            async def run() -> None:
                try:
                    async for ev in agent.stream_async(prompt):
                        if isinstance(ev, Mapping) and isinstance(ev.get("data"), str) and ev["data"]:
                            sink.emit(events.text(ev["data"]))
                        elif isinstance(ev, Mapping) and "result" in ev:
                            outcome["result"] = ev["result"]
                except Exception as e:  # re-raised by the consumer below
                    outcome["error"] = e
                finally:
                    sink.queue.put_nowait(None)

            task = asyncio.create_task(run())
            while (event := await sink.queue.get()) is not None:
                if check.holds and event["type"] == "text":
                    held.append(event["delta"])
                    continue
                if event["type"] == "text":
                    said.append(event["delta"])
                yield event
            await task
        if "error" in outcome:
            raise outcome["error"]
        for event in check.finish(sink, "".join(held)):
            if event["type"] == "text":
                said.append(event["delta"])
            yield event
        if footer := ran_footer(sink, "".join(said)):
            yield events.text(footer)
        usage["tool_calls"] = sink.tool_calls
        result = outcome.get("result")
        metrics = getattr(result, "metrics", None)
        tokens = getattr(metrics, "accumulated_usage", None) or {}
        usage["input_tokens"] = int(tokens.get("inputTokens", 0))
        usage["output_tokens"] = int(tokens.get("outputTokens", 0))
        if choices := account_choices(prompt, sink.resolution):
            yield events.followups(choices)
        elif not sink.approvals and sink.executed and not check.holds:
            command, names = sink.executed[-1]
            asked = " ".join(prompt.lower().rstrip("?!. ").split())
            if items := [i for i in suggest(command, names) if i["prompt"].lower() != asked]:
                yield events.followups(items)
        if unread:
            yield events.text("\n\n" + unread)
        if self.memory is not None:
            # After the answer is out: the one write of the turn.
            await asyncio.to_thread(self.memory.save, gate.session_id, agent.messages)


async def _one(event: Event) -> AsyncIterator[Event]:
    yield event
