"""The offline planner: a deterministic Strands ``Model`` for the local stack and tests.

It reads the conversation like any model, answers in the Converse stream
format, and calls the same tools a real model would:

1. parse the newest question with :mod:`agent.grammar` (completing a follow-up
   from the earlier questions of the session);
2. call ``resolve_accounts`` with the phrase naming the accounts;
3. call the bridge (``___query`` for one account, ``___query_accounts`` for
   several) — or, when resolution failed, answer with its message and call nothing;
4. compose the answer from the tool results.

Each step is decided from the messages alone, so the planner keeps no state
between calls and survives restarts with the session's memory.
"""

import asyncio
import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from strands.models.model import Model
from strands.types.content import Message, Messages
from strands.types.streaming import StreamEvent
from strands.types.tools import ToolSpec

from agent import alert_questions, answers, cost, exposure, grammar, intents, logs, regions
from agent.gateway import tool_suffix
from centralops import settings
from centralops.errors import CentralOpsError

T = TypeVar("T", bound=BaseModel)

RESOLVE_TOOL = "resolve_accounts"


def _texts(message: Message) -> str:
    return "".join(str(b.get("text", "")) for b in message.get("content", []) if "text" in b)


def _is_question(message: Message) -> bool:
    return message.get("role") == "user" and any("text" in b for b in message.get("content", []))


def _tool_exchanges(turn: Messages) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``(toolUse, toolResult)`` pairs of the current turn, in order."""
    uses: dict[str, dict[str, Any]] = {}
    pairs = []
    for message in turn:
        for block in message.get("content", []):
            if "toolUse" in block:
                uses[str(block["toolUse"]["toolUseId"])] = dict(block["toolUse"])
            if "toolResult" in block:
                result = dict(block["toolResult"])
                use = uses.get(str(result.get("toolUseId")))
                if use is not None:
                    pairs.append((use, result))
    return pairs


def _result_text(result: dict[str, Any]) -> str:
    parts = []
    for c in result.get("content", []):
        if "text" in c:
            parts.append(str(c["text"]))
        elif "json" in c:
            parts.append(json.dumps(c["json"]))
    return "".join(parts)


def _text_events(text: str) -> list[StreamEvent]:
    events: list[StreamEvent] = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockStart": {"start": {}}},
    ]
    paragraphs = text.split("\n\n")
    for i, p in enumerate(paragraphs):
        delta = p if i == len(paragraphs) - 1 else p + "\n\n"
        events.append({"contentBlockDelta": {"delta": {"text": delta}}})
    events.append({"contentBlockStop": {}})
    events.append({"messageStop": {"stopReason": "end_turn"}})
    return events


def _tool_events(calls: list[tuple[str, dict[str, Any]]]) -> list[StreamEvent]:
    events: list[StreamEvent] = [{"messageStart": {"role": "assistant"}}]
    for name, tool_input in calls:
        tool_use_id = f"planner-{uuid.uuid4().hex[:16]}"
        events.append({"contentBlockStart": {"start": {"toolUse": {"name": name, "toolUseId": tool_use_id}}}})
        events.append({"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps(tool_input)}}}})
        events.append({"contentBlockStop": {}})
    events.append({"messageStop": {"stopReason": "tool_use"}})
    return events


BRIDGE_SUFFIXES = {"query", "query_accounts"}
MAX_PER_BUCKET_CALLS = 25


@dataclass
class _BridgeResults:
    calls: int = 0
    results: list[tuple[str, answers.AccountResult]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    regional: list[tuple[str, str, answers.AccountResult]] = field(default_factory=list)


def _bridge_results(exchanges: list[tuple[dict[str, Any], dict[str, Any]]]) -> _BridgeResults:
    """``(command, per-account result)`` of every bridge call of the turn, and refusals by the gate."""
    out = _BridgeResults(calls=len(exchanges))
    for use, result in exchanges:
        tool_input = use.get("input") or {}
        command = str((tool_input.get("arguments") or {}).get("cli_command", ""))
        ids = [tool_input["account_id"]] if "account_id" in tool_input else tool_input.get("account_ids", [])
        text = _result_text(result)
        if result.get("status") == "error" and not text.lstrip().startswith("{"):
            out.refusals.append(text)
            continue
        parsed = answers.parse_results(text, ids)
        out.results.extend((command, r) for r in parsed)
        out.regional.extend((command, str(tool_input.get("region") or ""), r) for r in parsed)
    return out


def _per_bucket_calls(
    template: str, resource: Any, listed: list[answers.AccountResult], query: str, region: str | None
) -> list[tuple[str, dict[str, Any]]]:
    """One ``query`` per bucket listed by the first stage (at most :data:`MAX_PER_BUCKET_CALLS`)."""
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    start = end - timedelta(days=2)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    calls: list[tuple[str, dict[str, Any]]] = []
    for r in listed:
        if not r.ok:
            continue
        for bucket in answers.items_of(resource, r.payload):
            name = bucket.get("Name") if isinstance(bucket, dict) else None
            if not name or len(calls) >= MAX_PER_BUCKET_CALLS:
                continue
            cli = template.format(bucket=name, start=start.strftime(stamp), end=end.strftime(stamp))
            tool_input: dict[str, Any] = {
                "account_id": r.account_id,
                "tool_name": "aws___call_aws",
                "arguments": {"cli_command": cli},
            }
            if region:
                tool_input["region"] = region
            calls.append((query, tool_input))
    return calls


POLL_INTERVAL_S = 0.5


def _is_repeated_poll(messages: Messages, planned: list[StreamEvent]) -> bool:
    polling = any(logs.RESULTS in json.dumps(e.get("contentBlockDelta", {})) for e in planned)
    return polling and logs.RESULTS in json.dumps(messages[-2:], default=str)


def _usage() -> StreamEvent:
    return {
        "metadata": {
            "usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0},
            "metrics": {"latencyMs": 0},
        }
    }


class OfflinePlanner(Model):
    """A Strands model that plans tool calls from a documented grammar (see :mod:`agent.grammar`)."""

    def __init__(self, **config: Any) -> None:
        self.config: dict[str, Any] = dict(config)

    def update_config(self, **model_config: Any) -> None:
        """Update the (unused) configuration."""
        self.config.update(model_config)

    def get_config(self) -> dict[str, Any]:
        """The configuration."""
        return self.config

    async def structured_output(
        self, output_model: type[T], prompt: Messages, system_prompt: str | None = None, **kwargs: Any
    ) -> AsyncGenerator[dict[str, T | Any], None]:
        """Refused: the planner only answers in text and tool calls (CentralOps never asks it for more)."""
        raise CentralOpsError(
            "The offline planner answers in text and tool calls only. For structured output, configure a "
            f"real model with {settings.MODEL_PROVIDER} (bedrock, anthropic, openai or ollama).",
            code="unsupported",
        )
        yield {}  # pragma: no cover - makes this an async generator

    async def stream(
        self,
        messages: Messages,
        tool_specs: list[ToolSpec] | None = None,
        system_prompt: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterable[StreamEvent]:
        """Decide the next step of the current turn and stream it in the Converse format."""
        planned = self.plan(messages, [t["name"] for t in tool_specs or []], system_prompt)
        if _is_repeated_poll(messages, planned):
            await asyncio.sleep(POLL_INTERVAL_S)  # a Logs Insights query still running: give it time
        for event in planned:
            yield event
        yield _usage()

    def plan(
        self, messages: Messages, tool_names: list[str], system_prompt: str | None = None
    ) -> list[StreamEvent]:
        """The stream events of the next step (no I/O: a pure function of the conversation).

        A system prompt holding an alert (:mod:`agent.alert_questions`) makes a question that names
        no account a question about that alert.
        """
        alert = alert_questions.from_system_prompt(system_prompt)
        questions = [i for i, m in enumerate(messages) if _is_question(m)]
        if not questions:
            return _text_events(grammar.HELP)
        start = questions[-1]
        prompt = _texts(messages[start])
        history = [_texts(messages[i]) for i in reversed(questions[:-1])]
        change = intents.classify(prompt)
        if change is None and history:
            change = intents.follow_up(history[0], grammar.parse_sentence(prompt))
        if change is not None:
            # A change is never answered as a read: it becomes its exact command (which the gate
            # sends for approval) or a plain answer saying how to ask for it.
            if change.kind == "negated":
                return _text_events(intents.negated_answer(change))
            if change.kind == "hypothetical":
                return _text_events(intents.hypothetical_answer(change))
            if change.command is None or not change.targets:
                return _text_events(intents.plain_refusal(change))
            intent: grammar.Intent | None = grammar.Intent(
                "run", command=change.command, targets=change.targets, region=change.region
            )
        else:
            names = {tool_suffix(n): n for n in tool_names}
            if (cost_q := cost.parse(prompt) or cost.follow_up(history, prompt)) is not None:
                if alert is not None and alert_questions.points_at_alert(cost_q.targets):
                    cost_q = replace(cost_q, targets=alert["account_id"])  # "what does it cost?"
                return self._cost(cost_q, messages[start:], names)
            if (log_q := logs.parse(prompt)) is not None:
                if alert is not None and alert_questions.points_at_alert(log_q.targets):
                    log_q = replace(log_q, targets=alert["account_id"])
                return self._logs(log_q, messages[start:], names)
            intent = grammar.parse(prompt, history)
            if alert is not None:
                intent = alert_questions.resolve(prompt, intent, alert)
                if intent is None and (unanswered := alert_questions.unanswered(prompt, alert)):
                    return _text_events(unanswered)
            if intent is None and logs.mentions(prompt):
                return _text_events(logs.NAME_THE_GROUP)
        if intent is None:
            return _text_events(grammar.HELP)
        names = {tool_suffix(n): n for n in tool_names}
        if RESOLVE_TOOL not in names or "query" not in names:
            return _text_events("I have no tools to query accounts with; the Gateway offered none.")
        if not intent.targets:
            what = intent.resource.label if intent.resource else "that command"
            return _text_events(
                f"Which account(s) should I look at for {what}? Name one (e.g. `staging`), "
                "an environment (`prod accounts`) or `all accounts`."
            )
        exchanges = _tool_exchanges(messages[start:])
        resolved = next((r for u, r in exchanges if u["name"] == names[RESOLVE_TOOL]), None)
        if resolved is None:
            return _tool_events([(names[RESOLVE_TOOL], {"targets": intent.targets})])
        resolution = answers.loads(_result_text(resolved))
        if not isinstance(resolution, dict) or not resolution.get("ok"):
            message = resolution.get("message") if isinstance(resolution, dict) else None
            text = str(message or _result_text(resolved))
            if change is not None:
                text += "\n\n" + intents.plain_refusal(change)
            return _text_events(text)
        accounts = resolution.get("accounts", [])
        account_names = {a["account_id"]: a["name"] for a in accounts}
        ids = [a["account_id"] for a in accounts]
        applied = intent.applied()
        command = applied.command
        bridge = _bridge_results([(u, r) for u, r in exchanges if tool_suffix(u["name"]) in BRIDGE_SUFFIXES])
        if not bridge.calls:
            if intent.regions and intent.action != "run" and applied.resource.key not in regions.GLOBAL:
                return self._regional(
                    intent, command, applied.resource, accounts, bridge, names, account_names, []
                )
            return _tool_events(self._calls(intent, command, ids, names))
        listed = [r for c, r in bridge.results if c == command]
        notes = [*applied.said, *bridge.refusals, *resolution.get("notes", [])]
        resource = None if intent.action == "run" else applied.resource
        if intent.regions and resource is not None:
            if resource.key not in regions.GLOBAL:
                return self._regional(
                    intent, command, resource, accounts, bridge, names, account_names, notes
                )
            notes.append(
                f"{resource.label[:1].upper()}{resource.label[1:]} are global: one list per account."
            )
        if resource is not None and resource.per_bucket and listed:
            template = resource.per_bucket
            checks = exposure.CHECKS if resource.key == "public_buckets" else (template,)
            per_bucket = [(c, r) for c, r in bridge.results if c != command]
            if not per_bucket and not bridge.refusals:
                calls = [
                    call
                    for t in checks
                    for call in _per_bucket_calls(t, resource, listed, names["query"], intent.region)
                ]
                if calls:
                    return _tool_events(calls)
            if resource.key == "public_buckets":
                answer = exposure.compose(listed, per_bucket, account_names)
            else:
                answer = answers.compose_per_bucket(resource, listed, per_bucket, account_names, template)
            return _text_events("\n\n".join(p for p in [answer, *notes] if p))
        action = "run" if intent.action == "run" else intent.action
        answer = answers.compose(action, resource, listed, account_names, command) if listed else ""
        return _text_events("\n\n".join(p for p in [answer, *notes] if p))

    def _resolved(
        self, targets: str | None, turn: Messages, names: dict[str, str], what: str
    ) -> tuple[list[StreamEvent] | None, dict[str, Any]]:
        """``(next step, resolution)``: resolve the accounts first; a failure is the answer."""
        if RESOLVE_TOOL not in names or "query" not in names:
            return _text_events("I have no tools to query accounts with; the Gateway offered none."), {}
        if not targets:
            return _text_events(
                f"Which account(s) should I look at for {what}? Name one (e.g. `staging`), "
                "an environment (`prod accounts`) or `all accounts`."
            ), {}
        resolved = next((r for u, r in _tool_exchanges(turn) if u["name"] == names[RESOLVE_TOOL]), None)
        if resolved is None:
            return _tool_events([(names[RESOLVE_TOOL], {"targets": targets})]), {}
        resolution = answers.loads(_result_text(resolved))
        if not isinstance(resolution, dict) or not resolution.get("ok"):
            message = resolution.get("message") if isinstance(resolution, dict) else None
            return _text_events(str(message or _result_text(resolved))), {}
        return None, resolution

    def _cost(self, query: cost.CostQuery, turn: Messages, names: dict[str, str]) -> list[StreamEvent]:
        """Cost Explorer in the payer account, filtered by the linked accounts."""
        step, resolution = self._resolved(query.targets, turn, names, "cost")
        if step is not None:
            return step
        payer = resolution.get("payer")
        if not isinstance(payer, dict):
            return _text_events(cost.NO_PAYER)
        linked = {a["account_id"]: a["name"] for a in resolution.get("accounts", [])}
        exchanges = [(u, r) for u, r in _tool_exchanges(turn) if tool_suffix(u["name"]) in BRIDGE_SUFFIXES]
        if not exchanges:
            command = query.command(list(linked))
            return _tool_events(
                [
                    (
                        names["query"],
                        {
                            "tool_name": "aws___call_aws",
                            "account_id": payer["account_id"],
                            "arguments": {"cli_command": command},
                        },
                    )
                ]
            )
        bridge = _bridge_results(exchanges)
        notes = [*bridge.refusals, *resolution.get("notes", [])]
        answer = ""
        if bridge.results:
            command, result = bridge.results[0]
            answer = cost.compose(query, result, linked, str(payer.get("name")), command)
        return _text_events("\n\n".join(p for p in [answer, *notes] if p))

    def _logs(self, query: logs.LogQuery, turn: Messages, names: dict[str, str]) -> list[StreamEvent]:
        """Start a Logs Insights query, poll it, show its result."""
        step, resolution = self._resolved(query.targets, turn, names, f"the logs of `{query.log_group}`")
        if step is not None:
            return step
        accounts = resolution.get("accounts", [])
        if len(accounts) != 1:
            return _text_events(logs.ONE_ACCOUNT)
        account = accounts[0]
        exchanges = [(u, r) for u, r in _tool_exchanges(turn) if tool_suffix(u["name"]) in BRIDGE_SUFFIXES]
        bridge = _bridge_results(exchanges)

        def call(command: str) -> list[StreamEvent]:
            tool_input = {
                "tool_name": "aws___call_aws",
                "account_id": account["account_id"],
                "arguments": {"cli_command": command},
            }
            return _tool_events([(names["query"], tool_input)])

        if not exchanges:
            return call(query.command())
        notes = [*bridge.refusals, *resolution.get("notes", [])]
        started = [r for c, r in bridge.results if c.startswith(logs.START)]
        polls = [r for c, r in bridge.results if c.startswith(logs.RESULTS)]
        if started and started[0].ok and (qid := logs.query_id(started[0])):
            last = polls[-1] if polls else None
            if last is None or (
                last.ok and logs.status(last) in logs.PENDING and len(polls) < logs.MAX_POLLS
            ):
                return call(f"{logs.RESULTS} --query-id {qid}")
            answer = logs.compose(query, last, str(account["name"]))
        elif started:
            answer = logs.compose(query, started[0], str(account["name"]))
        else:
            answer = ""
        return _text_events("\n\n".join(p for p in [answer, *notes] if p))

    def _regional(
        self,
        intent: grammar.Intent,
        command: str,
        resource: Any,
        accounts: list[dict[str, Any]],
        bridge: _BridgeResults,
        names: dict[str, str],
        account_names: dict[str, str],
        notes: list[str],
    ) -> list[StreamEvent]:
        """The next step of a question fanned out over regions (discover, call per region, answer)."""
        discovered = {
            r.account_id: regions.enabled_regions(r.payload)
            for c, _, r in bridge.regional
            if c == regions.DESCRIBE_REGIONS and r.ok
        }
        failed = [r for c, _, r in bridge.regional if c == regions.DESCRIBE_REGIONS and not r.ok]
        by_region, undiscovered, region_notes = regions.plan(intent.regions, accounts, discovered)
        main = [(region, r) for c, region, r in bridge.regional if c == command]
        if not main and not bridge.refusals:
            asked_regions = any(c == regions.DESCRIBE_REGIONS for c, _, _ in bridge.regional)
            if undiscovered and not asked_regions:
                return _tool_events(self._calls_in(regions.DESCRIBE_REGIONS, undiscovered, None, names))
            if by_region:
                calls = [
                    c
                    for region, ids in by_region.items()
                    for c in self._calls_in(command, ids, region, names)
                ]
                return _tool_events(calls)
        parts = [regions.compose(intent.action, resource, main, account_names)] if main else []
        parts.extend(
            f"**{account_names.get(r.account_id, r.account_id)}** — its enabled regions could not be read: {r.error}"
            for r in failed
        )
        if not main and not failed and not bridge.refusals:
            parts.append("There is no region to look in for these accounts.")
        return _text_events("\n\n".join(p for p in [*parts, *region_notes, *notes] if p))

    @staticmethod
    def _calls_in(
        command: str, ids: list[str], region: str | None, names: dict[str, str]
    ) -> list[tuple[str, dict[str, Any]]]:
        return OfflinePlanner._calls(
            grammar.Intent("run", command=command, region=region), command, ids, names
        )

    @staticmethod
    def _calls(
        intent: grammar.Intent, command: str, ids: list[str], names: dict[str, str]
    ) -> list[tuple[str, dict[str, Any]]]:
        base: dict[str, Any] = {"tool_name": "aws___call_aws"}
        if intent.region:
            base["region"] = intent.region
        if len(ids) == 1 or "query_accounts" not in names:
            return [
                (names["query"], {**base, "account_id": i, "arguments": {"cli_command": command}})
                for i in ids
            ]
        return [
            (names["query_accounts"], {**base, "account_ids": ids, "arguments": {"cli_command": command}})
        ]
