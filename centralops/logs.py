"""Structured logging: one JSON object per line in containers and Lambda, readable text locally.

Fields go in ``extra={...}``; this formatter writes them out, with the fields
bound to the current invocation (:func:`bind`, e.g. Lambda's request id).
Secrets never go into a log record in the first place.
"""

import contextvars
import json
import logging
import os
import sys
from typing import Any

from centralops import tracing
from centralops.settings import LAMBDA_FUNCTION_NAME, LOG_FORMAT, LOG_LEVEL

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_bound: contextvars.ContextVar[tuple[tuple[str, Any], ...]] = contextvars.ContextVar(
    "centralops_log_fields", default=()
)


def bind(**fields: Any) -> None:
    """Add ``fields`` to every record logged from now on in this context (``None`` removes a field)."""
    merged = {**dict(_bound.get()), **fields}
    _bound.set(tuple((k, v) for k, v in merged.items() if v is not None))


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    own = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
    trace_id = tracing.current_trace_id()
    return {**({"trace_id": trace_id} if trace_id else {}), **dict(_bound.get()), **own}


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        """Format the record with its extra fields."""
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...`` for people."""

    def format(self, record: logging.LogRecord) -> str:
        """Format the record with its extra fields."""
        extras = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line += f"  {extras}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(fmt: str | None = None, level: str | None = None) -> None:
    """Set up the root logger, from arguments or the environment; handlers already there are replaced."""
    fmt = fmt or os.environ.get(LOG_FORMAT, "json")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if fmt == "text" else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get(LOG_LEVEL, "INFO"))
    for noisy in ("botocore", "urllib3", "httpx", "httpcore", "mcp", "werkzeug", "strands"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def in_lambda() -> bool:
    """Whether this process is an AWS Lambda function (Lambda sets ``AWS_LAMBDA_FUNCTION_NAME``)."""
    return bool(os.environ.get(LAMBDA_FUNCTION_NAME))


def configure_for_lambda(fmt: str | None = None, level: str | None = None) -> bool:
    """Set up logging for code that runs as a Lambda function or inside a host process.

    Lambda's runtime always puts its own handler on the root logger; left in
    place it drops our format and every ``extra`` field, so in Lambda it is
    replaced. Elsewhere (the local Gateway hosting the bridge, tests) the host
    already chose its logging and is left alone.

    Returns:
        Whether logging was configured.
    """
    if not in_lambda():
        return False
    configure(fmt, level)
    return True
