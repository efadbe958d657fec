"""The EventBridge patterns alerts are forwarded by: what the CDK rules and the local stack's rules match.

Plain data (no CDK import), so that the local stack starts without loading the CDK.
"""

import json
from typing import Any

DEFAULT_PATTERNS: dict[str, dict[str, Any]] = {
    "Alarms": {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]},
    "GuardDuty": {"source": ["aws.guardduty"], "detail-type": ["GuardDuty Finding"]},
    "Health": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "EcsStops": {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {"lastStatus": ["STOPPED"]},
    },
}


def extra_patterns(value: Any) -> dict[str, dict[str, Any]]:
    """The ``alertEventPatterns`` context: a JSON list (or list) of EventBridge patterns, named ``Extra<n>``."""
    if not value:
        return {}
    patterns = json.loads(value) if isinstance(value, str) else value
    if not isinstance(patterns, list) or not all(isinstance(p, dict) and p.get("source") for p in patterns):
        raise ValueError("alertEventPatterns must be a list of EventBridge patterns, each with a source.")
    return {f"Extra{i + 1}": p for i, p in enumerate(patterns)}
