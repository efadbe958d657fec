"""The chat command grammar: ``help | login | logout | whoami | accounts | run <cli> in <account> | <question>``."""

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal[
    "help", "login", "logout", "whoami", "accounts", "run", "ask", "usage", "multiline_run",
    "subscribe", "unsubscribe", "subscriptions",
]  # fmt: skip

_RUN = re.compile(
    r"^run\s+(?P<cli>.+?)\s+(?:in|--account)\s+(?P<account>[\w.,-]+)\s*$", re.IGNORECASE | re.DOTALL
)
_WORDS: dict[str, Kind] = {
    "help": "help",
    "?": "help",
    "login": "login",
    "link": "login",
    "logout": "logout",
    "unlink": "logout",
    "whoami": "whoami",
    "accounts": "accounts",
    "subscriptions": "subscriptions",
}
_ALERT_WORDS: tuple[Kind, ...] = ("subscribe", "unsubscribe")


@dataclass(frozen=True)
class Command:
    """A parsed message."""

    kind: Kind
    text: str
    cli: str = ""
    account: str = ""


def parse(text: str) -> Command:
    """Parse what the person typed (mention markup already removed).

    ``run`` without ``in <account>`` is a ``usage`` command: it is never sent to
    the agent half-formed.
    """
    cleaned = " ".join(text.replace("\u00a0", " ").split())
    if not cleaned:
        return Command("help", "")
    word = cleaned.lower()
    if word in _WORDS:
        return Command(_WORDS[word], cleaned)
    first, _, rest = cleaned.partition(" ")
    if first.lower() in _ALERT_WORDS:
        return Command(first.lower(), rest)  # type: ignore[arg-type]
    if word == "run" or word.startswith("run "):
        if any(c in text.strip() for c in "\n\r\u2028\u2029\x0b\x0c\x85"):
            # Joining the lines would run a command nobody typed on one line.
            return Command("multiline_run", cleaned)
        m = _RUN.match(cleaned)
        if not m:
            return Command("usage", cleaned)
        cli = m.group("cli").strip()
        if not cli.lower().startswith("aws "):
            cli = f"aws {cli}"
        return Command("run", cleaned, cli=cli, account=m.group("account"))
    return Command("ask", cleaned)


ANSWERS: tuple[Kind, ...] = ("run", "ask")
"""The kinds that go to the agent and open an answer in the thread (everything else is a notice)."""


def opens_answer(text: str) -> bool:
    """Whether the message is a question or a ``run`` for the agent (see :data:`ANSWERS`)."""
    return parse(text).kind in ANSWERS


def help_text(prefix: str) -> str:
    """The help message, with the platform's way of addressing the bot (``/aws``, ``@CentralOps``)."""
    p = prefix
    return (
        "*CentralOps* answers questions about your AWS accounts, as you.\n"
        f"• `{p} <question>` — ask, e.g. `{p} list buckets in staging`, "
        f"`{p} how many lambda functions in production?`\n"
        f"• `{p} run <aws cli command> in <account>` — run one read-only command, e.g. "
        f"`{p} run s3 ls in staging`\n"
        f"• `{p} accounts` — the accounts you may query\n"
        f"• `{p} login` / `{p} logout` — link or unlink your CentralOps identity\n"
        f"• `{p} whoami` — the identity you are linked to\n"
        f"• `{p} subscribe production alarms here` / `{p} unsubscribe …` / `{p} subscriptions` — "
        "this channel's alerts (changing them needs the alerts admin group)\n"
        "Mention me in a channel or a thread, or write to me directly; a reply in the same thread "
        "continues the conversation."
    )


RUN_ONE_LINE = (
    "Your `run` request spans several lines, and CentralOps never joins lines into one command. "
    "Send the command on one line (`{p} run <aws cli command> in <account>`), one message per command."
)
RUN_USAGE = "Say which account to run it in: `{p} run <aws cli command> in <account>`, e.g. `{p} run s3 ls in staging`."
