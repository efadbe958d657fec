"""The bot's typed settings, read once at start (explicit argument > environment > default)."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from centralops import settings as s
from centralops.exchange import TokenExchanger, client_secret


@dataclass(frozen=True)
class BotConfig:
    """Everything the bot's core and its Slack edge need to start.

    Attributes:
        runtime_url: The full ``.../invocations`` URL of the AgentCore Runtime.
        approver_group: The Cognito group whose members may decide approvals.
        approvals_table: DynamoDB table of approvals.
        idempotency_table: DynamoDB table that claims chat events once.
        accounts_table: DynamoDB registry of member accounts (read-only here).
        outbox_table: DynamoDB outbox of answers and approved runs (:mod:`bot.outbox`); ``None`` keeps none.
        outbox_lease_s: How long an answer stays with its replica without a renewal before another finishes it.
        chat_retry_s: How long one chat write keeps trying (Retry-After honoured) before the outbox takes over.
        max_answers: Answers this replica runs at once (:mod:`bot.admission`).
        max_queued: Answers this replica keeps waiting, each told its position; more are refused at once.
        region: AWS region of the tables.
        endpoint_url: AWS endpoint override (the local moto server), or ``None``.
        host: Interface the HTTP server binds.
        port: Port of the HTTP server.
        runtime_timeout_s: How long one answer may take before the user is told.
        stop_after_s: How long an answer runs before it offers Stop (quicker ones never show it).
        slack_bot_token: ``xoxb-`` token; ``None`` leaves Slack disabled.
        slack_signing_secret: Verifies every request from Slack.
        slack_app_token: ``xapp-`` token; when set, Slack talks over Socket Mode.
        slack_api_url: Web API base URL (the local stand-in); ``None`` is Slack itself.
        slack_streaming: Use ``chat.startStream``; ``False`` forces the ``chat.update`` fallback.
        runtime_audience: The Runtime's audience: the person's ID token is exchanged for it, with the
            bot as actor, before each invocation. ``None`` sends the ID token as is (only a stand-in
            Runtime accepts that; :meth:`from_env` requires the exchange settings).
        bot_client_id: The bot's confidential app client (exchanges tokens, acts as the bot).
        bot_client_secret: Its secret.
        cognito_token_url: The pool's token endpoint (the bot's client-credentials token).
        cognito_exchange_url: A ``cognito-idp`` endpoint serving ``GetDerivedToken``; ``None`` is Cognito.
        results_bucket: The central bucket where the bridge keeps full fan-out results (read-only here).
    """

    runtime_url: str
    approver_group: str = "centralops-approvers"
    approvals_table: str = "centralops-approvals"
    idempotency_table: str = "centralops-idempotency"
    accounts_table: str = "centralops-accounts"
    outbox_table: str | None = None
    outbox_lease_s: float = 60.0
    chat_retry_s: float = 120.0
    max_answers: int = 16
    max_queued: int = 64
    region: str = "us-east-1"
    endpoint_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 3000
    runtime_timeout_s: float = 300.0
    stop_after_s: float = 2.0
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str | None = None
    slack_streaming: bool = True
    runtime_audience: str | None = None
    bot_client_id: str | None = None
    bot_client_secret: str | None = field(default=None, repr=False)
    cognito_token_url: str | None = None
    cognito_exchange_url: str | None = None
    results_bucket: str | None = None

    def exchanger(self) -> TokenExchanger | None:
        """Exchanges a person's ID token for the Runtime's audience; ``None`` without exchange settings."""
        if not (
            self.runtime_audience and self.bot_client_id and self.bot_client_secret and self.cognito_token_url
        ):
            return None
        return TokenExchanger(
            client_id=self.bot_client_id,
            client_secret=self.bot_client_secret,
            token_url=self.cognito_token_url,
            audience=self.runtime_audience,
            region=self.region,
            endpoint_url=self.cognito_exchange_url,
        )

    @property
    def slack_enabled(self) -> bool:
        """Whether Slack is configured: a bot token, and a signing secret (HTTP) or an app token (Socket Mode)."""
        return bool(self.slack_bot_token and (self.slack_signing_secret or self.slack_app_token))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "BotConfig":
        """Build the settings from the environment.

        Raises:
            ConfigurationError: A required variable is missing or malformed.
        """
        e = environ
        return cls(
            runtime_url=s.env_str(s.RUNTIME_URL, environ=e),
            approver_group=s.env_str(s.APPROVER_GROUP, "centralops-approvers", environ=e),
            approvals_table=s.env_str(s.APPROVALS_TABLE, "centralops-approvals", environ=e),
            idempotency_table=s.env_str(s.IDEMPOTENCY_TABLE, "centralops-idempotency", environ=e),
            accounts_table=s.env_str(s.ACCOUNTS_TABLE, "centralops-accounts", environ=e),
            outbox_table=s.env_str(s.OUTBOX_TABLE, "centralops-outbox", environ=e),
            outbox_lease_s=s.env_float(s.OUTBOX_LEASE_S, 60.0, environ=e),
            chat_retry_s=s.env_float(s.CHAT_RETRY_S, 120.0, environ=e),
            max_answers=s.env_int(s.MAX_ANSWERS, 16, environ=e),
            max_queued=s.env_int(s.MAX_QUEUED, 64, environ=e),
            region=s.env_str(s.AWS_REGION, "us-east-1", environ=e),
            endpoint_url=s.env_opt(s.AWS_ENDPOINT_URL, environ=e),
            host=s.env_str(s.BOT_HOST, "127.0.0.1", environ=e),
            port=s.env_int(s.BOT_PORT, 3000, environ=e),
            runtime_timeout_s=s.env_float(s.RUNTIME_TIMEOUT_S, 300.0, environ=e),
            stop_after_s=s.env_float(s.STOP_AFTER_S, 2.0, environ=e),
            slack_bot_token=s.env_opt(s.SLACK_BOT_TOKEN, environ=e),
            slack_signing_secret=s.env_opt(s.SLACK_SIGNING_SECRET, environ=e),
            slack_app_token=s.env_opt(s.SLACK_APP_TOKEN, environ=e),
            slack_api_url=s.env_opt(s.SLACK_API_URL, environ=e),
            slack_streaming=s.env_bool(s.SLACK_STREAMING, True, environ=e),
            runtime_audience=s.env_str(s.RUNTIME_AUDIENCE, environ=e),
            bot_client_id=s.env_str(s.BOT_CLIENT_ID, environ=e),
            bot_client_secret=client_secret(
                s.env_opt(s.BOT_CLIENT_SECRET, environ=e),
                secret_arn=s.env_opt(s.BOT_CLIENT_SECRET_ARN, environ=e),
                variable=s.BOT_CLIENT_SECRET_ARN,
                region=s.env_str(s.AWS_REGION, "us-east-1", environ=e),
                endpoint_url=s.env_opt(s.AWS_ENDPOINT_URL, environ=e),
            ),
            cognito_token_url=s.env_str(s.COGNITO_DOMAIN_URL, environ=e).rstrip("/") + "/oauth2/token",
            cognito_exchange_url=s.env_opt(s.COGNITO_EXCHANGE_URL, environ=e),
            results_bucket=s.env_opt(s.RESULTS_BUCKET, environ=e),
        )
