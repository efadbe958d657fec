"""What ``subscribe`` / ``unsubscribe`` name: accounts, environments, kinds of event and a minimum severity.

``/aws subscribe production alarms here``, ``/aws subscribe staging 222222222222
findings high and above``, ``/aws subscribe everything``, ``/aws unsubscribe
production alarms``, ``/aws unsubscribe all``. Each word is an account (id,
name or alias), an environment, a kind of event, a severity, or one of a few
filler words; any other word is refused with the list of what is understood,
so a typo never subscribes a channel to something nobody asked for.
"""

from dataclasses import dataclass

from bot.alerts.events import SEVERITIES
from centralops.accounts import AccountItem

KIND_WORDS: dict[str, str] = {
    "alarm": "alarm",
    "alarms": "alarm",
    "cloudwatch": "alarm",
    "finding": "finding",
    "findings": "finding",
    "guardduty": "finding",
    "health": "health",
    "ecs": "task",
    "task": "task",
    "tasks": "task",
    "event": "event",
    "events": "event",
}
KIND_LABELS = {
    "alarm": "CloudWatch alarms",
    "finding": "GuardDuty findings",
    "health": "AWS Health events",
    "task": "ECS task stops",
    "event": "other events",
}
_ALL = {"all", "every", "everything", "any"}
_FILLER = {
    "here", "this", "channel", "to", "in", "for", "from", "of", "the", "and", "or", "on", "with", "above",
    "higher", "more", "severity", "min", "minimum", "at", "least", "accounts", "account", "environment",
    "environments", "+", ">=", "only", "me", "us", "about", "a", "an",
}  # fmt: skip


@dataclass(frozen=True)
class Selection:
    """What a subscription covers."""

    accounts: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    min_severity: str = "low"
    severity_given: bool = False
    everything: bool = False


class SelectionError(ValueError):
    """Words the grammar does not know; the message says what it understands."""


def parse_selection(text: str, accounts: list[AccountItem]) -> Selection:
    """The selection named by ``text``.

    Raises:
        SelectionError: A word is neither an account, an environment, a kind, a severity nor filler.
    """
    environments = {a.environment for a in accounts if a.environment}
    picked_accounts: list[str] = []
    picked_envs: list[str] = []
    kinds: list[str] = []
    severity, given, everything = "low", False, False
    unknown: list[str] = []
    for raw in text.replace(",", " ").split():
        word = raw.strip(".!?;:").lower()
        if not word or word in _FILLER:
            continue
        if word in _ALL:
            everything = True
        elif word in KIND_WORDS:
            if KIND_WORDS[word] not in kinds:
                kinds.append(KIND_WORDS[word])
        elif word in SEVERITIES:
            severity, given = word, True
        elif word in environments:
            if word not in picked_envs:
                picked_envs.append(word)
        elif match := next((a for a in accounts if a.matches(word)), None):
            if match.account_id not in picked_accounts:
                picked_accounts.append(match.account_id)
        else:
            unknown.append(raw)
    if unknown:
        names = ", ".join(sorted(environments)) or "none"
        raise SelectionError(
            f"I do not know {', '.join(unknown[:5])}. Name accounts (id, name or alias), environments "
            f"({names}), kinds of event (alarms, findings, health, ecs, events) and optionally a minimum "
            f"severity ({', '.join(SEVERITIES)}), e.g. `subscribe production alarms here`."
        )
    return Selection(
        tuple(sorted(picked_accounts)),
        tuple(sorted(picked_envs)),
        tuple(sorted(kinds)),
        severity,
        given,
        everything,
    )
