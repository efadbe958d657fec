"""Parse an ``aws`` CLI command, resolve it to its final API call, refuse what must not run, classify the rest.

The command is split with :mod:`shlex` into an argument vector and never goes
near a shell. The AWS CLI's own argument model (:mod:`bridge.resolve`) then
turns it into the service operation and the parameters it would send, and the
rules of :mod:`bridge.policy` judge that call, not its spelling. Anything that
is not exactly one ``aws`` invocation the bridge can vouch for is refused here,
before any AWS call.
"""

import functools
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge import policy
from bridge.errors import CommandRefused
from bridge.resolve import MODEL, Resolved

MAX_ARGS = 100
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
# Outside quotes these mean shell syntax; the bridge has no shell, so they are refused rather than guessed at.
_UNQUOTED_META = {";": "';'", "&": "'&'", "|": "'|'", "<": "'<'", ">": "'>'", "(": "'('", ")": "')'"}
_UNQUOTED_META.update(
    {"\\": "a backslash", "`": "a backtick", "$": "'$'", "#": "'#'", "*": "'*'", "?": "'?'"}
)
_LOCAL_FILE_PREFIXES = ("file://", "fileb://", "@")
_PLAIN = re.compile(r"[\t\x20-\x7e]*")  # printable ASCII and tabs: the common case, checked in one pass
_NO_SHELL = re.compile(r"[^;&|<>()\\`$#*?'\"]*")  # nothing the shell would read: no quote scan needed


@dataclass(frozen=True)
class Command:
    """A command that passed every check.

    Attributes:
        argv: The arguments after ``aws``.
        service: ``s3``, ``ec2``...
        operation: ``ls``, ``describe-instances``...
        classification: ``"read"`` or ``"mutating"``.
        region: The ``--region`` the command names, if any.
        has_output: Whether the command chooses its ``--output`` format.
        api_call: ``service:Operation`` of the API call (empty for CLI customisations such as ``s3 cp``).
        parameters: The final API parameters, after shorthand, JSON values and input documents.
    """

    argv: tuple[str, ...]
    service: str
    operation: str
    classification: str
    region: str | None
    has_output: bool
    api_call: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def text(self) -> str:
        """The normalised command line, as audited and as approvals are matched."""
        return shlex.join(("aws", *self.argv))


def _refuse(code: str, message: str) -> CommandRefused:
    return CommandRefused(message, code=code)


def _check_characters(text: str, max_chars: int) -> None:
    if not text.strip():
        raise _refuse("empty_command", "The command is empty. Send one aws CLI command, e.g. `aws s3 ls`.")
    if len(text) > max_chars:
        raise _refuse(
            "command_too_long",
            f"The command has {len(text)} characters; the limit is {max_chars}. Shorten it.",
        )
    if _PLAIN.fullmatch(text):
        return
    for ch in text:
        if ch in "\n\r":
            raise _refuse(
                "shell_syntax", "The command contains a line break. Send exactly one command on one line."
            )
        if ord(ch) > 126:
            raise _refuse(
                "non_ascii",
                f"The command contains the character U+{ord(ch):04X}, which is not plain ASCII "
                "(look-alike dashes and quotes are refused). Retype it with plain ASCII characters.",
            )
        if (ord(ch) < 32 and ch != "\t") or ord(ch) == 127:
            raise _refuse("control_character", "The command contains a control character. Retype it.")


def _check_unquoted(text: str) -> None:
    """Refuse shell syntax outside quotes, and substitutions anywhere.

    Quotes are tracked exactly as :func:`shlex.split` (POSIX mode) reads them,
    including ``\\"`` and ``\\\\`` inside double quotes, so what this scan calls
    quoted is what the parser keeps as data.
    """
    if _NO_SHELL.fullmatch(text):
        return
    quote: str | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if quote == '"' and ch == "\\" and text[i + 1 : i + 2] in ('"', "\\"):
                i += 2
                continue
            if ch == quote:
                quote = None
            elif (ch == "`" and quote == '"') or text.startswith(("$(", "${"), i):
                raise _refuse(
                    "shell_syntax",
                    "The command contains a shell substitution ($(...), ${...} or backticks). "
                    "Nothing runs in a shell here; send the plain command.",
                )
        elif ch in "'\"":
            quote = ch
        elif ch in _UNQUOTED_META:
            raise _refuse(
                "shell_syntax",
                f"The command contains {_UNQUOTED_META[ch]} outside quotes. Pipes, chains, redirection, "
                "globs and substitutions are not supported: send exactly one aws command, and quote "
                "values such as --query expressions.",
            )
        i += 1


def _option_name(token: str) -> str:
    return token.split("=", 1)[0]


def _forbidden(name: str) -> str | None:
    """The forbidden option ``name`` is, or abbreviates (the CLI accepts unambiguous prefixes)."""
    for option in policy.FORBIDDEN_OPTIONS:
        if len(name) > 2 and option.startswith(name):
            return option
    return None


def _check_tokens(args: list[str]) -> None:
    """Refuse, token by token, what no parse may turn into something harmless."""
    for arg in args:
        if arg.lower().startswith(_LOCAL_FILE_PREFIXES) or re.search(r"=(file|fileb)://", arg, re.I):
            raise _refuse(
                "local_file",
                f"{arg[:40]!r} reads a local file, which does not exist where the command runs. "
                "Pass the value inline instead.",
            )
        if arg.startswith("--"):
            forbidden = _forbidden(_option_name(arg))
            if forbidden:
                code, message = policy.FORBIDDEN_OPTIONS[forbidden]
                raise _refuse(code, message)
        if arg == "aws":
            raise _refuse("not_one_command", "The command names `aws` twice. Send exactly one aws command.")


def _first_positional(args: list[str]) -> str | None:
    return next((a for a in args if not a.startswith("-")), None)


def parse(text: object, *, local_endpoint_url: str | None = None, max_chars: int = 2048) -> Command:
    """Parse, resolve and check one command; never runs anything.

    Args:
        text: The ``cli_command`` as received.
        local_endpoint_url: The one ``--endpoint-url`` allowed (the local stack's), if any.
        max_chars: Longer commands are refused.

    Returns:
        The resolved, classified command.

    Raises:
        CommandRefused: With a code and a message saying what to change.
    """
    if not isinstance(text, str):
        raise _refuse("invalid_arguments", 'arguments.cli_command must be a string such as "aws s3 ls".')
    _check_characters(text, max_chars)
    _check_unquoted(text)
    try:
        argv = shlex.split(text, posix=True)
    except ValueError as e:
        raise _refuse("malformed_command", f"The command cannot be parsed ({e}). Check its quotes.") from e
    if not argv or argv[0] != "aws":
        program = argv[0] if argv else ""
        raise _refuse(
            "not_aws", f"Only the aws CLI can run here, not {program!r}. Start the command with `aws `."
        )
    args = argv[1:]
    if len(args) > MAX_ARGS:
        raise _refuse("command_too_long", f"The command has more than {MAX_ARGS} arguments. Shorten it.")
    _check_tokens(args)
    first = _first_positional(args)
    if first in policy.UNSUPPORTED_SERVICES:
        _unsupported_service(first)
    resolved = MODEL.resolve(args)
    if resolved.service in policy.UNSUPPORTED_SERVICES:
        _unsupported_service(resolved.service)
    _check_globals(resolved, local_endpoint_url)
    classification = _judge(resolved)
    return Command(
        argv=tuple(args),
        service=resolved.service,
        operation=resolved.operation,
        classification=classification,
        region=resolved.region,
        has_output=resolved.output is not None,
        api_call=f"{resolved.api_service}:{resolved.api_operation}" if resolved.kind == "api" else "",
        parameters=resolved.parameters,
    )


def _unsupported_service(service: str) -> None:
    raise _refuse(
        "not_supported",
        f"`aws {service}` {policy.UNSUPPORTED_SERVICES[service]} and cannot run from chat.",
    )


def _check_globals(resolved: Resolved, local_endpoint_url: str | None) -> None:
    g = resolved.globals
    if g.get("profile"):
        raise _refuse(*policy.FORBIDDEN_OPTIONS["--profile"])
    if g.get("debug"):
        raise _refuse(*policy.FORBIDDEN_OPTIONS["--debug"])
    if g.get("verify_ssl") is False:
        raise _refuse(*policy.FORBIDDEN_OPTIONS["--no-verify-ssl"])
    if g.get("ca_bundle"):
        raise _refuse(*policy.FORBIDDEN_OPTIONS["--ca-bundle"])
    if g.get("sign_request") is False:
        raise _refuse(*policy.FORBIDDEN_OPTIONS["--no-sign-request"])
    if resolved.endpoint_url is not None:
        value = resolved.endpoint_url.rstrip("/")
        if not (local_endpoint_url and value == local_endpoint_url.rstrip("/")):
            raise _refuse(
                "endpoint_not_allowed",
                "--endpoint-url is not allowed: commands run against the account's real AWS endpoints. "
                "Remove it.",
            )
    region = resolved.region
    if region is not None and not REGION.match(region):
        raise _refuse("invalid_region", f"{region!r} is not an AWS region name such as us-east-1.")


def _denied(name: str, why: str) -> CommandRefused:
    return _refuse(
        "denied_operation",
        f"`{name}` {why}, so CentralOps never runs it, with or without approval. "
        "Use the AWS console with your own credentials.",
    )


def _judge(r: Resolved) -> str:
    """Deny, refuse or classify (``"read"`` / ``"mutating"``) a resolved command."""
    name = f"aws {r.service} {r.operation}".rstrip()
    key = (r.service, r.operation)
    if key in policy.DENIED_OPERATIONS:
        raise _denied(name, policy.DENIED_OPERATIONS[key])
    if key in policy.UNSUPPORTED_OPERATIONS:
        raise _refuse("not_supported", f"`{name}` {policy.UNSUPPORTED_OPERATIONS[key]}; it cannot run here.")
    if r.kind == "wait":
        return "read"
    if r.kind == "custom":
        return _judge_custom(r, name)
    api = (r.api_service, r.api_operation)
    parameter = policy.DENIED_WITH_PARAMETER.get(api)
    if parameter and r.parameters.get(parameter) not in (None, False):
        raise _refuse(
            "denied_operation",
            f"`{name}` with {parameter} set (however it is spelled: option, abbreviation or input document) "
            f"reveals secret values, so CentralOps never runs it. Leave {parameter} out to see the metadata.",
        )
    if r.streaming_output:
        raise _refuse(
            "not_supported",
            f"`{name}` writes its output to a file on the server, which CentralOps never does; "
            "it cannot run here.",
        )
    if r.local_arguments:
        raise _refuse(
            "local_file",
            f"{', '.join(r.local_arguments)} names a file on the server, which CentralOps never reads or "
            "writes. Leave it out.",
        )
    secret = _secret_output(r.api_service, r.api_operation)
    if secret:
        raise _denied(name, f"returns secrets ({secret})")
    if r.yaml_input:
        raise _refuse(
            "not_supported",
            "--cli-input-yaml is not an option of the AWS CLI version CentralOps runs. "
            "Use --cli-input-json with the same parameters.",
        )
    return policy.classify_api(r.api_service, r.api_operation)


def _judge_custom(r: Resolved, name: str) -> str:
    entry = policy.CUSTOM_COMMANDS.get((r.service, r.operation))
    if entry is None:
        raise _refuse(
            "unknown_command",
            f"`{name}` is not a command CentralOps can vouch for. Use the service's API operations "
            f"(e.g. `aws {r.service} describe-...`).",
        )
    verdict, why = entry
    if verdict == "denied":
        raise _denied(name, why)
    if verdict == "not_supported":
        raise _refuse("not_supported", f"`{name}` {why}; it cannot run here.")
    if r.service == "s3" and r.operation != "ls":
        local = [p for p in r.positionals if not p.startswith("s3://")]
        if local:
            raise _refuse(
                "local_file",
                f"`aws s3 {r.operation}` with a local path ({local[0][:60]!r}) would use the server's disk. "
                "Use s3:// locations.",
            )
    return verdict


@functools.cache  # bounded by the number of operations in the models
def _secret_output(api_service: str, api_operation: str) -> str | None:
    model = MODEL.operation_model(api_service, api_operation)
    return policy.secret_output(api_service, model.output_shape)
