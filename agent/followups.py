"""Read-only follow-up queries suggested after an answer."""

from collections.abc import Sequence

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
