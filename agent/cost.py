"""Cost questions: Cost Explorer in the payer (management) account, filtered by linked account.

"What did we spend last month in staging", "top services by cost in production",
"how much did dev cost this week": one ``aws ce get-cost-and-usage`` call in the
account the registry marks ``payer``, filtered to the linked account(s), grouped by
service when services are asked about (or by account when several are named).
Member accounts need no new permission: only the payer is called.
"""

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from agent import filters
from agent.answers import AccountResult, table
from agent.resources import Column

_COST = re.compile(
    r"(?<![\w-])(?:spend|spent|spending|costs?|costing|bill|billing|billed|charges?|charged|expenses?|expensive|"
    r"how much (?:did|does|do|are|is|have|has)\b.*\b(?:cost|pay|paying|paid|spend|spent|charge))(?![\w-])",
    re.IGNORECASE,
)
_BY_SERVICE = re.compile(
    r"\b(?:by|per)\s+service|\btop\s+(?:\d+\s+)?services?|\bservices?\s+by\s+cost|\bwhich\s+services?|"
    r"\bwhat\s+services?|\bbreakdown|\bbroken\s+down|\bmost\s+expensive\s+services?|\bexpensive\s+services?",
    re.IGNORECASE,
)
_TOP = re.compile(r"\btop\s+(\d+)\b", re.IGNORECASE)
_TARGETS = re.compile(r"\s(?:in|for|of|on|across|from|within)\s+(?:the\s+)?(.+)$", re.IGNORECASE)
_OWNER = re.compile(r"\b(?:did|does|do|has|have)\s+(.+?)\s+(?:cost|spend|spent|pay|paid)\b", re.IGNORECASE)
_NOT_TARGETS = re.compile(
    r"\b(?:cost|costs|spend|spent|services?|by|per|top|\d+|we|us|our|did|does|what|how|much|money|total|"
    r"the|bill|billing|breakdown|explorer|aws|was|were|is|are|in|usd|dollars)\b",
    re.IGNORECASE,
)
METRIC = "UnblendedCost"
NO_PAYER = (
    "No account in the registry is marked as the payer (management) account, where Cost Explorer runs. "
    "An administrator adds `payer: true` to that account's registry item; until then cost questions cannot be answered."
)


@dataclass(frozen=True)
class CostQuery:
    """One cost question."""

    targets: str | None
    window: filters.Window
    by_service: bool
    top: int = 10

    def period(self, now: datetime | None = None) -> tuple[str, str]:
        """``(start, end)`` dates for Cost Explorer (end exclusive; never empty)."""
        start, end = self.window.bounds(now)
        end_day = (
            end.date()
            if end == end.replace(hour=0, minute=0, second=0, microsecond=0)
            else end.date() + timedelta(days=1)
        )
        start_day = min(start.date(), end_day - timedelta(days=1))
        return start_day.isoformat(), end_day.isoformat()

    def command(self, linked: Sequence[str], now: datetime | None = None) -> str:
        """The exact ``aws ce get-cost-and-usage`` command for these linked account ids."""
        start, end = self.period(now)
        flt = json.dumps(
            {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": list(linked)}}, separators=(",", ":")
        )
        parts = [
            "aws ce get-cost-and-usage",
            f"--time-period Start={start},End={end}",
            "--granularity MONTHLY",
            f"--metrics {METRIC}",
            f"--filter '{flt}'",
        ]
        if self.by_service:
            parts.append("--group-by Type=DIMENSION,Key=SERVICE")
        elif len(linked) > 1:
            parts.append("--group-by Type=DIMENSION,Key=LINKED_ACCOUNT")
        return " ".join(parts)


def parse(prompt: str) -> CostQuery | None:
    """The cost question in ``prompt``, or ``None`` when it asks about something else."""
    text = " ".join(re.sub(r"<@[A-Z0-9]+(?:\|[^>]*)?>", " ", prompt).split()).rstrip("?!.")
    if not _COST.search(text):
        return None
    text, q = filters.extract(text)
    by_service = bool(_BY_SERVICE.search(text))
    top = int(m.group(1)) if (m := _TOP.search(text)) else 10
    text = _BY_SERVICE.sub(" ", text)
    targets = None
    if m := _TARGETS.search(text):
        targets = m.group(1)
    elif m := _OWNER.search(text):
        targets = m.group(1)
    else:
        before = _NOT_TARGETS.sub(" ", _COST.split(text)[0] if _COST.split(text) else "")
        targets = before.strip() or None
    if targets:
        targets = re.sub(r"'s\b", "", targets)
        targets = (
            " ".join(_NOT_TARGETS.sub(" ", targets).split())
            if not re.search(r"\baccounts?\b", targets)
            else targets
        )
        targets = targets.strip() or None
    window = q.window or filters.Window("this month", calendar="this month")
    return CostQuery(targets, window, by_service, top)


def follow_up(history: Sequence[str], prompt: str) -> CostQuery | None:
    """A cost question continued in other accounts ("and in production?" after a cost question)."""
    if not history or (before := parse(history[0])) is None:
        return None
    m = re.match(
        r"^\s*(?:and|what about|how about|also|same for|now)\b\s*(?:in\s+|for\s+|of\s+)?(.+?)[?!.]*$",
        prompt,
        re.IGNORECASE,
    )
    if not m:
        return None
    return CostQuery(m.group(1), before.window, before.by_service, before.top)


def _amount(metrics: Any) -> tuple[float, str]:
    value = metrics.get(METRIC, {}) if isinstance(metrics, Mapping) else {}
    try:
        return float(value.get("Amount", 0)), str(value.get("Unit", "USD"))
    except (TypeError, ValueError):
        return 0.0, "USD"


def _money(amount: float, unit: str) -> str:
    return f"${amount:,.2f}" if unit == "USD" else f"{amount:,.2f} {unit}"


def compose(
    query: CostQuery, result: AccountResult, linked: Mapping[str, str], payer: str, command: str
) -> str:
    """The total and, when grouped, a table of the largest groups."""
    if not result.ok:
        return f"Cost Explorer in **{payer}** failed: {result.error} (`{result.error_code}`)"
    payload = result.payload if isinstance(result.payload, Mapping) else {}
    periods = payload.get("ResultsByTime") or []
    groups: dict[str, float] = {}
    total, unit = 0.0, "USD"
    for p in periods:
        if not isinstance(p, Mapping):
            continue
        if p.get("Groups"):
            for g in p["Groups"]:
                amount, unit = _amount(g.get("Metrics"))
                key = " / ".join(str(k) for k in g.get("Keys") or ["?"])
                groups[linked.get(key, key)] = groups.get(linked.get(key, key), 0.0) + amount
                total += amount
        else:
            amount, unit = _amount(p.get("Total"))
            total += amount
    start, end = query.period()
    whose = ", ".join(linked.values())
    parts = [
        f"**{whose}** cost **{_money(total, unit)}** from {start} to {end} (end exclusive; {METRIC}, "
        f"Cost Explorer in the payer account **{payer}**)."
    ]
    if not periods:
        parts[0] = (
            f"Cost Explorer in **{payer}** returned no cost data for **{whose}** from {start} to {end}."
        )
    if groups:
        ranked = sorted(groups.items(), key=lambda kv: kv[1], reverse=True)
        shown = ranked[: query.top]
        what = (
            "Service" if query.by_service or "--group-by Type=DIMENSION,Key=SERVICE" in command else "Account"
        )
        rows = [{"key": k, "cost": _money(v, unit)} for k, v in shown]
        parts.append(table((Column(what, "key"), Column("Cost", "cost")), rows))
        if len(ranked) > len(shown):
            parts.append(f"…and {len(ranked) - len(shown)} more.")
    return "\n\n".join(parts)


def now_utc() -> datetime:
    """The current time (one place, for tests to reason about)."""
    return datetime.now(UTC)
