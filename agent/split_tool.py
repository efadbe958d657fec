"""The Gateway's ``query_accounts`` tool on the model path, sent as split calls (:mod:`agent.split`).

A model (or the offline planner) still sees one tool and one result: the
results of the calls are joined in the accounts' order, in the bridge's own
shape (``results``, ``ok_count``, ``error_count``, and ``full_results`` when a
call offloaded). Meanwhile each account's ``tool`` end event is emitted as its
call returns. The gate (:class:`agent.gate.GateHook`) reviews the tool use
before it reaches this wrapper, exactly as it reviews any other.
"""

import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from strands.types._events import ToolResultEvent
from strands.types.tools import AgentTool, ToolGenerator, ToolSpec, ToolUse

from agent import split
from agent.answers import loads, parse_results
from agent.gate import GATEWAY_FAILED, GateHook
from agent.gateway import Gateway, tool_suffix
from centralops import events

logger = logging.getLogger(__name__)


def with_split(tools: Sequence[AgentTool], gateway: Gateway, hook: GateHook, calls: int) -> list[AgentTool]:
    """The Gateway's tools, with ``query_accounts`` sent as at most ``calls`` calls."""
    if calls <= 1:
        return list(tools)
    return [
        SplitTool(t, gateway, hook, calls) if tool_suffix(t.tool_name) == split.SPLIT_TOOL else t
        for t in tools
    ]


def _failed(ids: Sequence[str]) -> str:
    failure = [
        {"ok": False, "account_id": a, "error": {"code": "gateway_failed", "message": GATEWAY_FAILED}}
        for a in ids
    ]
    return json.dumps({"results": failure})


def joined(texts: Sequence[str]) -> dict[str, Any]:
    """One ``query_accounts`` result from the results of its calls, in their order."""
    results: list[Any] = []
    refs: list[Any] = []
    problem = ""
    for text in texts:
        doc = loads(text)
        if not isinstance(doc, dict):
            continue
        results.extend(doc.get("results") or [])
        if isinstance(doc.get("full_results"), dict):
            refs.append(doc["full_results"])
        problem = problem or str(doc.get("full_results_error") or "")
    ok = sum(1 for r in results if isinstance(r, dict) and r.get("ok") is True)
    out: dict[str, Any] = {"results": results, "ok_count": ok, "error_count": len(results) - ok}
    if len(refs) == 1:
        out["full_results"] = refs[0]
    elif refs:  # each call offloaded its own part: one file per part reaches the thread
        out["full_results"] = {
            "parts": refs,
            "accounts": sum(int(r.get("accounts") or 0) for r in refs),
            "bytes": sum(int(r.get("bytes") or 0) for r in refs),
        }
    if problem:
        out["full_results_error"] = problem
    return out


@asynccontextmanager
async def _borrowed(gateway: Gateway) -> AsyncIterator[Gateway]:
    yield gateway  # the turn's own session: the pool closes it after the turn if a call broke it


class SplitTool(AgentTool):
    """``query_accounts`` as several concurrent calls on the turn's Gateway session.

    Args:
        inner: The Gateway's own tool (used as it is when the call is not split).
        gateway: The turn's Gateway session.
        hook: The turn's gate, which reviewed the tool use and receives its events.
        calls: At most this many calls per tool use.
    """

    def __init__(self, inner: AgentTool, gateway: Gateway, hook: GateHook, calls: int) -> None:
        super().__init__()
        self.inner = inner
        self.gateway = gateway
        self.hook = hook
        self.calls = calls

    @property
    def tool_name(self) -> str:
        """The Gateway's name for the tool."""
        return self.inner.tool_name

    @property
    def tool_spec(self) -> ToolSpec:
        """The Gateway's spec of the tool."""
        return self.inner.tool_spec

    @property
    def tool_type(self) -> str:
        """The Gateway tool's type."""
        return self.inner.tool_type

    async def stream(
        self, tool_use: ToolUse, invocation_state: dict[str, Any], **kwargs: Any
    ) -> ToolGenerator:
        """Send the reviewed call as split calls; yield the joined result."""
        started = self.hook.streaming(str(tool_use["toolUseId"]))
        args = tool_use["input"] if isinstance(tool_use["input"], dict) else {}
        ids = args.get("account_ids")
        if started is None or not isinstance(ids, list) or len(ids) < 2:
            if started is not None:
                self.hook.unstream(str(tool_use["toolUseId"]), started)
            async for event in self.inner.stream(tool_use, invocation_state, **kwargs):
                yield event
            return
        account_ids, command, region = started
        sink, names = self.hook.sink, self.hook.names

        def label(account_id: str) -> str:
            name = names.get(account_id, account_id)
            return f"{name} ({region})" if region else name

        texts: dict[int, str] = {}
        reported: set[str] = set()
        try:
            async for part in split.run_parts(
                lambda: _borrowed(self.gateway),
                split.SPLIT_TOOL,
                args,
                account_ids,
                calls=self.calls,
                retry=False,
            ):
                text = part.text if part.ok else _failed(part.account_ids)
                texts[part.index] = text
                for r in parse_results(text, part.account_ids):
                    sink.emit(events.tool_end(label(r.account_id), command, ok=r.ok, ms=r.ms))
                reported.update(part.account_ids)
        except Exception:  # the model gets a plain account, never a library's text
            logger.exception("split call failed")
            rest = [a for a in account_ids if a not in reported]
            if rest:
                texts[len(account_ids)] = _failed(rest)  # after every part: no part index reaches it
                for a in rest:
                    sink.emit(events.tool_end(label(a), command, ok=False, ms=0))
        ordered = [texts[i] for i in sorted(texts)]
        result = joined(ordered)
        answered = [
            names.get(r.account_id, r.account_id)
            for r in parse_results(json.dumps(result), account_ids)
            if r.ok
        ]
        if answered:
            sink.executed.append((command, answered))
        files, _ = split.attachments([t for t in ordered if t])  # the model reads the note itself
        for file in files:
            sink.emit(file)
        yield ToolResultEvent(
            {
                "toolUseId": tool_use["toolUseId"],
                "status": "success",
                "content": [{"text": json.dumps(result)}],
            }
        )
