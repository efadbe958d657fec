"""Code that stands between any model and the bridge.

Whatever a model writes, this code (a Strands hook on the model path, a plain
call on the direct and resume paths) overwrites ``requester`` and
``context`` with the verified identity, drops any ``approval_id`` the model
invented, refuses accounts the caller is not entitled to, and sends a call
that needs approval to the approval gate instead of the bridge.
"""

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from strands.hooks import AfterToolCallEvent, BeforeToolCallEvent, HookProvider, HookRegistry

from agent import intents
from agent.accounts import AccountEntry, AccountRegistry
from agent.answers import AccountResult, full_results_of, loads, parse_results
from agent.approvals import ApprovalPolicy, ApprovalRecord, ApprovalStore, PendingCall, Risk
from agent.auth import Caller
from agent.gateway import BRIDGE_TOOLS, Gateway, tool_suffix
from centralops import events
from centralops.events import Event

logger = logging.getLogger("centralops.agent.gate")

GATEWAY_FAILED = (
    "The tool gateway did not answer this call, so it returned nothing. Tell the person plainly, "
    "and that asking again in a minute usually works."
)


class EventSink:
    """Where hooks and paths put the events of one invocation, read by the streaming loop."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.approvals: list[ApprovalRecord] = []
        self.tool_calls = 0
        self.executed: list[tuple[str, list[str]]] = []  # in the order the calls answered
        self.asked: list[str] = []  # the commands, in the order the calls were made
        self.refusals: list[str] = []
        self.resolution: dict[str, Any] = {}

    def emit(self, event: Event) -> None:
        """Queue an event for the client."""
        self.queue.put_nowait(event)


@dataclass
class Decision:
    """What the gate made of a bridge call.

    Exactly one of ``arguments`` (run this), ``refusal`` (run nothing, say this)
    or ``approval`` (run nothing yet, ask) is set. ``pending`` (with
    ``arguments``) means the call needs approval unless the bridge's dry run
    refuses it or finds it a read: see :func:`settle`.
    """

    arguments: dict[str, Any] | None = None
    refusal: str | None = None
    approval: ApprovalRecord | None = None
    accounts: list[AccountEntry] = field(default_factory=list)
    pending: tuple[PendingCall, Risk, str] | None = None


@dataclass
class Gate:
    """The checks every bridge call passes, bound to one invocation."""

    caller: Caller
    context: Mapping[str, str]
    session_id: str
    registry: AccountRegistry
    policy: ApprovalPolicy
    store: ApprovalStore

    def bridge_context(self) -> dict[str, str]:
        """The ``context`` field of bridge calls: where the request came from."""
        ctx = {k: str(v) for k, v in self.context.items() if v and k != "user_name"}
        ctx["session_id"] = self.session_id
        return ctx

    def review(
        self, suffix: str, tool_input: Mapping[str, Any], *, approval_id: str | None = None
    ) -> Decision:
        """Check one bridge call and decide.

        Args:
            suffix: ``query`` or ``query_accounts``.
            tool_input: The arguments as written (by a model, or by agent code).
            approval_id: An approval the agent itself is executing (resume path only).
        """
        args = dict(tool_input)
        args.pop("approval_id", None)
        args.pop("inline_share", None)  # set only by the agent when it splits a read (agent/split.py)
        if suffix == "query":
            ids = [str(args.get("account_id", ""))]
        else:
            raw = args.get("account_ids") or []
            ids = [str(a) for a in raw] if isinstance(raw, list) else []
        command = str((args.get("arguments") or {}).get("cli_command", ""))
        if not ids or not all(ids) or not command:
            return Decision(refusal="The call named no account or no command; nothing was run.")
        entries: list[AccountEntry] = []
        for account_id in ids:
            entry = self.registry.get(account_id)
            if entry is None:
                return Decision(refusal=f"{account_id} is not an account in the registry; nothing was run.")
            if not entry.enabled:
                return Decision(refusal=f"The account {entry.label()} is disabled; nothing was run.")
            region = args.get("region")
            if region and entry.regions and region not in entry.regions:
                return Decision(
                    refusal=f"The account {entry.name} is limited to the region(s) {', '.join(entry.regions)} "
                    f"in the registry; nothing was run in {region}."
                )
            if not entry.entitles(self.caller.groups):
                return Decision(
                    refusal=f"You are not entitled to query {entry.name}: it is limited to the group(s) "
                    f"{', '.join(entry.allowed_groups)}. Nothing was run."
                )
            entries.append(entry)
        args["requester"] = self.caller.requester
        args["context"] = self.bridge_context()
        args.setdefault("tool_name", "aws___call_aws")
        if approval_id:
            args["approval_id"] = approval_id
            return Decision(arguments=args, accounts=entries)
        verdict = self.policy.review(command, entries)
        if verdict is None:
            return Decision(arguments=args, accounts=entries)
        risk, reason = verdict
        call = PendingCall(tool=suffix, command=command, account_ids=ids, region=args.get("region"))
        return Decision(arguments=args, accounts=entries, pending=(call, risk, reason))

    def ask(self, decision: Decision) -> Decision:
        """Record the pending approval of a decision and return the decision to show it."""
        assert decision.pending is not None  # noqa: S101 - only called for pending decisions
        call, risk, reason = decision.pending
        record = self.store.create(
            requester=self.caller.requester,
            call=call,
            reason=reason,
            risk=risk,
            session_id=self.session_id,
            thread=self.context,
            ttl_s=self.policy.ttl_s,
        )
        return Decision(approval=record, accounts=decision.accounts)


DRY_RUN_FAILED = (
    "Nothing was run and no approval was requested: the tool gateway did not answer the check that "
    "comes before an approval. Ask again in a minute; tell your CentralOps administrators if it keeps failing."
)


async def settle(
    gate: Gate, decision: Decision, gateway: Gateway | None, names: Mapping[str, str]
) -> Decision:
    """Turn a pending decision into a refusal, a run or an approval request.

    Nobody is asked to approve a call the bridge would refuse: the bridge's dry
    run (every check, no AWS call) decides first. When the bridge classifies the
    call as a read, the approval asked for by a change is not needed either.
    """
    if decision.pending is None:
        return decision
    call, risk, _ = decision.pending
    if gateway is not None:
        assert decision.arguments is not None  # noqa: S101 - pending decisions carry the arguments
        ok, text = await gateway.call(call.tool, {**decision.arguments, "dry_run": True})
        if not ok:
            return Decision(refusal=DRY_RUN_FAILED, accounts=decision.accounts)
        refused = [r for r in parse_results(text, call.account_ids) if not r.ok]
        if refused:
            return Decision(refusal=refusal_text(refused, names), accounts=decision.accounts)
        if risk == "mutating" and _all_reads(text):
            return Decision(arguments=decision.arguments, accounts=decision.accounts)
    return await asyncio.to_thread(gate.ask, decision)


def refusal_text(refused: list[AccountResult], names: Mapping[str, str]) -> str:
    """Why the bridge would refuse a call, per account, said before anyone is asked to approve it."""
    by_message: dict[str, list[str]] = {}
    for r in refused:
        by_message.setdefault(r.error, []).append(names.get(r.account_id, r.account_id))
    if len(by_message) == 1:
        [message] = by_message
        return f"Nothing was run and no approval was requested: {message}"
    lines = [f"- {', '.join(where)}: {message}" for message, where in by_message.items()]
    return "Nothing was run and no approval was requested:\n" + "\n".join(lines)


def _all_reads(text: str) -> bool:
    try:
        data = json.loads(text)
    except ValueError:
        return False
    items = data.get("results") if isinstance(data, dict) and "results" in data else [data]
    if not isinstance(items, list):
        return False
    return bool(items) and all(isinstance(i, dict) and i.get("classification") == "read" for i in items)


def approval_event(record: ApprovalRecord, names: Mapping[str, str]) -> events.ApprovalEvent:
    """The ``approval`` event for a pending record."""
    return {
        "type": "approval",
        "approval_id": record.approval_id,
        "command": record.call.command,
        "accounts": [names.get(a, a) for a in record.call.account_ids],
        "reason": record.reason,
        "risk": record.risk,
        "requester": record.requester,
        "expires_at": record.expires_at,
    }


def approval_text(record: ApprovalRecord) -> str:
    """What the person reads when a call waits for approval."""
    return (
        f"This needs approval before it runs: {record.reason} "
        f"I asked for it (request `{record.approval_id[:8]}`); nothing has run yet."
    )


def emit_tool_ends(
    sink: EventSink,
    names: Mapping[str, str],
    ids: list[str],
    command: str,
    text: str,
    region: str | None = None,
) -> None:
    """One ``tool`` end event per account of a bridge result; answered calls are remembered.

    With an explicit region the event names it (``staging (eu-west-1)``), so a fan-out over
    regions shows its progress per region.
    """
    answered = []
    for r in parse_results(text, ids):
        name = names.get(r.account_id, r.account_id)
        sink.emit(events.tool_end(f"{name} ({region})" if region else name, command, ok=r.ok, ms=r.ms))
        if r.ok:
            answered.append(name)
    if answered:
        sink.executed.append((command, answered))
    attachment, _ = full_results_of(text)  # the model reads the note itself; the thread gets the file
    if attachment is not None:
        sink.emit(attachment)


class GateHook(HookProvider):
    """The gate as a Strands hook on the model path."""

    def __init__(
        self, gate: Gate, sink: EventSink, names: Mapping[str, str], gateway: Gateway | None = None
    ) -> None:
        self.gate = gate
        self.sink = sink
        self.names = dict(names)  # account id -> name, read once per invocation
        self.gateway = gateway
        self._started: dict[str, tuple[list[str], str, str | None]] = {}

    def register_hooks(self, registry: HookRegistry, **kwargs: Any) -> None:
        """Register the before/after tool callbacks."""
        registry.add_callback(BeforeToolCallEvent, self.before)
        registry.add_callback(AfterToolCallEvent, self.after)

    async def before(self, event: BeforeToolCallEvent) -> None:
        """Check, complete or stop a bridge call before it runs."""
        suffix = tool_suffix(event.tool_use["name"])
        if suffix == "resolve_accounts":
            self.sink.emit(events.status("Resolving accounts…"))
        if suffix not in BRIDGE_TOOLS:
            return
        tool_input = event.tool_use.get("input")
        # The review may read the registry and write an approval: off the event loop.
        decision = await asyncio.to_thread(
            self.gate.review, suffix, tool_input if isinstance(tool_input, Mapping) else {}
        )
        decision = await settle(self.gate, decision, self.gateway, self.names)
        if decision.refusal:
            logger.info("bridge call refused", extra={"reason": decision.refusal})
            self.sink.refusals.append(decision.refusal)
            event.cancel_tool = decision.refusal
            return
        if decision.approval:
            self.sink.approvals.append(decision.approval)
            self.sink.emit(approval_event(decision.approval, self.names))
            event.cancel_tool = f"Not run: waiting for approval {decision.approval.approval_id}. Tell the user it awaits approval."
            event.agent.cancel(message=approval_text(decision.approval), after_current_tools=True)
            return
        assert decision.arguments is not None  # noqa: S101 - Decision sets exactly one field
        event.tool_use = {**event.tool_use, "input": decision.arguments}
        ids = [a.account_id for a in decision.accounts]
        command = str(decision.arguments["arguments"].get("cli_command", ""))
        region = decision.arguments.get("region") or None
        self._started[str(event.tool_use["toolUseId"])] = (ids, command, region)
        self.sink.tool_calls += 1
        self.sink.asked.append(command)
        where = ", ".join(self.names.get(i, i) for i in ids) + (f" ({region})" if region else "")
        self.sink.emit(events.status(f"Running `{command}` in {where}…"))
        for account_id in ids:
            name = self.names.get(account_id, account_id)
            self.sink.emit(events.tool_start(f"{name} ({region})" if region else name, command))

    def streaming(self, tool_use_id: str) -> tuple[list[str], str, str | None] | None:
        """Hand a reviewed call's accounts to a tool that reports their ends itself, as its calls return."""
        return self._started.pop(tool_use_id, None)

    def unstream(self, tool_use_id: str, started: tuple[list[str], str, str | None]) -> None:
        """Give a call back to :meth:`after` (the tool sent it whole)."""
        self._started[tool_use_id] = started

    def after(self, event: AfterToolCallEvent) -> None:
        """Report per-account outcomes of a bridge call; remember what account resolution said."""
        if tool_suffix(event.tool_use["name"]) == "resolve_accounts" and isinstance(event.result, Mapping):
            resolved = loads("".join(c.get("text", "") for c in event.result.get("content", [])))
            if isinstance(resolved, dict):
                self.sink.resolution = resolved
        started = self._started.pop(str(event.tool_use.get("toolUseId")), None)
        if started is None:
            return
        ids, command, region = started
        result = event.result
        text = ""
        if isinstance(result, Mapping):
            text = "".join(c.get("text", "") for c in result.get("content", []) if isinstance(c, Mapping))
        if isinstance(result, Mapping) and result.get("status") != "success":
            # A transport or Gateway failure: the session is not reused, and the model (which may
            # quote it) sees a plain account of it instead of the library's text.
            logger.warning("gateway call failed", extra={"detail": text[:300]})
            if self.gateway is not None:
                self.gateway.broken = True
            failure = [
                {"ok": False, "account_id": a, "error": {"code": "gateway_failed", "message": GATEWAY_FAILED}}
                for a in ids
            ]
            text = json.dumps({"results": failure})
            event.result = {**result, "content": [{"text": text}]}
        emit_tool_ends(self.sink, self.names, ids, command, text, region)


@dataclass
class IntentCheck:
    """The intent of the person's words against the calls a model made (model path).

    Whatever the model, a request to change something is never answered as a read:
    its answer is held until the turn ends and is released only when an approval
    request came of it, or when the model ran nothing and told the person how to
    ask (``run aws …``). Otherwise it is replaced by a plain account of what happened
    and how to ask. A hypothetical ("what would happen if I deleted …") gets the
    how-to appended when the model left it out; a negated request passes.
    """

    change: intents.ChangeIntent | None

    @classmethod
    def of(cls, prompt: str) -> "IntentCheck":
        """The check for one prompt."""
        return cls(intents.classify(prompt))

    @property
    def holds(self) -> bool:
        """Whether the model's text waits for :meth:`finish`."""
        return self.change is not None and self.change.kind == "request"

    def finish(self, sink: EventSink, held: str) -> list[Event]:
        """The text events that end the answer (the held text, or what replaces it)."""
        change = self.change
        explained = "run aws" in held.lower()
        if change is None or change.kind == "negated":
            return [events.text(held)] if held else []
        if change.kind == "hypothetical":
            if sink.approvals or explained:
                return []
            return [events.text("\n\n" + intents.hypothetical_answer(change))]
        if sink.approvals or (explained and not sink.executed):
            return [events.text(held)] if held else []
        logger.warning(
            "a change request was answered without an approval; the answer was replaced",
            extra={"verb": change.verb, "reads": len(sink.executed)},
        )
        reasons = list(sink.refusals)
        if sink.resolution and not sink.resolution.get("ok") and sink.resolution.get("message"):
            reasons.append(str(sink.resolution["message"]))
        return [events.text(intents.plain_refusal(change, reasons))]


def ran_footer(sink: EventSink, answer: str, limit: int = 5) -> str | None:
    """``_Ran `aws …` in staging._`` for the commands that answered and that the answer does not name.

    Every answer on the model path is marked with the commands behind it; a model that
    already named them gets nothing added.
    """
    where: dict[str, list[str]] = {}
    for command, names in sink.executed:
        if command and command not in answer:
            where.setdefault(command, [])
            where[command].extend(n for n in names if n not in where[command])
    if not where:
        return None
    # In the order they were asked for, whichever answered first (concurrent calls finish in any order).
    order = {c: i for i, c in reversed(list(enumerate(sink.asked)))}
    ranked = sorted(where.items(), key=lambda item: order.get(item[0], len(order)))
    parts = [f"`{c}` in {', '.join(n)}" for c, n in ranked[:limit]]
    more = f"; and {len(where) - limit} more command(s)" if len(where) > limit else ""
    return f"\n\n_Ran {'; '.join(parts)}{more}._"
