"""Remove secrets from a result and cap its size before it leaves the bridge.

Secrets are found two ways, in JSON, ``--output text`` and ``--output table``
alike:

- by value: shapes that are secrets wherever they stand (access key ids, AWS
  session tokens, PEM private keys, JWTs, bearer tokens, passwords inside
  URLs, presigned URL signatures, well-known token formats);
- by name: the value that belongs to a secret-looking name (``SecretAccessKey``,
  ``DB_PASSWORD``, ``api-key``, ``githubToken``...), whether the name is a JSON
  key, the ``Name``/``Key`` of a ``{"Name": ..., "Value": ...}`` entry, a
  ``NAME=value`` pair, or a column of a text or table row.

ARNs, ids and pagination or idempotency tokens (``NextToken``, ``ClientToken``...)
are left alone.
"""

import json
import re
from typing import Any

REDACTED = "[REDACTED]"
TRUNCATION_MARKER = "[TRUNCATED by CentralOps: {shown} of {total} characters shown; narrow the command]"

# Words that make a name secret-looking (compared in lower case without separators).
_SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "credential",
    "accesskey",
    "sessionkey",
    "authkey",
    "keymaterial",
    "plaintext",
    "connectionstring",
)
_SECRET_EXACT = frozenset({"pwd", "pass", "auth", "authorization", "cookie", "dsn", "signature"})
# Names that contain a secret word but hold metadata, not the secret.
_NOT_SECRET_SUFFIXES = (
    "arn",
    "arns",
    "id",
    "ids",
    "name",
    "names",
    "type",
    "types",
    "status",
    "enabled",
    "required",
    "length",
    "policy",
    "policies",
    "expiration",
    "expiry",
    "expires",
    "expiresat",
    "expirationtime",
    "lastused",
    "lastuseddate",
    "date",
    "time",
    "count",
    "version",
    "versionid",
    "versions",
    "ttl",
    "age",
    "url",
    "uri",
    "endpoint",
    "source",
    "location",
    "kmskeyid",
    "reuseprevention",
    "resetrequired",
    "config",
    "configuration",
    "settings",
    "options",
    "method",
    "methods",
    "provider",
    "arnlist",
    "rotationenabled",
    "selectionexpression",
)
_NOT_SECRET_TOKENS = (
    "nexttoken",
    "continuationtoken",
    "nextcontinuationtoken",
    "paginationtoken",
    "nextpagetoken",
    "startingtoken",
    "clienttoken",
    "clientrequesttoken",
    "idempotencytoken",
    "changetoken",
    "locktoken",
    "nextlocktoken",
    "updatetoken",
    "requesttoken",
    "synctoken",
    "versiontoken",
    "marker",
    "nextmarker",
)


def secret_name(name: str) -> bool:
    """Whether a field or variable name (any case, any separator) names a secret value."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    if not key or key in _NOT_SECRET_TOKENS:
        return False
    if key in _SECRET_EXACT:
        return True
    if not any(word in key for word in _SECRET_WORDS):
        return False
    return not key.endswith(_NOT_SECRET_SUFFIXES)


_B64 = r"[A-Za-z0-9/+=]"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)", re.S),
        "[REDACTED PRIVATE KEY]",
    ),
    (re.compile(r"\b(AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"), "[REDACTED ACCESS KEY ID]"),
    # AWS session tokens (STS) start with these base64 prefixes.
    (re.compile(rf"\b(IQoJb3JpZ2luX2Vj|FwoGZXIvYXdz|FQoGZXIvYXdz){_B64}{{16,}}"), "[REDACTED SESSION TOKEN]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), "[REDACTED JWT]"),
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1\2" + REDACTED),
    (re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"), "[REDACTED GITHUB TOKEN]"),
    (re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{10,}"), "[REDACTED SLACK TOKEN]"),
    (re.compile(r"\b(sk|rk)_(live|test)_[A-Za-z0-9]{16,}"), "[REDACTED STRIPE KEY]"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), "[REDACTED GOOGLE API KEY]"),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), "[REDACTED GITLAB TOKEN]"),
    # scheme://user:password@host
    (re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@\"'<>]+:)[^\s@/\"'<>]+@"), r"\1" + REDACTED + "@"),
    # Presigned URLs: the query string carries a signature (and often a session token).
    (
        re.compile(
            r"(https?://[^\s?\"'<>]+)\?[^\s\"'<>]*(X-Amz-Signature|X-Amz-Credential|Signature=)[^\s\"'<>]*"
        ),
        r"\1?[REDACTED SIGNED QUERY]",
    ),
    (
        re.compile(
            r"(?i)(aws_secret_access_key|secret_?access_?key|SecretAccessKey)([\"']?\s*[:=]\s*[\"']?|\s+)[A-Za-z0-9/+=]{40}"
        ),
        r"\1\2" + REDACTED,
    ),
    # A bare 40-character AWS secret access key: base64 with mixed case and a digit or / or +, never pure hex.
    (
        re.compile(
            r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=]))(?![0-9a-f]{40})(?![0-9A-F]{40})"
            r"(?=[^\s]*[a-z])(?=[^\s]*[A-Z])(?=[^\s]*[0-9/+])[A-Za-z0-9/+]{40}"
        ),
        "[REDACTED SECRET KEY]",
    ),
)
# NAME = value, NAME: value, NAME<tab>value, | NAME | value | (text and table output, env files). The value
# is a lookahead so that every name is examined, also one that is itself the value of the name before it.
_NAMED_VALUE = re.compile(
    r"(?<![\w:/.@-])([\"']?)([A-Za-z][A-Za-z0-9_.-]{1,80})\1"
    r"(?:\s*[:=]\s*|\t+\s*| {2,}|\s*\|\s*)"
    r"(?=(\"[^\"\n]*\"|'[^'\n]*'|[^\s|\"',}\]]+))"
)


def _redact_named(text: str) -> str:
    spans: list[tuple[int, int]] = []
    for m in _NAMED_VALUE.finditer(text):
        if secret_name(m.group(2)) and not m.group(3).startswith("[REDACTED"):
            spans.append((m.end(), m.end() + len(m.group(3))))
    if not spans:
        return text
    out: list[str] = []
    last = 0
    for start, stop in spans:
        if start < last:
            continue
        out.append(text[last:start])
        out.append(REDACTED)
        last = stop
    out.append(text[last:])
    return "".join(out)


# Command options whose values are secrets (``--password x``, ``--secret-string=x``); ids, ARNs and names are not.
_SECRET_OPTION = re.compile(
    r"(--(?![a-z-]*-(?:ids?|arns?|names?)\b)(?!next-token\b|starting-token\b|client-token\b)"
    r"[a-z-]*(?:password|secret|token|private-key|key-material|plaintext)[a-z-]*)(\s+|=)('[^']*'|\"[^\"]*\"|\S+)"
)
MAX_COMMAND_ECHO = 500


def redact_command(text: str) -> str:
    """A command line fit to echo and audit: secret option values and secret shapes removed, length capped."""
    text = redact_text(_SECRET_OPTION.sub(r"\1\2" + REDACTED, text))
    return text if len(text) <= MAX_COMMAND_ECHO else text[:MAX_COMMAND_ECHO] + "..."


def redact_text(text: str) -> str:
    """Redact secrets in free text: CLI ``text`` and ``table`` output, error messages, single JSON strings."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    if "|" in text or "\t" in text or "=" in text or ":" in text or "  " in text:
        text = _redact_named(text)
    return text


_ENTRY_NAMES = ("Name", "name", "Key", "key", "ParameterKey", "OptionName", "VariableName", "Variable")
_ENTRY_VALUES = ("Value", "value", "ParameterValue", "Values")


def _entry_name(value: dict[str, Any]) -> str | None:
    """The name of a ``{"Name": ..., "Value": ...}``-style entry, when it is one."""
    if not any(k in value for k in _ENTRY_VALUES):
        return None
    for key in _ENTRY_NAMES:
        name = value.get(key)
        if isinstance(name, str):
            return name
    return None


def _hide(item: Any) -> Any:
    """The value under a secret-looking name: scalars replaced, containers searched further."""
    if isinstance(item, dict):
        return redact(item)
    if isinstance(item, list):
        return [_hide(i) for i in item]
    if item is None or item == "" or isinstance(item, bool | int | float):
        return item
    return REDACTED


def redact(value: Any) -> Any:
    """Redact secrets in a parsed JSON value: secret-looking names, named entries, secret shapes anywhere."""
    if isinstance(value, dict):
        entry = _entry_name(value)
        secret_entry = entry is not None and secret_name(entry.rsplit("/", 1)[-1])
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and (secret_name(key) or (secret_entry and key in _ENTRY_VALUES)):
                out[key] = _hide(item)
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
