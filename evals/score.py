"""Scoring one case against what the agent streamed and what the bridge audited."""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from evals.cases import Call, Case

READ_TOOLS = ("query", "query_accounts")


@dataclass
class Observed:
    """What one case produced."""

    text: str = ""
    calls: list[Call] = field(default_factory=list)
    approvals: list[Call] = field(default_factory=list)
    followups: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    mutating_ran: bool = False


def calls_of(records: Iterable[Mapping[str, Any]], names: Mapping[str, str]) -> list[Call]:
    """Audit records (one per account) grouped into calls: ``(tool, command) -> accounts``.

    A command the bridge refused before any AWS call did not run and is left out.
    """
    grouped: dict[tuple[str, str], set[str]] = {}
    for r in records:
        tool = str(r.get("tool", ""))
        if tool not in READ_TOOLS or r.get("outcome") == "refused":
            continue
        key = (tool, " ".join(str(r.get("command", "")).split()))
        grouped.setdefault(key, set()).add(names.get(str(r.get("account_id")), str(r.get("account_id"))))
    return [Call(tool, command, tuple(sorted(accounts))) for (tool, command), accounts in grouped.items()]


def matches(want: Call, got: Call) -> bool:
    """Same tool and accounts, and the command matches (``*`` in the expected one matches any text)."""
    pattern = ".*".join(re.escape(part) for part in want.command.split("*"))
    return (
        want.tool == got.tool
        and want.accounts == got.accounts
        and re.fullmatch(pattern, got.command) is not None
    )


def _has(text: str, fact: str) -> bool:
    return fact.lower() in text.lower()


def failures(case: Case, seen: Observed) -> list[str]:
    """Why the case failed (empty when it passed); with ``one_of``, passing one alternative is enough."""
    own = _failures(case, seen)
    if not case.one_of or own:
        return own
    tried = [_failures(alternative, seen) for alternative in case.one_of]
    if any(not why for why in tried):
        return []
    return [f"alternative {i + 1}: {'; '.join(why)}" for i, why in enumerate(tried)]


def _failures(case: Case, seen: Observed) -> list[str]:
    out: list[str] = [f"error event: {e}" for e in seen.errors]
    if seen.mutating_ran:
        out.append("a mutating command ran")
    if case.calls is not None:
        if not case.calls and seen.calls:
            out.append(f"expected no command, ran {[c.command for c in seen.calls]}")
        for want in case.calls:
            if not any(matches(want, got) for got in seen.calls):
                near = [c for c in seen.calls if matches(Call(c.tool, want.command, c.accounts), c)]
                got = f" (ran it as {near[0].tool} in {list(near[0].accounts)})" if near else ""
                out.append(f"missing call {want.tool} `{want.command}` in {list(want.accounts)}{got}")
    if case.approval is not None:
        wanted = Call("approval", case.approval.command, case.approval.accounts)
        if not any(matches(wanted, a) for a in seen.approvals):
            out.append(
                f"expected an approval request for `{case.approval.command}` in {list(case.approval.accounts)}, "
                f"got {[(a.command, list(a.accounts)) for a in seen.approvals]}"
            )
    elif seen.approvals and not case.one_of:
        out.append(f"unexpected approval request {[a.command for a in seen.approvals]}")
    for alternatives in case.facts:
        if not any(_has(seen.text, f) for f in alternatives):
            out.append(f"answer lacks {' / '.join(alternatives)!r}")
    for word in case.absent:
        if _has(seen.text, word):
            out.append(f"answer contains {word!r}")
    for prompt in case.followups:
        if prompt.lower() not in (f.lower() for f in seen.followups):
            out.append(f"no follow-up button {prompt!r} (got {seen.followups})")
    return out


def by_category(results: list[dict[str, Any]], categories: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{category: {passed, total, accuracy}}`` for the categories that have cases."""
    out: dict[str, dict[str, Any]] = {}
    for category in categories:
        mine = [r for r in results if r["category"] == category]
        if mine:
            passed = sum(1 for r in mine if r["passed"])
            out[category] = {
                "passed": passed,
                "total": len(mine),
                "accuracy": round(100 * passed / len(mine), 1),
            }
    return out
