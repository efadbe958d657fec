"""Code that stands between any model and the bridge.

Whatever a model writes, this code (a Strands hook on the model path, a plain
call on the direct and resume paths) overwrites ``requester`` and
``context`` with the verified identity, drops any ``approval_id`` the model
invented, refuses accounts the caller is not entitled to, and sends a call
that needs approval to the approval gate instead of the bridge.
"""

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from strands.hooks import AfterToolCallEvent, BeforeToolCallEvent, HookProvider, HookRegistry

from agent.accounts import AccountEntry, AccountRegistry
from agent.answers import full_results_of, parse_results
from agent.approvals import ApprovalPolicy, ApprovalRecord, ApprovalStore, PendingCall
from agent.auth import Caller
from agent.gateway import BRIDGE_TOOLS, tool_suffix
from centralops import events
from centralops.events import Event

logger = logging.getLogger("centralops.agent.gate")


class EventSink:
    """Where hooks and paths put the events of one invocation, read by the streaming loop."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.approvals: list[ApprovalRecord] = []
        self.tool_calls = 0
        self.executed: list[tuple[str, list[str]]] = []

    def emit(self, event: Event) -> None:
        """Queue an event for the client."""
        self.queue.put_nowait(event)


@dataclass
class Decision:
    """What the gate made of a bridge call.

    Exactly one of ``arguments`` (run this), ``refusal`` (run nothing, say this)
    or ``approval`` (run nothing yet, ask) is set.
    """

    arguments: dict[str, Any] | None = None
    refusal: str | None = None
    approval: ApprovalRecord | None = None
    accounts: list[AccountEntry] = field(default_factory=list)


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
        record = self.store.create(
            requester=self.caller.requester,
            call=call,
            reason=reason,
            risk=risk,
            session_id=self.session_id,
            thread=self.context,
            ttl_s=self.policy.ttl_s,
        )
        return Decision(approval=record, accounts=entries)


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
    sink: EventSink, names: Mapping[str, str], ids: list[str], command: str, text: str
) -> None:
    """One ``tool`` end event per account of a bridge result; answered calls are remembered."""
    answered = []
    for r in parse_results(text, ids):
        name = names.get(r.account_id, r.account_id)
        sink.emit(events.tool_end(name, command, ok=r.ok, ms=r.ms))
        if r.ok:
            answered.append(name)
    if answered:
        sink.executed.append((command, answered))
    attachment, _ = full_results_of(text)  # the model reads the note itself; the thread gets the file
    if attachment is not None:
        sink.emit(attachment)


class GateHook(HookProvider):
    """The gate as a Strands hook on the model path."""

    def __init__(self, gate: Gate, sink: EventSink, names: Mapping[str, str]) -> None:
        self.gate = gate
        self.sink = sink
        self.names = dict(names)  # account id -> name, read once per invocation
        self._started: dict[str, tuple[list[str], str]] = {}

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
        if decision.refusal:
            logger.info("bridge call refused", extra={"reason": decision.refusal})
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
        self._started[str(event.tool_use["toolUseId"])] = (ids, command)
        self.sink.tool_calls += 1
        where = ", ".join(self.names.get(i, i) for i in ids)
        self.sink.emit(events.status(f"Running `{command}` in {where}…"))
        for account_id in ids:
            self.sink.emit(events.tool_start(self.names.get(account_id, account_id), command))

    def after(self, event: AfterToolCallEvent) -> None:
        """Report per-account outcomes of a bridge call."""
        started = self._started.pop(str(event.tool_use.get("toolUseId")), None)
        if started is None:
            return
        ids, command = started
        result = event.result
        text = ""
        if isinstance(result, Mapping):
            text = "".join(c.get("text", "") for c in result.get("content", []) if isinstance(c, Mapping))
        emit_tool_ends(self.sink, self.names, ids, command, text)
