"""The bot's CloudWatch metrics (EMF on stdout, which the container's log driver sends on).

Answer latency and Runtime errors per answer, approvals granted, feedback on
answers and chat API calls answered 429, by platform.
"""

import logging
from typing import Any

from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler

from centralops import metrics

logger = logging.getLogger(__name__)
SERVICE = "bot"


def _emit(values: dict[str, tuple[metrics.Unit, float]], dimensions: dict[str, str] | None = None) -> None:
    try:
        metrics.emit(SERVICE, values, dimensions)
    except Exception:  # a metric must never cost an answer
        logger.exception("metrics not emitted", extra={"metrics": sorted(values)})


def answered(ms: float, *, question: bool, failed: bool) -> None:
    """One answer streamed from the Runtime.

    Args:
        ms: Milliseconds from sending the question to the end of the answer.
        question: Whether it answered a person's question (not the resumption after an approval).
        failed: Whether it ended in an error from, or on the way to, the Runtime.
    """
    values: dict[str, tuple[metrics.Unit, float]] = {
        metrics.ANSWER_LATENCY: ("Milliseconds", ms),
        metrics.RUNTIME_ERRORS: ("Count", 1 if failed else 0),
    }
    if question:
        values[metrics.QUESTIONS] = ("Count", 1)
    _emit(values)


def approval_granted() -> None:
    """A second person granted an approval."""
    _emit({metrics.APPROVALS_GRANTED: ("Count", 1)})


def feedback(platform: str, *, positive: bool) -> None:
    """A person rated an answer on ``platform`` (a changed vote counts again, as the other kind)."""
    name = metrics.FEEDBACK_POSITIVE if positive else metrics.FEEDBACK_NEGATIVE
    _emit({name: ("Count", 1)}, {metrics.PLATFORM: platform})


def throttled(platform: str) -> None:
    """A chat API call of ``platform`` was answered 429."""
    _emit({metrics.CHAT_THROTTLED: ("Count", 1)}, {metrics.PLATFORM: platform})


class CountingRateLimitHandler(AsyncRateLimitErrorRetryHandler):
    """slack-sdk's 429 retry handler (waits for Retry-After), counting every 429 it sees."""

    async def can_retry_async(
        self, *, state: Any, request: Any, response: Any = None, error: Any = None
    ) -> bool:
        """Count a 429, then decide as slack-sdk does (retry while attempts remain)."""
        if response is not None and response.status_code == 429:
            throttled("slack")
        return await super().can_retry_async(state=state, request=request, response=response, error=error)
