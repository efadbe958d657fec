"""Structured logging: one JSON object per line in containers, readable text locally.

Fields go in ``extra={...}``; this formatter writes them out. Secrets never go
into a log record in the first place.
"""

import json
import logging
import os
import sys
from typing import Any

from centralops.settings import LOG_FORMAT, LOG_LEVEL

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


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
    """Set up the root logger once, from arguments or the environment."""
    fmt = fmt or os.environ.get(LOG_FORMAT, "json")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if fmt == "text" else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get(LOG_LEVEL, "INFO"))
    for noisy in ("botocore", "urllib3", "httpx", "httpcore", "mcp", "werkzeug", "strands"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
