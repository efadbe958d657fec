"""The account registry: names, aliases and environments to account ids, and who may query what.

Resolution is code, not model judgement: the same phrase always resolves to
the same accounts, a close misspelling gets a suggestion instead of a guess,
and an account the caller's groups do not entitle is refused before any tool
is called.
"""

import difflib
import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from agent.dynamo import LazyTable
from centralops.accounts import AccountItem
from centralops.errors import CentralOpsError

logger = logging.getLogger("centralops.agent.accounts")

# Words people use for an environment, beyond the environment's own name.
ENVIRONMENT_SYNONYMS: dict[str, str] = {
    "prod": "production",
    "prd": "production",
    "live": "production",
    "stage": "staging",
    "stg": "staging",
    "dev": "development",
    "devel": "development",
    "test": "testing",
    "qa": "testing",
}
_ALL = {"all", "all accounts", "every account", "everywhere", "each account", "all of them", "every"}
_FILLER = re.compile(r"\b(the|my|our|account|accounts|environment|environments|env|envs)\b")
_SPLIT = re.compile(r"\s*(?:,|&|\+|\band\b|\bor\b)\s*")
# Words after (or before) an account name that never name one: courtesy, urgency, filler.
_COURTESY = frozenset(
    "please pls plz thanks thank thx ty cheers asap now quickly quick urgently urgent today again "
    "too kindly ok okay thankyou ta mate folks team guys right away".split()
)
_COURTESY_PHRASES = re.compile(
    r"\b(?:thank you|thank u|right now|right away|as soon as possible|if you can|if possible|for me|"
    r"when you can|as well|real quick|by the way)\b"
)
# Anything but letters, digits, spaces and the characters names, ids and lists use (emoji, "!!", "?").
_NOISE = re.compile(r"[^\w\s,&+./:@=-]")


def trim_courtesy(phrase: str) -> str:
    """The account words of a phrase without trailing or leading courtesy, urgency, emoji or punctuation.

    ``"staging please 🙏"`` → ``"staging"``; ``"prod asap!!"`` → ``"prod"``;
    ``"dev, thanks"`` → ``"dev"``. Words inside a list are kept (``staging and dev``).
    """
    text = _COURTESY_PHRASES.sub(" ", _NOISE.sub(" ", phrase.lower()))
    words = text.replace(",", " , ").split()
    while words and (words[-1] in _COURTESY or words[-1] in {",", ".", "and", "&", "+"}):
        words.pop()
    while words and (words[0] in _COURTESY or words[0] in {",", "."}):
        words.pop(0)
    return " ".join(words).replace(" , ", ", ").strip(" .,")


class RegistryError(CentralOpsError):
    """The registry could not be read."""

    code = "registry_unavailable"


AccountEntry = AccountItem
"""One member account as the registry describes it (the kernel's item, with the one entitlement rule)."""


@dataclass
class Resolution:
    """What a phrase such as ``staging and prod`` resolved to.

    Attributes:
        accounts: The accounts to query, in the order named, without duplicates.
        problems: Why the request cannot run as asked (each a sentence the person can act on).
        notes: Accounts left out on purpose (not entitled, disabled) while others remain.
        payer: The account the registry marks as the payer (management) account, where Cost
            Explorer runs; ``None`` when none is marked.
        ambiguous: The words that matched several accounts (empty when none did).
        choices: The accounts those words matched, offered as buttons.
    """

    accounts: list[AccountEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ambiguous: str = ""
    choices: list[AccountEntry] = field(default_factory=list)
    payer: AccountEntry | None = None

    @property
    def ok(self) -> bool:
        """True when there is something to query and nothing blocks it."""
        return bool(self.accounts) and not self.problems

    def message(self) -> str:
        """The problems (or notes) as one paragraph."""
        return " ".join(self.problems or self.notes)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape the ``resolve_accounts`` tool returns."""
        return {
            "ok": self.ok,
            "accounts": [
                {
                    "account_id": a.account_id,
                    "name": a.name,
                    "environment": a.environment,
                    **({"regions": list(a.regions)} if a.regions else {}),
                }
                for a in self.accounts
            ],
            "message": self.message(),
            "notes": self.notes,
            **(
                {"payer": {"account_id": self.payer.account_id, "name": self.payer.name}}
                if self.payer
                else {}
            ),
            **(
                {
                    "ambiguous": self.ambiguous,
                    "choices": [
                        {"account_id": a.account_id, "name": a.name, "environment": a.environment}
                        for a in self.choices
                    ],
                }
                if self.choices
                else {}
            ),
        }


def _groups_text(entry: AccountEntry) -> str:
    return ", ".join(entry.allowed_groups)


class AccountRegistry:
    """Reads the accounts table (a small table: scanned, cached briefly).

    Args:
        table_name: The accounts table.
        dynamodb: A boto3 DynamoDB resource; created lazily when omitted.
        region: Region of the lazily created resource.
        endpoint_url: Endpoint of the lazily created resource (moto locally).
        ttl_s: How long a scan is reused.
    """

    def __init__(
        self,
        table_name: str,
        *,
        dynamodb: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        ttl_s: float = 30.0,
    ) -> None:
        self._table_name = table_name
        self._table = LazyTable(table_name, dynamodb=dynamodb, region=region, endpoint_url=endpoint_url)
        self._ttl_s = ttl_s
        self._cache: list[AccountEntry] | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def all(self) -> list[AccountEntry]:
        """Every account of the registry, enabled or not, sorted by name.

        Raises:
            RegistryError: The table could not be read.
        """
        with self._lock:
            if self._cache is not None and time.monotonic() - self._loaded_at < self._ttl_s:
                return self._cache
            try:
                table = self._table()
                response = table.scan()
                items = list(response.get("Items", []))
                while "LastEvaluatedKey" in response:
                    response = table.scan(ExclusiveStartKey=response["LastEvaluatedKey"])
                    items.extend(response.get("Items", []))
            except (BotoCoreError, ClientError) as e:
                logger.warning("registry scan failed", extra={"table": self._table_name, "error": str(e)})
                raise RegistryError(
                    "The account registry could not be read right now; try again in a minute."
                ) from e
            self._cache = sorted((AccountEntry.from_item(i) for i in items), key=lambda a: a.name)
            self._loaded_at = time.monotonic()
            return self._cache

    def get(self, account_id: str) -> AccountEntry | None:
        """The entry with this id, if any."""
        return next((a for a in self.all() if a.account_id == account_id), None)

    def resolve(self, phrase: str, groups: Iterable[str]) -> Resolution:
        """Resolve a phrase naming accounts for a caller with these groups."""
        return resolve(phrase, self.all(), frozenset(groups))


def _environment_of(word: str, environments: set[str]) -> str | None:
    word = word.strip()
    if word in environments:
        return word
    env = ENVIRONMENT_SYNONYMS.get(word)
    return env if env in environments else None


def _by_term(term: str, accounts: list[AccountEntry]) -> list[AccountEntry]:
    return [a for a in accounts if a.matches(term)]


def _suggest(term: str, accounts: list[AccountEntry], environments: set[str]) -> list[str]:
    known: dict[str, str] = {}
    for a in accounts:
        if a.enabled:
            known[a.name.lower()] = a.name
            for alias in a.aliases:
                known.setdefault(alias.lower(), a.name)
    for env in environments:
        known.setdefault(env, f"{env} accounts")
    matches = difflib.get_close_matches(term, list(known), n=3, cutoff=0.6)
    out: list[str] = []
    for m in matches:
        if known[m] not in out:
            out.append(known[m])
    return out


def _names(accounts: Iterable[AccountEntry]) -> str:
    return ", ".join(a.name for a in accounts)


def resolve(phrase: str, accounts: list[AccountEntry], groups: frozenset[str]) -> Resolution:
    """Resolve ``phrase`` against ``accounts`` for a caller with ``groups``.

    Understands ids, names and aliases (case-insensitive), environments
    (``prod accounts``, ``all staging``), ``all accounts``, and lists
    (``staging and dev``, ``staging, production``).
    """
    result = Resolution(payer=next((a for a in accounts if a.payer and a.enabled), None))
    environments = {a.environment for a in accounts if a.environment}
    enabled = [a for a in accounts if a.enabled]
    text = trim_courtesy(phrase)
    if not text:
        result.problems.append(f"Name the account(s) to query, for example: {_names(enabled[:2])}.")
        return result

    def add(entry: AccountEntry) -> None:
        if entry not in result.accounts:
            result.accounts.append(entry)

    def add_group(selected: list[AccountEntry], what: str) -> None:
        allowed = [a for a in selected if a.entitles(groups)]
        refused = [a for a in selected if not a.entitles(groups)]
        if not allowed:
            if refused:
                result.problems.append(
                    f"You are not entitled to query any of {what} ({_names(refused)}); "
                    "ask an administrator to add you to a group that may."
                )
            else:
                result.problems.append(f"There are no enabled {what} in the registry.")
            return
        for a in allowed:
            add(a)
        if refused:
            result.notes.append(f"Skipped {_names(refused)}: you are not entitled to query it.")

    if text in _ALL:
        # The payer (management) account answers cost questions; "all accounts" means the members.
        add_group([a for a in enabled if not a.payer], "accounts")
        return result

    for raw in _SPLIT.split(text):
        explicit_env = bool(re.match(r"^(all|every)\b", raw)) or bool(
            re.search(r"\b(accounts|environment|environments|envs)\s*$", raw)
        )
        term = _FILLER.sub(" ", re.sub(r"^(all|every)\b", " ", raw))
        term = " ".join(term.split())
        if not term:
            if explicit_env:
                add_group(enabled, "accounts")
            continue
        env = _environment_of(term, environments)
        matches = [] if explicit_env and env else _by_term(term, accounts)
        if not matches and env:
            add_group([a for a in enabled if a.environment == env], f"{env} accounts")
            continue
        if not matches:
            suggestions = _suggest(term, accounts, environments)
            if suggestions:
                result.problems.append(
                    f'No account named "{term}" — did you mean {" or ".join(suggestions)}?'
                )
            else:
                result.problems.append(
                    f'No account named "{term}". Accounts you can query: '
                    f"{_names(a for a in enabled if a.entitles(groups)) or 'none'}."
                )
            continue
        live = [a for a in matches if a.enabled]
        if not live:
            result.problems.append(
                f"The account {matches[0].label()} is disabled in the registry; nothing was run there."
            )
            continue
        if len(live) > 1:
            result.problems.append(
                f'"{term}" matches several accounts ({", ".join(a.label() for a in live)}); which one did you mean?'
            )
            if not result.choices:
                result.ambiguous = term
                result.choices = [a for a in live if a.entitles(groups)]
            continue
        entry = live[0]
        if not entry.entitles(groups):
            result.problems.append(
                f"You are not entitled to query {entry.name}: it is limited to the group(s) "
                f"{_groups_text(entry)}. Ask an administrator to add you to one of them."
            )
            continue
        add(entry)
    if not result.accounts and not result.problems:
        result.problems.append(
            "I could not tell which account(s) you mean; name one, an environment or 'all'."
        )
    return result
