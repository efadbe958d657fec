"""Resolve an ``aws`` argument vector into the API call the AWS CLI would make, without making it.

The AWS CLI's own argument model does the work: its top-level, service and
operation parsers (``awscli.clidriver``), its argument table (shorthand syntax,
JSON values, booleans, customised arguments) and the ``--cli-input-json``
merge rule (values on the command line win over the document's). Nothing here
starts a process, opens a file or makes a network call: values the CLI would
load from a file or download from a URL are refused instead of loaded.
"""

import argparse
import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from bridge.errors import CommandRefused

# Customised arguments that name a file on the machine that runs the CLI (reviewed from awscli 1.46:
# every argument class in the argument tables that is not backed by the service model).
LOCAL_PATH_ARGUMENTS = frozenset(
    {
        "StreamingOutputArgument",  # outfile of streaming-output operations
        "S3SelectStreamOutputArgument",  # s3api select-object-content outfile
        "QueryOutFileArgument",  # iot create-keys-and-certificate --*-outfile
        "FileArgument",  # iam create-virtual-mfa-device --outfile
        "LaunchKeyArgument",  # ec2 get-password-data --priv-launch-key
        "ParameterValuesArgument",  # datapipeline --parameter-values-uri
        "PipelineDefinitionArgument",  # datapipeline --pipeline-definition
    }
)
_INPUT_DOCUMENTS = ("--cli-input-json", "--cli-input-yaml")


@dataclass(frozen=True)
class Resolved:
    """What the CLI would do.

    Attributes:
        service: The CLI's service name (``s3api``, ``ec2``...).
        operation: The CLI's operation or customised command (``get-object``, ``cp``, ``wait``).
        kind: ``"api"`` (one service operation), ``"custom"`` (a CLI customisation) or ``"wait"``.
        api_service: botocore's service name (``s3`` for ``s3api``), for ``"api"``.
        api_operation: The API operation (``GetParameter``), for ``"api"``.
        parameters: The final API parameters, for ``"api"``.
        streaming_output: The operation writes its response body to a local file.
        local_arguments: Given arguments that name a local file.
        positionals: Positional operands of a customised command (``s3 cp`` paths...).
        region: ``--region`` as the CLI reads it.
        output: ``--output`` as the CLI reads it.
        endpoint_url: ``--endpoint-url`` as the CLI reads it.
        globals: The other global options as the CLI reads them.
        yaml_input: The command carried ``--cli-input-yaml``, which this CLI version does not have.
    """

    service: str
    operation: str
    kind: str
    api_service: str = ""
    api_operation: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict, compare=False)
    streaming_output: bool = False
    local_arguments: tuple[str, ...] = ()
    positionals: tuple[str, ...] = ()
    region: str | None = None
    output: str | None = None
    endpoint_url: str | None = None
    globals: Mapping[str, Any] = field(default_factory=dict, compare=False)
    yaml_input: bool = False


class _ParseError(Exception):
    pass


def _refuse(code: str, message: str) -> CommandRefused:
    return CommandRefused(message, code=code)


def _quiet(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make an argparse parser raise instead of printing usage and exiting the process."""

    def error(message: str) -> NoReturn:
        raise _ParseError(message)

    def exit_(status: int = 0, message: str | None = None) -> NoReturn:
        raise _ParseError(message or "the command cannot be parsed")

    parser.error = error  # type: ignore[method-assign]
    parser.exit = exit_  # type: ignore[method-assign]
    return parser


class CliModel:
    """One AWS CLI driver, its parsers cached per service and operation. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._driver: Any = None
        self._main: Any = None
        self._service_parsers: dict[str, Any] = {}
        self._operation_parsers: dict[tuple[str, str, bool], Any] = {}

    def _load(self) -> None:
        if self._driver is not None:
            return
        import botocore.session
        from awscli import __version__ as cli_version
        from awscli.clidriver import CLIDriver
        from awscli.plugin import load_plugins
        from botocore import __version__ as botocore_version

        # No user configuration: plugins and aliases named there would import code.
        session = botocore.session.Session()
        session.set_config_variable("config_file", os.devnull)
        session.set_config_variable("credentials_file", os.devnull)
        session.user_agent_name = "aws-cli"
        session.user_agent_version = cli_version
        session.user_agent_extra = f"botocore/{botocore_version}"
        load_plugins({}, event_hooks=session.get_component("event_emitter"))
        driver = CLIDriver(session=session)
        table = driver._get_command_table()
        main = _quiet(driver._create_parser(table))
        for action in main._actions:
            if isinstance(action, argparse._VersionAction):
                action.__class__ = _RefuseVersion  # type: ignore[assignment]
        self._main, self._driver = main, driver

    def commands(self) -> Mapping[str, Any]:
        """The CLI's command table (service name -> command object)."""
        with self._lock:
            self._load()
            return self._driver._get_command_table()

    def operation_model(self, api_service: str, api_operation: str) -> Any:
        """botocore's model of one operation."""
        with self._lock:
            self._load()
            model = self._driver.session.get_service_model(api_service)
            return model.operation_model(api_operation)

    def resolve(self, args: list[str]) -> Resolved:
        """The call ``aws <args>`` would make.

        Raises:
            CommandRefused: The CLI would not run it, or it would read a local file or a URL.
        """
        with self._lock:
            self._load()
            return self._resolve(args)

    def _resolve(self, args: list[str]) -> Resolved:
        from awscli.clidriver import ServiceCommand, ServiceOperation

        yaml_doc, args = _take_yaml(args)
        try:
            parsed_globals, remaining = self._main.parse_known_args(args)
        except _ParseError as e:
            raise _incomplete(str(e)) from None
        service = parsed_globals.command
        command = self._driver._get_command_table()[service]
        common: dict[str, Any] = {
            "region": parsed_globals.region,
            "output": parsed_globals.output,
            "endpoint_url": parsed_globals.endpoint_url,
            "globals": vars(parsed_globals),
            "yaml_input": yaml_doc is not None,
        }
        if not isinstance(command, ServiceCommand):
            return self._custom(service, command, remaining, common)
        parser = self._service_parsers.get(service)
        if parser is None:
            parser = self._service_parsers[service] = _quiet(command._create_parser())
        try:
            parsed, remaining = parser.parse_known_args(remaining)
        except _ParseError as e:
            raise _incomplete(str(e)) from None
        operation = parsed.operation
        op = command._get_command_table().get(operation)
        if operation == "help" or op is None:
            raise _refuse("not_supported", "Help cannot be shown from chat; see the AWS CLI reference.")
        if not isinstance(op, ServiceOperation):
            return self._custom(service, op, remaining, common, operation=operation)
        return self._operation(service, operation, op, remaining, yaml_doc, common)

    def _operation(
        self,
        service: str,
        operation: str,
        op: Any,
        args: list[str],
        yaml_doc: str | None,
        common: dict[str, Any],
    ) -> Resolved:
        from awscli.paramfile import PARAMFILE_DISABLED

        table = op.arg_table
        documents = yaml_doc is not None or any(
            a.split("=", 1)[0] in ("--cli-input-json", "--generate-cli-skeleton") for a in args
        )
        parser = self._operation_parser(service, operation, table, relaxed=documents)
        name = f"aws {service} {operation}"
        try:
            parsed, unknown = parser.parse_known_args(args)
        except _ParseError as e:
            raise _refuse("invalid_parameters", f"`{name}` cannot be read as written: {e}. Fix it.") from None
        if parsed.help == "help":
            raise _refuse("not_supported", "Help cannot be shown from chat; see the AWS CLI reference.")
        if parsed.help:
            unknown.append(parsed.help)
        if unknown:
            raise _refuse(
                "unknown_option",
                f"`{name}` has no option or operand {', '.join(map(repr, unknown))[:200]}. "
                "Check the spelling against the AWS CLI reference.",
            )
        # The CLI's ``operation-args-parsed`` handlers are left out: they only reject some combinations of
        # options (reported by the CLI when it runs), and they assume one operation per process (ec2's
        # handlers, registered on ``ec2.*`` as each table is built, would judge every later ec2 command).
        values = vars(parsed)
        params: dict[str, Any] = {}
        local: list[str] = []
        prefix = f"{op._operation_model.service_model.endpoint_prefix}.{operation}."
        for arg in table.values():
            value = values.get(arg.py_name)
            if value is None:
                continue
            kind = type(arg).__name__
            if kind in LOCAL_PATH_ARGUMENTS:
                local.append(arg.cli_name)
                continue
            if arg.name in ("cli-input-json", "generate-cli-skeleton"):
                continue
            _check_url(arg, value, f"{prefix}{arg.name}" in PARAMFILE_DISABLED)
            try:
                arg.add_to_params(params, value)
            except Exception as e:
                raise _refuse(
                    "invalid_parameters", f"`{name}`: {arg.cli_name} cannot be read ({e}). Fix its value."
                ) from None
        document = values.get("cli_input_json")
        for text, label in ((document, "--cli-input-json"), (yaml_doc, "--cli-input-yaml")):
            if text is None:
                continue
            data = _document(text, label, name)
            for key, item in data.items():
                params.setdefault(key, item)
        model = op._operation_model
        return Resolved(
            service=service,
            operation=operation,
            kind="api",
            api_service=model.service_model.service_name,
            api_operation=model.name,
            parameters=params,
            streaming_output=bool(model.has_streaming_output),
            local_arguments=tuple(local),
            **common,
        )

    def _operation_parser(self, service: str, operation: str, table: Mapping[str, Any], relaxed: bool) -> Any:
        from awscli.argparser import ArgTableArgParser

        key = (service, operation, relaxed)
        parser = self._operation_parsers.get(key)
        if parser is None:
            # With an input document the CLI makes every argument optional (OverrideRequiredArgsArgument).
            saved = {n: a.required for n, a in table.items()}
            try:
                if relaxed:
                    for arg in table.values():
                        arg.required = False
                parser = ArgTableArgParser(table)
                parser.add_argument("help", nargs="?")
            finally:
                for n, a in table.items():
                    a.required = saved[n]
            parser = self._operation_parsers[key] = _quiet(parser)
        return parser

    def _custom(
        self, service: str, command: Any, args: list[str], common: dict[str, Any], operation: str = ""
    ) -> Resolved:
        """A CLI customisation: its name, and the positional operands its own parser reads."""
        from awscli.argparser import ArgTableArgParser

        if not operation:
            positional = [a for a in args if not a.startswith("-")]
            operation = positional[0] if positional else ""
            if not operation:
                raise _incomplete("")
            sub = getattr(command, "subcommand_table", {}) or {}
            command = sub.get(operation)
            if command is None:
                return Resolved(service=service, operation=operation, kind="custom", **common)
            args = args[args.index(operation) + 1 :]
        kind = "wait" if operation == "wait" else "custom"
        positionals: tuple[str, ...] = ()
        if kind == "custom":
            try:
                parser = _quiet(
                    ArgTableArgParser(command.arg_table, getattr(command, "subcommand_table", None))
                )
                parsed, _ = parser.parse_known_args(args)
            except _ParseError as e:
                raise _refuse(
                    "invalid_parameters", f"`aws {service} {operation}` cannot be read as written: {e}."
                ) from None
            except Exception:  # a customisation that cannot even build its parser here
                parsed = argparse.Namespace()
            paths = getattr(parsed, "paths", None)
            if isinstance(paths, str):
                positionals = (paths,)
            elif isinstance(paths, list):
                positionals = tuple(paths)
        return Resolved(service=service, operation=operation, kind=kind, positionals=positionals, **common)


class _RefuseVersion(argparse.Action):
    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        raise _ParseError("--version")


def _incomplete(detail: str) -> CommandRefused:
    option = re.match(r"argument (--[a-z0-9-]+): (.*)", detail, re.S)
    if option:  # a global option's value the CLI rejects (``--output yaml2``)
        said = " ".join(option.group(2).split()).rstrip(".")[:200]
        return _refuse("invalid_parameters", f"{option.group(1)}: {said}. Fix its value.")
    if "invalid choice" in detail.lower():
        return _refuse(
            "unknown_command",
            "That is not a command of the AWS CLI CentralOps runs. Check the service and operation names "
            "(e.g. `aws ec2 describe-instances`).",
        )
    return _refuse(
        "incomplete_command",
        "The command needs a service and an operation, e.g. `aws ec2 describe-instances`.",
    )


def _take_yaml(args: list[str]) -> tuple[str | None, list[str]]:
    """Pull ``--cli-input-yaml`` (AWS CLI v2 only) out, so its parameters are judged like JSON ones."""
    out: list[str] = []
    doc: str | None = None
    i = 0
    while i < len(args):
        token = args[i]
        name = token.split("=", 1)[0]
        if len(name) > 12 and "--cli-input-yaml".startswith(name):
            if "=" in token:
                doc = token.split("=", 1)[1]
            elif i + 1 < len(args):
                doc = args[i + 1]
                i += 1
            else:
                doc = ""
        else:
            out.append(token)
        i += 1
    return doc, out


def _document(text: str, label: str, name: str) -> dict[str, Any]:
    try:
        if label == "--cli-input-json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception:
        raise _refuse("invalid_parameters", f"`{name}`: {label} is not a valid document. Fix it.") from None
    if not isinstance(data, dict):
        raise _refuse("invalid_parameters", f"`{name}`: {label} must be an object of parameters.")
    return data


def _check_url(arg: Any, value: Any, disabled: bool) -> None:
    """The AWS CLI v1 downloads a parameter value that is an http(s) URL; that would run on the server."""
    if disabled or getattr(arg, "no_paramfile", False):
        return
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, str) and value.lower().startswith(("http://", "https://")):
        raise _refuse(
            "remote_file",
            f"The AWS CLI would download the value of {arg.cli_name} from {value[:60]!r} on the server. "
            "Pass the value itself instead of a URL.",
        )


MODEL = CliModel()
