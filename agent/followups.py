"""Read-only follow-up queries suggested after an answer."""

import re
from collections.abc import Mapping, Sequence
from typing import Any

from agent.resources import for_command
from centralops.events import Followup


def targets_phrase(account_names: Sequence[str]) -> str:
    """``staging``, ``staging and production``, ``staging, dev and production``."""
    names = list(dict.fromkeys(account_names))
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def suggest(command: str, account_names: Sequence[str]) -> list[Followup]:
    """Up to three follow-ups for an answered command in these accounts (none when unknown)."""
    resource = for_command(command)
    if resource is None or not account_names:
        return []
    targets = targets_phrase(account_names)
    items = [
        Followup(label=label, prompt=prompt.format(targets=targets)) for label, prompt in resource.followups
    ]
    return items[:3]


def account_choices(prompt: str, resolution: Mapping[str, Any]) -> list[Followup]:
    """One button per account an ambiguous name matched: the same question, naming that account.

    Args:
        prompt: The person's question.
        resolution: What ``resolve_accounts`` returned (``ambiguous`` and ``choices`` when it could not pick).
    """
    term = str(resolution.get("ambiguous") or "")
    choices = resolution.get("choices") or []
    if not term or not isinstance(choices, list):
        return []
    items = []
    for c in choices[:5]:
        if not isinstance(c, Mapping) or not c.get("name"):
            continue
        name = str(c["name"])
        pattern = re.compile(rf"(?<![\w-]){re.escape(term)}(?![\w-])", re.IGNORECASE)
        asked = pattern.sub(name, prompt, count=1) if pattern.search(prompt) else name
        items.append(Followup(label=f"{name} ({c.get('account_id', '')})", prompt=asked))
    return items
