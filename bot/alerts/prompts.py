"""Suggested prompts that fit a channel's alert subscriptions (platform-free).

A channel subscribed to ``production alarms`` is where people ask "which
alarms are firing in production?": the assistant offers that question for
the channel being viewed. Each subscription gives one question per kind of
event it covers (every kind: the alarms question) about each scope it names
(its environments, its accounts, or every account), limited to what the
person may query.

Names are data: an account or environment name goes into a prompt only when
it is a plain word (:func:`phrase`); otherwise the account's id is used, and
an environment with such a name is left out. A prompt is sent as the
person's own message when clicked, so nothing in it may read as a mention,
a link or an instruction.
"""

import re

from bot.alerts.store import Subscription
from centralops.accounts import AccountItem

TITLE_MAX = 75  # Slack's limit for a suggested prompt's title
PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
# The question for each kind of event; a kind with no question of its own ("other events") asks none.
QUESTIONS: dict[str, tuple[str, str]] = {
    "alarm": ("Alarms firing in {scope}", "which alarms are firing in {scope}?"),
    "finding": ("GuardDuty findings in {scope}", "any GuardDuty findings in {scope}?"),
    "health": ("AWS Health events in {scope}", "any open AWS Health events in {scope}?"),
    "task": ("Stopped ECS tasks in {scope}", "which ECS tasks stopped in {scope}?"),
}
EVERY_ACCOUNT = "every account"


def phrase(account: AccountItem) -> str:
    """How a prompt names ``account``: its name when that is a plain word, else its id."""
    name = account.name.strip()
    return name if PLAIN.match(name) else account.account_id


def _scopes(sub: Subscription, visible: list[AccountItem]) -> list[str]:
    """The scopes of ``sub`` the person may query, as a prompt names them."""
    if not (sub.accounts or sub.environments):
        return [EVERY_ACCOUNT] if visible else []
    envs = {a.environment for a in visible}
    out = [e for e in sub.environments if e in envs and PLAIN.match(e)]
    by_id = {a.account_id: a for a in visible}
    out += [phrase(by_id[a]) for a in sub.accounts if a in by_id]
    return out


def subscription_prompts(
    subs: list[Subscription], visible: list[AccountItem], limit: int = 2
) -> list[dict[str, str]]:
    """Up to ``limit`` prompts about what ``subs`` cover, within the accounts in ``visible``."""
    prompts: list[dict[str, str]] = []
    seen: set[str] = set()
    for sub in subs:
        for kind in sub.kinds or ("alarm",):
            if kind not in QUESTIONS:
                continue
            title, message = QUESTIONS[kind]
            for scope in _scopes(sub, visible):
                text = message.format(scope=scope)
                if text in seen:
                    continue
                seen.add(text)
                prompts.append({"title": title.format(scope=scope)[:TITLE_MAX], "message": text})
                if len(prompts) >= limit:
                    return prompts
    return prompts
