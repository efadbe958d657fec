"""Settings of the alerts feature (explicit argument > environment > default)."""

from collections.abc import Mapping
from dataclasses import dataclass

from centralops import settings as s


@dataclass(frozen=True)
class AlertsConfig:
    """Where alerts come from and how channels are protected from floods.

    Attributes:
        queue_url: The SQS queue the central event bus feeds; ``None`` leaves the consumer off
            (subscriptions can still be managed).
        dead_letter_url: Where messages that can never be shown go (not an event, unregistered account).
        alerts_table: The alerts table (subscriptions, messages, digests).
        admin_group: Cognito group whose members may change a channel's subscriptions.
        per_minute: New alert messages one channel gets per minute before the rest are grouped.
        region: AWS region of the queue and the table.
        endpoint_url: AWS endpoint override (the local moto server).
        wait_s: SQS long-poll wait.
    """

    queue_url: str | None = None
    dead_letter_url: str | None = None
    alerts_table: str = "centralops-alerts"
    admin_group: str = "centralops-admins"
    per_minute: int = 5
    region: str = "us-east-1"
    endpoint_url: str | None = None
    wait_s: int = 10

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "AlertsConfig":
        """Read the settings from the environment."""
        e = environ
        return cls(
            queue_url=s.env_opt(s.ALERTS_QUEUE_URL, environ=e),
            dead_letter_url=s.env_opt(s.ALERTS_DEAD_LETTER_URL, environ=e),
            alerts_table=s.env_str(s.ALERTS_TABLE, "centralops-alerts", environ=e),
            admin_group=s.env_str(s.ALERTS_ADMIN_GROUP, "centralops-admins", environ=e),
            per_minute=s.env_int(s.ALERTS_PER_MINUTE, 5, environ=e),
            region=s.env_str(s.AWS_REGION, "us-east-1", environ=e),
            endpoint_url=s.env_opt(s.AWS_ENDPOINT_URL, environ=e),
            wait_s=s.env_int(s.ALERTS_WAIT_S, 10, environ=e),
        )
