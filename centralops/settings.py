"""Every environment variable CentralOps reads, named once, and typed readers.

Explicit arguments beat the environment, which beats the defaults: each field
of a component's settings dataclass is declared once with :func:`setting`
(its variable, its default, its reader), :func:`from_env` reads them all,
once, at start, and a missing required variable raises
:class:`ConfigurationError` naming it. Values derived from other settings
(an issuer from region and pool, a secret read from Secrets Manager) are
declared with :func:`derived` and passed to :func:`from_env` by the class.
"""

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any

from centralops.errors import ConfigurationError

# AWS
AWS_REGION = "AWS_REGION"
AWS_ENDPOINT_URL = "AWS_ENDPOINT_URL"

# Cognito (shared by bot, agent and gateway)
COGNITO_USER_POOL_ID = "CENTRALOPS_COGNITO_USER_POOL_ID"
COGNITO_CLIENT_ID = "CENTRALOPS_COGNITO_CLIENT_ID"
COGNITO_CLIENT_SECRET = "CENTRALOPS_COGNITO_CLIENT_SECRET"  # noqa: S105 - a variable name
COGNITO_JWKS_URL = "CENTRALOPS_COGNITO_JWKS_URL"
COGNITO_ISSUER = "CENTRALOPS_COGNITO_ISSUER"
COGNITO_DOMAIN_URL = "CENTRALOPS_COGNITO_DOMAIN_URL"
# Token exchange (RFC 8693): each hop's audience (a resource server identifier of the pool), and the
# confidential app clients that exchange tokens and act for the person (their client-credentials tokens).
RUNTIME_AUDIENCE = "CENTRALOPS_RUNTIME_AUDIENCE"
GATEWAY_AUDIENCE = "CENTRALOPS_GATEWAY_AUDIENCE"
BOT_CLIENT_ID = "CENTRALOPS_BOT_CLIENT_ID"
# Each service's client secret: the value itself (ECS injects the bot's from Secrets Manager), or the
# ARN of the Secrets Manager secret holding it, read once at start (the agent's: AgentCore Runtime has
# no secret injection). Each service may read only its own secret.
BOT_CLIENT_SECRET = "CENTRALOPS_BOT_CLIENT_SECRET"  # noqa: S105 - a variable name
BOT_CLIENT_SECRET_ARN = "CENTRALOPS_BOT_CLIENT_SECRET_ARN"  # noqa: S105 - a variable name
AGENT_CLIENT_ID = "CENTRALOPS_AGENT_CLIENT_ID"
AGENT_CLIENT_SECRET = "CENTRALOPS_AGENT_CLIENT_SECRET"  # noqa: S105 - a variable name
AGENT_CLIENT_SECRET_ARN = "CENTRALOPS_AGENT_CLIENT_SECRET_ARN"  # noqa: S105 - a variable name
COGNITO_EXCHANGE_URL = (
    "CENTRALOPS_COGNITO_EXCHANGE_URL"  # cognito-idp endpoint of GetDerivedToken; unset in AWS
)
GATEWAY_REQUIRED_ACTOR = "CENTRALOPS_GATEWAY_REQUIRED_ACTOR"  # act.sub the interceptor requires; unset: none

# DynamoDB tables
ACCOUNTS_TABLE = "CENTRALOPS_ACCOUNTS_TABLE"
IDENTITY_LINKS_TABLE = "CENTRALOPS_IDENTITY_LINKS_TABLE"
OAUTH_STATES_TABLE = "CENTRALOPS_OAUTH_STATES_TABLE"
APPROVALS_TABLE = "CENTRALOPS_APPROVALS_TABLE"
AUDIT_TABLE = "CENTRALOPS_AUDIT_TABLE"
IDEMPOTENCY_TABLE = "CENTRALOPS_IDEMPOTENCY_TABLE"
OUTBOX_TABLE = "CENTRALOPS_OUTBOX_TABLE"  # answers and approved runs kept until delivered
OUTBOX_LEASE_S = "CENTRALOPS_OUTBOX_LEASE_S"  # an answer no replica renewed this long is finished by another
MAX_ANSWERS = "CENTRALOPS_MAX_ANSWERS"  # answers one bot replica runs at once
MAX_QUEUED = "CENTRALOPS_MAX_QUEUED"  # answers one bot replica keeps waiting; more are refused at once
CHAT_RETRY_S = "CENTRALOPS_CHAT_RETRY_S"  # how long one chat write keeps trying before the outbox takes over
KMS_KEY_ID = "CENTRALOPS_KMS_KEY_ID"

# Agent
GATEWAY_URL = "CENTRALOPS_GATEWAY_URL"
MODEL_PROVIDER = "CENTRALOPS_MODEL_PROVIDER"
MODEL_ID = "CENTRALOPS_MODEL_ID"
MEMORY_TABLE = "CENTRALOPS_MEMORY_TABLE"  # conversation memory, one item per chat thread
AGENT_PORT = "CENTRALOPS_AGENT_PORT"
MODEL_REGION = "CENTRALOPS_MODEL_REGION"  # Bedrock region of the model; AWS_REGION when unset
MODEL_BASE_URL = "CENTRALOPS_MODEL_BASE_URL"  # OpenAI-compatible base URL or Ollama host
APPROVAL_PROD_FANOUT = "CENTRALOPS_APPROVAL_PROD_FANOUT"  # more production accounts than this need approval
APPROVAL_TTL_SECONDS = "CENTRALOPS_APPROVAL_TTL_SECONDS"  # how long a pending approval stays valid
FANOUT_CALLS = (
    "CENTRALOPS_FANOUT_CALLS"  # a read over many accounts is sent as at most this many bridge calls
)

# Bridge
AWS_MCP_URL = "CENTRALOPS_AWS_MCP_URL"
AWS_MCP_REGION = "CENTRALOPS_AWS_MCP_REGION"
TARGET_ROLE_NAME = "CENTRALOPS_TARGET_ROLE_NAME"
EXTERNAL_ID = "CENTRALOPS_EXTERNAL_ID"
LOCAL_ENDPOINT_URL = "CENTRALOPS_LOCAL_ENDPOINT_URL"
BRIDGE_MAX_CONCURRENCY = "CENTRALOPS_BRIDGE_MAX_CONCURRENCY"
BRIDGE_ACCOUNT_TIMEOUT_S = "CENTRALOPS_BRIDGE_ACCOUNT_TIMEOUT_S"
BRIDGE_CALL_TIMEOUT_S = "CENTRALOPS_BRIDGE_CALL_TIMEOUT_S"
BRIDGE_MAX_OUTPUT_CHARS = "CENTRALOPS_BRIDGE_MAX_OUTPUT_CHARS"
BRIDGE_MAX_COMMAND_CHARS = "CENTRALOPS_BRIDGE_MAX_COMMAND_CHARS"
BRIDGE_MCP_RETRIES = "CENTRALOPS_BRIDGE_MCP_RETRIES"
BRIDGE_REGISTRY_TTL_S = "CENTRALOPS_BRIDGE_REGISTRY_TTL_S"
BRIDGE_MAX_SESSIONS = (
    "CENTRALOPS_BRIDGE_MAX_SESSIONS"  # AWS MCP sessions kept open (no socket each: connections are pooled)
)
BRIDGE_TOTAL_BUDGET_S = "CENTRALOPS_BRIDGE_TOTAL_BUDGET_S"  # the whole fan-out's time budget
BRIDGE_MAX_RESPONSE_BYTES = (
    "CENTRALOPS_BRIDGE_MAX_RESPONSE_BYTES"  # larger responses go to the results bucket
)
RESULTS_BUCKET = "CENTRALOPS_RESULTS_BUCKET"  # full fan-out results (bridge writes, bot reads), with expiry

# Bot
RUNTIME_URL = "CENTRALOPS_RUNTIME_URL"
PUBLIC_URL = "CENTRALOPS_PUBLIC_URL"
BOT_PORT = "CENTRALOPS_BOT_PORT"
SLACK_BOT_TOKEN = "SLACK_BOT_TOKEN"  # noqa: S105 - a variable name
SLACK_SIGNING_SECRET = "SLACK_SIGNING_SECRET"  # noqa: S105 - a variable name
SLACK_APP_TOKEN = "SLACK_APP_TOKEN"  # noqa: S105 - a variable name
SLACK_API_URL = "CENTRALOPS_SLACK_API_URL"
APPROVER_GROUP = "CENTRALOPS_APPROVER_GROUP"
BOT_HOST = "CENTRALOPS_BOT_HOST"
SLACK_STREAMING = "CENTRALOPS_SLACK_STREAMING"  # "false" forces the chat.update fallback
RUNTIME_TIMEOUT_S = "CENTRALOPS_RUNTIME_TIMEOUT_S"
STOP_AFTER_S = "CENTRALOPS_STOP_AFTER_S"  # how long an answer runs before it offers Stop
REQUIRE_EMAIL_MATCH = "CENTRALOPS_REQUIRE_EMAIL_MATCH"  # "false": link without comparing emails
TEAMS_APP_ID = "CENTRALOPS_TEAMS_APP_ID"  # the Azure Bot's Microsoft App ID; unset leaves Teams disabled
TEAMS_APP_PASSWORD = "CENTRALOPS_TEAMS_APP_PASSWORD"  # noqa: S105 - a variable name (the app's client secret)
TEAMS_TENANT_ID = "CENTRALOPS_TEAMS_TENANT_ID"  # the app registration's Entra tenant (single-tenant bots)
TEAMS_ANONYMOUS = "CENTRALOPS_TEAMS_ANONYMOUS"  # "true" accepts unsigned activities: local stack only
TEAMS_UPDATE_INTERVAL_S = "CENTRALOPS_TEAMS_UPDATE_INTERVAL_S"  # shortest gap between channel message updates

# Alerts (events from member accounts, through the central bus and its queue)
ALERTS_QUEUE_URL = "CENTRALOPS_ALERTS_QUEUE_URL"  # unset: the bot consumes no events
ALERTS_DEAD_LETTER_URL = "CENTRALOPS_ALERTS_DEAD_LETTER_URL"
ALERTS_TABLE = "CENTRALOPS_ALERTS_TABLE"
ALERTS_ADMIN_GROUP = "CENTRALOPS_ALERTS_ADMIN_GROUP"  # may change a channel's subscriptions
ALERTS_PER_MINUTE = (
    "CENTRALOPS_ALERTS_PER_MINUTE"  # new alert messages per channel and minute; more are grouped
)
ALERTS_WAIT_S = "CENTRALOPS_ALERTS_WAIT_S"  # SQS long-poll wait

# Logging
LOG_FORMAT = "CENTRALOPS_LOG_FORMAT"  # "json" (default) or "text"
LOG_LEVEL = "CENTRALOPS_LOG_LEVEL"
TRACE_FILE = "CENTRALOPS_TRACE_FILE"  # local stack: append every span to this JSON-lines file
OTLP_TRACES_ENDPOINT = (
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"  # OpenTelemetry's own name: where spans go as OTLP/HTTP
)
# Set by AWS Lambda in every function's environment; its presence means "running in Lambda".
LAMBDA_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"


def env_str(name: str, default: str | None = None, *, environ: Mapping[str, str] | None = None) -> str:
    """Read a string setting.

    Args:
        name: The environment variable.
        default: Used when the variable is unset or empty; ``None`` makes it required.
        environ: Where to read from (``os.environ`` when omitted).

    Raises:
        ConfigurationError: The variable is required and missing.
    """
    value = (os.environ if environ is None else environ).get(name, "")
    if value:
        return value
    if default is None:
        raise ConfigurationError(f"Set the environment variable {name}: CentralOps cannot start without it.")
    return default


def env_opt(name: str, *, environ: Mapping[str, str] | None = None) -> str | None:
    """Read an optional string setting; ``None`` when unset or empty."""
    return (os.environ if environ is None else environ).get(name) or None


def env_int(name: str, default: int, *, environ: Mapping[str, str] | None = None) -> int:
    """Read an integer setting.

    Raises:
        ConfigurationError: The value is not an integer.
    """
    raw = env_str(name, str(default), environ=environ)
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, not {raw!r}.") from None


def env_float(name: str, default: float, *, environ: Mapping[str, str] | None = None) -> float:
    """Read a float setting.

    Raises:
        ConfigurationError: The value is not a number.
    """
    raw = env_str(name, str(default), environ=environ)
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {raw!r}.") from None


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    """Read a boolean setting (1/true/yes/on versus 0/false/no/off)."""
    raw = env_str(name, "true" if default else "false", environ=environ).strip().lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name} must be true or false, not {raw!r}.")


@dataclasses.dataclass(frozen=True)
class Setting:
    """How one settings field is read: its variable, reader and default (``None``: required)."""

    env: str
    reader: Callable[..., Any]
    default: Any
    transform: Callable[[Any], Any] | None = None


SETTING = "centralops.setting"
DERIVED = "centralops.derived"
FIXED = "centralops.fixed"


def setting(
    env: str,
    default: Any = None,
    reader: Callable[..., Any] = env_str,
    *,
    required: bool | None = None,
    transform: Callable[[Any], Any] | None = None,
    repr: bool = True,
) -> Any:
    """A settings field read from ``env``: the one place its variable and default are written.

    Args:
        env: The environment variable.
        default: The value when the variable is unset or empty; also the field's own default.
            ``None`` with :func:`env_str` makes the variable required (no field default).
        reader: :func:`env_str`, :func:`env_int`, :func:`env_float`, :func:`env_bool` or :func:`env_opt`.
        required: ``True`` for a variable :func:`from_env` requires although the field defaults to
            ``None`` (built in code without it, e.g. in tests).
        transform: Applied to the value read (e.g. ``str.lower``).
        repr: Whether the field shows in ``repr`` (``False`` for secrets).
    """
    meta = {SETTING: Setting(env, reader, None if required else default, transform)}
    if reader is env_opt or required:
        return dataclasses.field(default=None, metadata=meta, repr=repr)
    if default is None:
        return dataclasses.field(metadata=meta, repr=repr)
    return dataclasses.field(default=default, metadata=meta, repr=repr)


def derived(default: Any = dataclasses.MISSING, *, repr: bool = True) -> Any:
    """A settings field computed from other settings; its class passes it to :func:`from_env`."""
    return dataclasses.field(default=default, metadata={DERIVED: True}, repr=repr)


def fixed(default: Any) -> Any:
    """A settings field no variable sets: its default, written here, is its one declaration."""
    return dataclasses.field(default=default, metadata={FIXED: True})


def read(cls: type, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The value of every :func:`setting` field of ``cls``, read in field order.

    Raises:
        ConfigurationError: A required variable is missing or a value is malformed (naming the variable).
    """
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        spec: Setting | None = f.metadata.get(SETTING)
        if spec is None:
            continue
        if spec.reader is env_opt:
            value = env_opt(spec.env, environ=environ)
        else:
            value = spec.reader(spec.env, spec.default, environ=environ)
        values[f.name] = spec.transform(value) if spec.transform and value is not None else value
    return values


def from_env[T](cls: type[T], environ: Mapping[str, str] | None = None, **derived_values: Any) -> T:
    """Build the settings dataclass ``cls`` from the environment and its derived values.

    Raises:
        ConfigurationError: A required variable is missing or a value is malformed (naming the variable).
    """
    return cls(**read(cls, environ), **derived_values)
