"""The agent's settings, read once at start (explicit argument > environment > default)."""

from collections.abc import Mapping
from dataclasses import dataclass

from centralops import settings
from centralops.exchange import TokenExchanger, client_secret
from centralops.tokens import CognitoVerifier, cognito_issuer

DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True, kw_only=True)
class AgentSettings:
    """Everything the agent process needs to know about its surroundings.

    Attributes:
        region: The AWS region of the central account (registry, approvals, memory).
        endpoint_url: A custom AWS endpoint (moto locally); ``None`` in AWS.
        accounts_table: The registry of member accounts.
        approvals_table: Pending and decided approvals.
        gateway_url: The AgentCore Gateway's MCP endpoint.
        model_provider: ``offline``, ``bedrock``, ``anthropic``, ``openai`` or ``ollama``.
        model_id: The provider's model id; each provider has a default.
        model_region: The Bedrock region of the model.
        model_base_url: Base URL of an OpenAI-compatible server or the Ollama host.
        memory_table: DynamoDB table of the conversation memory (one item per thread); none when ``None``.
        cognito_issuer: Expected ``iss`` of the pool's tokens.
        cognito_client_id: The bot's sign-in app client (the people's ID tokens).
        cognito_jwks_url: Where the pool's keys are served.
        runtime_audience: The ``aud`` an invocation's token must carry (the bot exchanged it for us).
        bot_client_id: The ``act`` an invocation's token must name: the bot's app client.
        gateway_audience: The audience the agent exchanges the person's token for, to call the Gateway.
        agent_client_id: The agent's confidential app client (exchanges tokens, acts as the agent).
        agent_client_secret: Its secret.
        cognito_token_url: The pool's token endpoint (the agent's client-credentials token).
        cognito_exchange_url: A ``cognito-idp`` endpoint serving ``GetDerivedToken``; ``None`` is Cognito.
        prod_fanout_limit: A call over more production accounts than this needs approval.
        approval_ttl_s: How long a pending approval stays valid.
        port: Where ``python -m agent`` listens.
    """

    region: str = settings.setting(settings.AWS_REGION, DEFAULT_REGION)
    endpoint_url: str | None = settings.setting(settings.AWS_ENDPOINT_URL, reader=settings.env_opt)
    accounts_table: str = settings.setting(settings.ACCOUNTS_TABLE, "centralops-accounts")
    approvals_table: str = settings.setting(settings.APPROVALS_TABLE, "centralops-approvals")
    gateway_url: str = settings.setting(settings.GATEWAY_URL)
    model_provider: str = settings.setting(settings.MODEL_PROVIDER, "bedrock", transform=str.lower)
    model_id: str | None = settings.setting(settings.MODEL_ID, reader=settings.env_opt)
    model_region: str = settings.derived()
    model_base_url: str | None = settings.setting(settings.MODEL_BASE_URL, reader=settings.env_opt)
    memory_table: str | None = settings.setting(settings.MEMORY_TABLE, reader=settings.env_opt)
    cognito_issuer: str = settings.derived()
    cognito_client_id: str = settings.setting(settings.COGNITO_CLIENT_ID)
    cognito_jwks_url: str | None = settings.setting(settings.COGNITO_JWKS_URL, reader=settings.env_opt)
    prod_fanout_limit: int = settings.setting(settings.APPROVAL_PROD_FANOUT, 1, settings.env_int)
    approval_ttl_s: int = settings.setting(settings.APPROVAL_TTL_SECONDS, 3600, settings.env_int)
    fanout_calls: int = settings.setting(settings.FANOUT_CALLS, 8, settings.env_int)
    port: int = settings.setting(settings.AGENT_PORT, 8080, settings.env_int)
    runtime_audience: str = settings.setting(settings.RUNTIME_AUDIENCE)
    bot_client_id: str = settings.setting(settings.BOT_CLIENT_ID)
    gateway_audience: str = settings.setting(settings.GATEWAY_AUDIENCE)
    agent_client_id: str = settings.setting(settings.AGENT_CLIENT_ID)
    agent_client_secret: str = settings.derived(repr=False)
    cognito_token_url: str = settings.derived()
    cognito_exchange_url: str | None = settings.setting(
        settings.COGNITO_EXCHANGE_URL, reader=settings.env_opt
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "AgentSettings":
        """Read the settings from the environment.

        Raises:
            ConfigurationError: A required variable is missing or malformed.
        """
        values = settings.read(cls, environ)
        region = values["region"]
        issuer = settings.env_opt(settings.COGNITO_ISSUER, environ=environ)
        if issuer is None:
            issuer = cognito_issuer(region, settings.env_str(settings.COGNITO_USER_POOL_ID, environ=environ))
        return cls(
            **values,
            model_region=settings.env_str(settings.MODEL_REGION, region, environ=environ),
            cognito_issuer=issuer,
            agent_client_secret=_agent_secret(environ, region),
            cognito_token_url=settings.env_str(settings.COGNITO_DOMAIN_URL, environ=environ).rstrip("/")
            + "/oauth2/token",
        )

    def verifier(self) -> CognitoVerifier:
        """The verifier of invocations: access tokens for the Runtime's audience, exchanged by the bot."""
        return CognitoVerifier(
            issuer=self.cognito_issuer,
            audience=self.runtime_audience,
            jwks_url=self.cognito_jwks_url,
            token_use=frozenset({"access"}),
            required_actor=self.bot_client_id,
        )

    def exchanger(self) -> TokenExchanger:
        """Exchanges an invocation's token for the Gateway's audience, with the agent as actor."""
        return TokenExchanger(
            client_id=self.agent_client_id,
            client_secret=self.agent_client_secret,
            token_url=self.cognito_token_url,
            audience=self.gateway_audience,
            region=self.region,
            endpoint_url=self.cognito_exchange_url,
        )


def _agent_secret(environ: Mapping[str, str] | None, region: str) -> str:
    """The agent's client secret: the variable, else read from its Secrets Manager secret once, at start."""
    return client_secret(
        settings.env_opt(settings.AGENT_CLIENT_SECRET, environ=environ),
        secret_arn=settings.env_opt(settings.AGENT_CLIENT_SECRET_ARN, environ=environ),
        variable=settings.AGENT_CLIENT_SECRET_ARN,
        region=region,
        endpoint_url=settings.env_opt(settings.AWS_ENDPOINT_URL, environ=environ),
    )
