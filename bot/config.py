"""The bot's typed settings, read once at start (explicit argument > environment > default)."""

from collections.abc import Mapping
from dataclasses import dataclass

from bot.identity.settings import IdentitySettings
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
        outbox_table: DynamoDB outbox of answers and approved runs (:mod:`bot.outbox`); ``None`` (unset) keeps none.
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
        identity: Where identity links, sign-in states, their key and the user pool are (:meth:`from_env`
            always reads them; ``None`` when built in code).
    """

    runtime_url: str = s.setting(s.RUNTIME_URL)
    approver_group: str = s.setting(s.APPROVER_GROUP, "centralops-approvers")
    approvals_table: str = s.setting(s.APPROVALS_TABLE, "centralops-approvals")
    idempotency_table: str = s.setting(s.IDEMPOTENCY_TABLE, "centralops-idempotency")
    accounts_table: str = s.setting(s.ACCOUNTS_TABLE, "centralops-accounts")
    outbox_table: str | None = s.setting(s.OUTBOX_TABLE, reader=s.env_opt)
    outbox_lease_s: float = s.setting(s.OUTBOX_LEASE_S, 60.0, s.env_float)
    chat_retry_s: float = s.setting(s.CHAT_RETRY_S, 120.0, s.env_float)
    max_answers: int = s.setting(s.MAX_ANSWERS, 16, s.env_int)
    max_queued: int = s.setting(s.MAX_QUEUED, 64, s.env_int)
    region: str = s.setting(s.AWS_REGION, "us-east-1")
    endpoint_url: str | None = s.setting(s.AWS_ENDPOINT_URL, reader=s.env_opt)
    host: str = s.setting(s.BOT_HOST, "127.0.0.1")
    port: int = s.setting(s.BOT_PORT, 3000, s.env_int)
    runtime_timeout_s: float = s.setting(s.RUNTIME_TIMEOUT_S, 300.0, s.env_float)
    stop_after_s: float = s.setting(s.STOP_AFTER_S, 2.0, s.env_float)
    slack_bot_token: str | None = s.setting(s.SLACK_BOT_TOKEN, reader=s.env_opt)
    slack_signing_secret: str | None = s.setting(s.SLACK_SIGNING_SECRET, reader=s.env_opt)
    slack_app_token: str | None = s.setting(s.SLACK_APP_TOKEN, reader=s.env_opt)
    slack_api_url: str | None = s.setting(s.SLACK_API_URL, reader=s.env_opt)
    slack_streaming: bool = s.setting(s.SLACK_STREAMING, True, s.env_bool)
    runtime_audience: str | None = s.setting(s.RUNTIME_AUDIENCE, required=True)
    bot_client_id: str | None = s.setting(s.BOT_CLIENT_ID, required=True)
    bot_client_secret: str | None = s.derived(None, repr=False)
    cognito_token_url: str | None = s.derived(None)
    cognito_exchange_url: str | None = s.setting(s.COGNITO_EXCHANGE_URL, reader=s.env_opt)
    results_bucket: str | None = s.setting(s.RESULTS_BUCKET, reader=s.env_opt)
    identity: IdentitySettings | None = s.derived(None)  # noqa: RUF009 - a dataclasses.field

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
        values = s.read(cls, environ)
        secret = client_secret(
            s.env_opt(s.BOT_CLIENT_SECRET, environ=environ),
            secret_arn=s.env_opt(s.BOT_CLIENT_SECRET_ARN, environ=environ),
            variable=s.BOT_CLIENT_SECRET_ARN,
            region=values["region"],
            endpoint_url=values["endpoint_url"],
        )
        return cls(
            **values,
            bot_client_secret=secret,
            cognito_token_url=s.env_str(s.COGNITO_DOMAIN_URL, environ=environ).rstrip("/") + "/oauth2/token",
            identity=IdentitySettings.from_env(environ),
        )
