"""Remove secrets from a result and cap its size before it leaves the bridge."""

import json
import re
from typing import Any

REDACTED = "[REDACTED]"
TRUNCATION_MARKER = "[TRUNCATED by CentralOps: {shown} of {total} characters shown; narrow the command]"

# Field names whose values are secrets wherever they appear (compared case-insensitively, without - and _).
_SECRET_FIELDS = {
    "secretaccesskey",
    "awssecretaccesskey",
    "sessiontoken",
    "awssessiontoken",
    "securitytoken",
    "password",
    "masteruserpassword",
    "adminpassword",
    "dbpassword",
    "passwd",
    "privatekey",
    "keymaterial",
    "secretstring",
    "secretbinary",
    "plaintext",
    "clientsecret",
    "authtoken",
    "authorizationtoken",
    "passworddata",
    "token",
    "accesstoken",
    "refreshtoken",
    "idtoken",
}
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)", re.S),
        "[REDACTED PRIVATE KEY]",
    ),
    (re.compile(r"\b(AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"), "[REDACTED ACCESS KEY ID]"),
    (
        re.compile(
            r"(?i)(aws_secret_access_key|secret_?access_?key|SecretAccessKey)([\"']?\s*[:=]\s*[\"']?|\s+)[A-Za-z0-9/+=]{40}"
        ),
        r"\1\2" + REDACTED,
    ),
    (
        re.compile(
            r"(?i)(aws_session_token|session_?token|SessionToken)([\"']?\s*[:=]\s*[\"']?|\s+)[A-Za-z0-9/+=]{16,}"
        ),
        r"\1\2" + REDACTED,
    ),
    (re.compile(r"(?i)\b(password|passwd|pwd)(\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|\S+)"), r"\1\2" + REDACTED),
)


# Command options whose values are secrets (``--password x``, ``--secret-string=x``); ids, ARNs and names are not.
_SECRET_OPTION = re.compile(
    r"(--(?![a-z-]*-(?:ids?|arns?|names?)\b)(?!next-token\b|starting-token\b)"
    r"[a-z-]*(?:password|secret|token|private-key|key-material|plaintext)[a-z-]*)(\s+|=)('[^']*'|\"[^\"]*\"|\S+)"
)
MAX_COMMAND_ECHO = 500


def redact_command(text: str) -> str:
    """A command line fit to echo and audit: secret option values and secret shapes removed, length capped."""
    text = redact_text(_SECRET_OPTION.sub(r"\1\2" + REDACTED, text))
    return text if len(text) <= MAX_COMMAND_ECHO else text[:MAX_COMMAND_ECHO] + "..."


def _norm(key: str) -> str:
    return key.lower().replace("-", "").replace("_", "")


def redact_text(text: str) -> str:
    """Redact secret shapes in free text (CLI output that is not JSON, error messages)."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any) -> Any:
    """Redact secrets in a parsed JSON value: known fields by name, secret shapes in every string."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and _norm(key) in _SECRET_FIELDS and item not in (None, "", [], {}):
                out[key] = REDACTED
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def cap(value: Any, max_chars: int) -> tuple[Any, bool]:
    """Cut a result that serialises to more than ``max_chars`` characters.

    Returns:
        The value (unchanged, or its serialised text cut with an explicit marker) and whether it was cut.
    """
    text = value if isinstance(value, str) else json.dumps(value, default=str, separators=(",", ":"))
    if len(text) <= max_chars:
        return value, False
    return text[:max_chars] + "\n" + TRUNCATION_MARKER.format(shown=max_chars, total=len(text)), True
