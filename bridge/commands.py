"""Parse an ``aws`` CLI command into arguments, refuse what must not run, classify the rest.

The command is split with :mod:`shlex` into an argument vector and never goes
near a shell. Anything that is not exactly one ``aws`` invocation with
options the bridge can vouch for is refused here, before any AWS call.
"""

import re
import shlex
from dataclasses import dataclass

from bridge import policy
from bridge.errors import CommandRefused

MAX_ARGS = 100
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# Outside quotes these mean shell syntax; the bridge has no shell, so they are refused rather than guessed at.
_UNQUOTED_META = {";": "';'", "&": "'&'", "|": "'|'", "<": "'<'", ">": "'>'", "(": "'('", ")": "')'"}
_UNQUOTED_META.update(
    {"\\": "a backslash", "`": "a backtick", "$": "'$'", "#": "'#'", "*": "'*'", "?": "'?'"}
)
_LOCAL_FILE_PREFIXES = ("file://", "fileb://", "@")


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
    """

    argv: tuple[str, ...]
    service: str
    operation: str
    classification: str
    region: str | None
    has_output: bool

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


def _split(argv: list[str]) -> tuple[list[str], dict[str, str | None]]:
    """Positional arguments and the global options among ``argv``."""
    positional: list[str] = []
    options: dict[str, str | None] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        if token.startswith("--"):
            name = _option_name(token)
            value: str | None = token.split("=", 1)[1] if "=" in token else None
            full = next(
                (o for o in policy.GLOBAL_OPTIONS_WITH_VALUE if len(name) > 2 and o.startswith(name)), None
            )
            if full and value is None and i + 1 < len(argv):
                value = argv[i + 1]
                i += 1
            options[full or name] = value
        else:
            positional.append(token)
        i += 1
    return positional, options


def parse(text: object, *, local_endpoint_url: str | None = None, max_chars: int = 2048) -> Command:
    """Parse and check one command.

    Args:
        text: The ``cli_command`` as received.
        local_endpoint_url: The one ``--endpoint-url`` allowed (the local stack's), if any.
        max_chars: Longer commands are refused.

    Returns:
        The parsed, classified command.

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
    positional, options = _split(args)
    _check_endpoint(options, local_endpoint_url)
    if len(positional) < 2 or not _NAME.match(positional[0]) or not _NAME.match(positional[1]):
        if positional and positional[0] in policy.UNSUPPORTED_SERVICES:
            _unsupported_service(positional[0])
        raise _refuse(
            "incomplete_command",
            "The command needs a service and an operation, e.g. `aws ec2 describe-instances`.",
        )
    service, operation = positional[0], positional[1]
    if service in policy.UNSUPPORTED_SERVICES:
        _unsupported_service(service)
    _check_operation(service, operation, args)
    region = options.get("--region")
    if region is not None and not REGION.match(region):
        raise _refuse("invalid_region", f"{region!r} is not an AWS region name such as us-east-1.")
    return Command(
        argv=tuple(args),
        service=service,
        operation=operation,
        classification=policy.classify(service, operation),
        region=region,
        has_output="--output" in options,
    )


def _unsupported_service(service: str) -> None:
    raise _refuse(
        "not_supported",
        f"`aws {service}` {policy.UNSUPPORTED_SERVICES[service]} and cannot run from chat.",
    )


def _check_endpoint(options: dict[str, str | None], local_endpoint_url: str | None) -> None:
    if "--endpoint-url" not in options:
        return
    value = (options["--endpoint-url"] or "").rstrip("/")
    if local_endpoint_url and value == local_endpoint_url.rstrip("/"):
        return
    raise _refuse(
        "endpoint_not_allowed",
        "--endpoint-url is not allowed: commands run against the account's real AWS endpoints. Remove it.",
    )


def _check_operation(service: str, operation: str, args: list[str]) -> None:
    key = (service, operation)
    if key in policy.DENIED_OPERATIONS:
        raise _refuse(
            "denied_operation",
            f"`aws {service} {operation}` {policy.DENIED_OPERATIONS[key]}, so CentralOps never runs it, "
            "with or without approval. Use the AWS console with your own credentials.",
        )
    if key in policy.DENIED_WITH_OPTION:
        option = policy.DENIED_WITH_OPTION[key]
        if any(len(_option_name(t)) > 2 and option.startswith(_option_name(t)) for t in args):
            raise _refuse(
                "denied_operation",
                f"`aws {service} {operation} {option}` reveals secret values, so CentralOps never runs it. "
                f"Drop {option} to see the parameter's metadata.",
            )
    if key in policy.UNSUPPORTED_OPERATIONS:
        raise _refuse(
            "not_supported",
            f"`aws {service} {operation}` {policy.UNSUPPORTED_OPERATIONS[key]}; it cannot run here.",
        )
    if service == "s3" and operation in {"cp", "mv", "sync"}:
        after = args[args.index(operation) + 1 :]
        operands = after[: next((i for i, t in enumerate(after) if t.startswith("--")), len(after))]
        if any(not p.startswith("s3://") for p in operands):
            raise _refuse(
                "local_file",
                f"`aws s3 {operation}` with a local path would use the server's disk. "
                "Use s3:// locations on both sides.",
            )
