"""The bridge's settings, read once from the environment."""

from collections.abc import Mapping
from dataclasses import dataclass

from centralops import settings
from centralops.errors import ConfigurationError
from centralops.settings import env_float, env_int, env_opt, from_env, setting

DEFAULT_AWS_MCP_URL = "https://aws-mcp.us-east-1.api.aws/mcp"
DEFAULT_ROLE_NAME = "CentralOpsTargetRole"


@dataclass(frozen=True)
class BridgeConfig:
    """Everything the bridge needs to know about where it runs.

    Attributes:
        region: The bridge's own region (STS, DynamoDB) and the default command region.
        endpoint_url: Endpoint override for the bridge's own AWS clients (the local stack's moto).
        aws_mcp_url: The AWS MCP Server's streamable-HTTP endpoint.
        aws_mcp_region: The region the AWS MCP Server's SigV4 scope names.
        local_endpoint_url: The one ``--endpoint-url`` a command may carry (local stack only).
        accounts_table: The account registry table.
        approvals_table: The approvals table.
        audit_table: The audit table.
        default_role_name: The read-only role assumed when the registry entry names none.
        external_id: ExternalId used when the registry entry names none.
        max_concurrency: How many accounts ``query_accounts`` works on at once. Each account gets one
            request, signed as that account, so the AWS MCP Server's quotas (per account and Region) do
            not bound it; it bounds the function's open sockets and results in memory.
        account_timeout_s: Budget for one account (credentials plus the AWS MCP call).
        call_timeout_s: Budget for one AWS MCP Server request.
        max_output_chars: Results longer than this are cut with a truncation marker.
        max_command_chars: Longer commands are refused.
        mcp_retries: Retries of an AWS MCP Server request answered 429 or 5xx.
        registry_ttl_s: How long a registry entry is cached.
        max_sessions: AWS MCP sessions kept open (a session is an id and a signer, no socket: connections
            are pooled apart, at most 256 idle).
        total_budget_s: Budget of a whole ``query_accounts`` call; accounts not done by then are reported.
        max_response_bytes: A response larger than this keeps a summary per account and puts the full
            results in ``results_bucket``.
        results_bucket: The central bucket for full results (with lifecycle expiry); none when ``None``.
    """

    region: str = setting(settings.AWS_REGION, "us-east-1")
    endpoint_url: str | None = setting(settings.AWS_ENDPOINT_URL, reader=env_opt)
    aws_mcp_url: str = setting(settings.AWS_MCP_URL, DEFAULT_AWS_MCP_URL)
    aws_mcp_region: str = setting(settings.AWS_MCP_REGION, "us-east-1")
    local_endpoint_url: str | None = setting(settings.LOCAL_ENDPOINT_URL, reader=env_opt)
    accounts_table: str = setting(settings.ACCOUNTS_TABLE, "centralops-accounts")
    approvals_table: str = setting(settings.APPROVALS_TABLE, "centralops-approvals")
    audit_table: str = setting(settings.AUDIT_TABLE, "centralops-audit")
    default_role_name: str = setting(settings.TARGET_ROLE_NAME, DEFAULT_ROLE_NAME)
    external_id: str | None = setting(settings.EXTERNAL_ID, reader=env_opt)
    max_concurrency: int = setting(settings.BRIDGE_MAX_CONCURRENCY, 64, env_int)
    account_timeout_s: float = setting(settings.BRIDGE_ACCOUNT_TIMEOUT_S, 30.0, env_float)
    call_timeout_s: float = setting(settings.BRIDGE_CALL_TIMEOUT_S, 25.0, env_float)
    max_output_chars: int = setting(settings.BRIDGE_MAX_OUTPUT_CHARS, 60_000, env_int)
    max_command_chars: int = setting(settings.BRIDGE_MAX_COMMAND_CHARS, 2_048, env_int)
    mcp_retries: int = setting(settings.BRIDGE_MCP_RETRIES, 3, env_int)
    registry_ttl_s: float = setting(settings.BRIDGE_REGISTRY_TTL_S, 60.0, env_float)
    max_sessions: int = setting(settings.BRIDGE_MAX_SESSIONS, 1_024, env_int)
    total_budget_s: float = setting(settings.BRIDGE_TOTAL_BUDGET_S, 240.0, env_float)
    max_response_bytes: int = setting(settings.BRIDGE_MAX_RESPONSE_BYTES, 4_000_000, env_int)
    results_bucket: str | None = setting(settings.RESULTS_BUCKET, reader=env_opt)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "BridgeConfig":
        """Build the settings from the environment (``os.environ`` when omitted).

        Raises:
            ConfigurationError: A value is malformed.
        """
        config = from_env(cls, environ)
        if config.max_concurrency < 1:
            raise ConfigurationError(f"{settings.BRIDGE_MAX_CONCURRENCY} must be at least 1.")
        if config.max_response_bytes < 100_000:
            raise ConfigurationError(f"{settings.BRIDGE_MAX_RESPONSE_BYTES} must be at least 100000.")
        if config.total_budget_s <= 0 or config.account_timeout_s <= 0:
            raise ConfigurationError(
                f"{settings.BRIDGE_TOTAL_BUDGET_S} and {settings.BRIDGE_ACCOUNT_TIMEOUT_S} must be positive."
            )
        return config
