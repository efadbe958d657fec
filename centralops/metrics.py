"""CloudWatch metrics as Embedded Metric Format (EMF) lines on stdout, and their names.

Lambda and the container log drivers send stdout to CloudWatch Logs, which turns
each EMF line into metric values; no API call, no agent. Powertools for AWS
Lambda writes the EMF (``EphemeralMetrics``: no state shared between callers).
The names live here because the bridge and bot emit them and the CDK dashboard
and alarms read them.
"""

from collections.abc import Mapping
from typing import Literal

NAMESPACE = "CentralOps"
Unit = Literal["Count", "Milliseconds"]

# The bridge (service "bridge").
QUERIES = "Queries"  # tool calls that reached the checks
REFUSALS = "Refusals"  # dimension CODE: calls refused before anything ran
APPROVALS_REQUESTED = "ApprovalsRequested"  # mutating calls sent back for a second person's approval
APPROVALS_CONSUMED = "ApprovalsConsumed"  # approvals used up by the command they allowed
ACCOUNT_ERRORS = "AccountErrors"  # dimension ACCOUNT: 1 per failed account run, 0 per good one
ACCOUNT_LATENCY = "AccountLatency"  # dimension ACCOUNT: milliseconds per account run

# The bot (service "bot").
QUESTIONS = "Questions"  # questions and commands sent to the agent
ANSWER_LATENCY = "AnswerLatency"  # milliseconds from the question to the end of the answer
RUNTIME_ERRORS = "RuntimeErrors"  # answers that ended in an error from, or on the way to, the Runtime
CHAT_THROTTLED = "ChatThrottled"  # dimension PLATFORM: chat API calls answered 429
APPROVALS_GRANTED = "ApprovalsGranted"  # approvals a second person granted
FEEDBACK_POSITIVE = "FeedbackPositive"  # dimension PLATFORM: thumbs up on an answer
FEEDBACK_NEGATIVE = "FeedbackNegative"  # dimension PLATFORM: thumbs down on an answer

# Dimensions.
SERVICE = "service"  # added by Powertools to every metric
CODE = "Code"
ACCOUNT = "AccountId"
PLATFORM = "Platform"


def emit(
    service: str, values: Mapping[str, tuple[Unit, float]], dimensions: Mapping[str, str] | None = None
) -> None:
    """Write one EMF line with ``values`` under ``service`` and ``dimensions``.

    Args:
        service: ``bridge`` or ``bot``; the ``service`` dimension of every value.
        values: Metric name to ``(unit, value)``.
        dimensions: More dimensions for all of ``values`` (at most 8 in all, an EMF limit).
    """
    if not values:
        return
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

    metrics = EphemeralMetrics(namespace=NAMESPACE, service=service)
    for dimension, text in (dimensions or {}).items():
        metrics.add_dimension(name=dimension, value=text)
    for name, (unit, value) in values.items():
        metrics.add_metric(name=name, unit=MetricUnit(unit), value=value)
    metrics.flush_metrics()
