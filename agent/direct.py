"""Direct commands skip the model: ``run <aws cli command> in <account(s)>``.

Also ``run <command> --account <account>`` (the flag may repeat or hold a
comma-separated list). The command goes to the bridge exactly as typed, after
account resolution, entitlement and the approval gate.
"""

import re
import shlex
from dataclasses import dataclass

_RUN = re.compile(r"^\s*(?:/aws\s+)?run\s+(.+?)\s*$", re.IGNORECASE | re.DOTALL)
_ACCOUNT_FLAG = re.compile(r"\s--accounts?(?:=|\s+)(\S+)")
_LINE_BREAKS = "\n\r\u2028\u2029\x0b\x0c\x85"
_IN = re.compile(r"\s+(?:in|on|across)\s+(?=[^-\s])", re.IGNORECASE)


@dataclass(frozen=True)
class DirectCommand:
    """A command to run as typed.

    Attributes:
        command: The ``aws ...`` command line.
        targets: The phrase naming the account(s); empty when none was given.
        problem: Why the request cannot run as typed (a line break inside it), else empty.
    """

    command: str
    targets: str
    problem: str = ""


def parse_direct(prompt: str) -> DirectCommand | None:
    """The direct command in ``prompt``, or ``None`` when it is not one."""
    m = _RUN.match(prompt)
    if not m:
        return None
    body = m.group(1).rstrip("?!.")
    if any(c in body for c in _LINE_BREAKS):
        first = body.splitlines()[0].strip() if body.splitlines() else ""
        return DirectCommand(
            command=first,
            targets="",
            problem="Your request spans several lines, and CentralOps never joins lines into one command "
            "(nor runs the first and drops the rest). Send exactly one command on one line, e.g. "
            "`run aws s3 ls in staging`.",
        )
    targets: list[str] = []
    for flag in _ACCOUNT_FLAG.finditer(" " + body):
        targets.extend(t for t in flag.group(1).split(",") if t)
    body = _ACCOUNT_FLAG.sub("", " " + body).strip()
    if not targets:
        # The last " in <targets>" names the accounts; one inside a quoted argument does not.
        ins = list(_IN.finditer(body))
        tail = body[ins[-1].end() :].strip() if ins else ""
        if tail and not set(tail) & {'"', "'"}:
            targets.append(tail)
            body = body[: ins[-1].start()].strip()
    if not body:
        return None
    if not body.lower().startswith("aws "):
        body = "aws " + body
    try:
        shlex.split(body)
    except ValueError:
        pass  # an unbalanced quote is the bridge's to refuse, with its own message
    return DirectCommand(command=body, targets=" and ".join(targets))
