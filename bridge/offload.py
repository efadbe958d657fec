"""Keep a fan-out's response under the size limit: full results to S3, a summary per account inline.

Lambda answers a synchronous call with at most 6 MB, and a model reads far
less than that. When a ``query_accounts`` response would serialise to more
than ``max_response_bytes``, the whole response is written once to the central
results bucket (whose lifecycle rule expires it) and every account keeps an
equal share of the inline budget: its result cut to that share, marked
``truncated`` and ``offloaded``. The response then names the object under
``full_results`` (bucket, key, bytes, accounts) for the bot to attach to the
thread. Without a bucket, or when the write fails, the cut results are
returned with ``full_results_error`` saying so.
"""

import datetime
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bridge.redact import TRUNCATION_MARKER
from bridge.results import Result

logger = logging.getLogger(__name__)

PREFIX = "results/"
ENVELOPE_BYTES = 600  # per account: ids, names, command echo, flags around the result


def _size(value: Any) -> int:
    return len(json.dumps(value, default=str, separators=(",", ":")).encode())


def _cut(value: Any, max_bytes: int) -> Any:
    text = value if isinstance(value, str) else json.dumps(value, default=str, separators=(",", ":"))
    encoded = text.encode()
    if len(encoded) <= max_bytes:
        return value
    shown = encoded[: max(0, max_bytes)].decode(errors="ignore")
    return shown + "\n" + TRUNCATION_MARKER.format(shown=len(shown), total=len(text))


def key_for(requester: str, now: datetime.datetime | None = None) -> str:
    """A fresh, unguessable object key under :data:`PREFIX`, dated for lifecycle rules and audits."""
    now = now or datetime.datetime.now(datetime.UTC)
    del requester  # never part of the key: keys appear in chat, people's names need not
    return f"{PREFIX}{now:%Y/%m/%d}/{uuid.uuid4().hex}.json"


def fit(
    response: dict[str, Any],
    *,
    max_bytes: int,
    bucket: str | None,
    s3: Callable[[], Any],
    requester: str,
) -> dict[str, Any]:
    """``response`` unchanged when it fits in ``max_bytes``; else offloaded and cut as described above.

    Args:
        response: ``{"results", "ok_count", "error_count"}`` of ``query_accounts``.
        max_bytes: The inline budget of the whole response.
        bucket: The central results bucket; ``None`` when none is configured.
        s3: Makes the S3 client (called only when the response is too large and a bucket is set).
        requester: Who asked (recorded as object metadata for the audit trail).
    """
    full = json.dumps(response, default=str, separators=(",", ":")).encode()
    if len(full) <= max_bytes:
        return response
    results: list[Result] = response["results"]
    extra: dict[str, Any] = {}
    if bucket:
        key = key_for(requester)
        try:
            s3().put_object(
                Bucket=bucket,
                Key=key,
                Body=full,
                ContentType="application/json",
                Metadata={"requester": requester[:200].encode("ascii", "replace").decode()},
            )
            extra["full_results"] = {
                "bucket": bucket,
                "key": key,
                "bytes": len(full),
                "accounts": len(results),
            }
        except (BotoCoreError, ClientError) as e:
            logger.warning("full results not stored", extra={"bucket": bucket, "error": str(e)})
            extra["full_results_error"] = (
                "The full results were too large to return and could not be stored; each account's "
                "output is cut below. Ask about fewer accounts or narrow the command."
            )
    else:
        extra["full_results_error"] = (
            "The full results were too large to return and no results bucket is configured; each "
            "account's output is cut below. Ask about fewer accounts or narrow the command."
        )
    share = max(200, (max_bytes - 2_000) // max(1, len(results)) - ENVELOPE_BYTES)
    cut: list[Result] = []
    for r in results:
        if r.get("ok") and _size(r.get("result")) > share:
            r = {
                **r,
                "result": _cut(r.get("result"), share),
                "truncated": True,
                "offloaded": "full_results" in extra,
            }
        cut.append(r)
    return {**response, "results": cut, **extra}
