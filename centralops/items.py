"""Readers of DynamoDB item values, shared by the item shapes of the kernel.

Items arrive as plain Python values (boto3's resource or ``TypeDeserializer``): a
list may be a set, a number a ``Decimal``, an absent attribute ``None``.
"""

from collections.abc import Iterable, Mapping
from typing import Any


def strings(value: Any) -> tuple[str, ...]:
    """A list or set of strings (one string counts as one), empty values dropped."""
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return tuple(str(v) for v in value if v)
    return ()


def optional_str(value: Any) -> str | None:
    """A string, ``None`` when absent or empty."""
    return str(value) if value else None


def optional_int(value: Any) -> int | None:
    """A whole number (``Decimal`` included), ``None`` when absent."""
    return int(value) if value is not None and value != "" else None
