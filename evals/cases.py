"""The phrasings of the evaluation and what each must produce, read from YAML data files.

A file holds one category::

    category: lists
    cases:
      - prompt: list buckets in staging
        calls:                      # every one must be made (extra reads are reported, not failed)
          - {tool: query, command: aws s3api list-buckets, accounts: [staging]}
        facts: [acme-staging-assets]          # each must appear in the answer; a list = any of
        absent: [acme-prod-logs]              # none may appear
        followups: [show bucket sizes in staging]   # prompts of buttons offered
        approval: {command: …, accounts: [staging]} # an approval request, for changes
        before: [list buckets in staging]     # earlier turns of the same thread
        person: alice                         # who asks (alice by default)
        one_of:                               # alternatives (calls/approval/facts/...): any one passes
          - {calls: [...], facts: [...]}
          - {calls: [], approval: {...}}

``calls: []`` means no command may run. Without ``approval`` none may be requested. In a
command, ``*`` matches any text (times and query ids change from run to run).
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CASES_DIR = Path(__file__).parent / "cases"
CATEGORIES = (
    "lists",
    "counts",
    "filters",
    "regions",
    "cost",
    "logs",
    "mutations",
    "account resolution",
    "refusals",
    "follow-ups",
)


class CaseError(ValueError):
    """A data file is malformed; the message names the file and the case."""


@dataclass(frozen=True)
class Call:
    """One expected bridge call."""

    tool: str
    command: str
    accounts: tuple[str, ...]


@dataclass(frozen=True)
class Case:
    """One phrasing and what it must produce."""

    category: str
    prompt: str
    source: str
    calls: tuple[Call, ...] | None = None
    facts: tuple[tuple[str, ...], ...] = ()
    absent: tuple[str, ...] = ()
    followups: tuple[str, ...] = ()
    approval: Call | None = None
    before: tuple[str, ...] = ()
    person: str = "alice"
    one_of: tuple["Case", ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def _call(raw: Any, where: str) -> Call:
    if not isinstance(raw, dict) or not raw.get("command"):
        raise CaseError(f"{where}: a call needs at least a command")
    accounts = raw.get("accounts") or []
    return Call(
        str(raw.get("tool", "query")),
        " ".join(str(raw["command"]).split()),
        tuple(sorted(map(str, accounts))),
    )


def _case(category: str, raw: Any, where: str, *, alternative: bool = False) -> Case:
    if not isinstance(raw, dict) or not (alternative or isinstance(raw.get("prompt"), str)):
        raise CaseError(f"{where}: each case needs a prompt")
    alternatives = raw.get("one_of") or []
    if not isinstance(alternatives, list):
        raise CaseError(f"{where}: one_of is a list of alternatives")
    calls = raw.get("calls")
    facts = tuple(tuple(f) if isinstance(f, list) else (str(f),) for f in raw.get("facts") or [])
    return Case(
        category=category,
        prompt=str(raw.get("prompt", "")),
        source=where,
        calls=None if calls is None else tuple(_call(c, where) for c in calls),
        facts=facts,
        absent=tuple(str(a) for a in raw.get("absent") or []),
        followups=tuple(str(f) for f in raw.get("followups") or []),
        approval=_call(raw["approval"], where) if raw.get("approval") else None,
        before=tuple(str(b) for b in raw.get("before") or []),
        person=str(raw.get("person", "alice")),
        one_of=tuple(
            _case(category, a, f"{where} one_of {i + 1}", alternative=True)
            for i, a in enumerate(alternatives)
        ),
    )


def load(directory: Path = CASES_DIR) -> list[Case]:
    """Every case of every ``*.yaml`` file in ``directory``, in file order.

    Raises:
        CaseError: A file is not a category with a list of cases.
    """
    out: list[Case] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise CaseError(f"{path.name} is not valid YAML: {e}") from e
        if not isinstance(data, dict) or data.get("category") not in CATEGORIES:
            raise CaseError(f"{path.name}: needs `category:` (one of {', '.join(CATEGORIES)}) and `cases:`")
        for i, raw in enumerate(data.get("cases") or []):
            out.append(_case(data["category"], raw, f"{path.name} case {i + 1}"))
    return out
