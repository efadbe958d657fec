"""Deployment settings of the CDK app, read once from CDK context.

Every knob a platform team turns lives here, with its context key, so the
stacks never call ``try_get_context`` themselves. Pass values on the command
line (``cdk deploy -c memberAccountIds=222222222222,333333333333``) or put them
in ``infra/cdk.json`` under ``"context"``.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from centralops.errors import ConfigurationError

TARGET_ROLE_NAME = "CentralOpsTargetRole"
WRITE_ROLE_NAME = "CentralOpsWriteRole"
DEFAULT_MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
DEFAULT_MODEL_ID = f"us.{DEFAULT_MODEL}"
# Cross-region inference profiles by geography: the regions each one can be called from.
PROFILE_GEOGRAPHIES: dict[str, Callable[[str], bool]] = {
    "us": lambda region: region.startswith("us-") and not region.startswith("us-gov-"),
    "us-gov": lambda region: region.startswith("us-gov-"),
    "eu": lambda region: region.startswith("eu-"),
    "jp": lambda region: region in {"ap-northeast-1", "ap-northeast-3"},
    "au": lambda region: region in {"ap-southeast-2", "ap-southeast-4"},
    "apac": lambda region: region.startswith("ap-"),
    "global": lambda region: True,
}
# The default model's profile in each geography that offers one.
_DEFAULT_GEOGRAPHIES = ("us-gov", "us", "eu", "jp", "au")
DEFAULT_AWS_MCP_URL = "https://aws-mcp.us-east-1.api.aws/mcp"
DEFAULT_PREFIX = "centralops"
DEFAULT_APPROVER_GROUP = "centralops-approvers"
DEFAULT_USER_GROUP = "centralops-users"
DEFAULT_DOMAIN = "centralops.example.com"

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_PREFIX = re.compile(r"^[a-z][a-z0-9-]{1,20}$")
_CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[\w-]+$")
_ORG_ID = re.compile(r"^o-[a-z0-9]{10,32}$")


def profile_geography(model_id: str) -> str | None:
    """``eu`` for ``eu.anthropic...``; ``None`` for a model id that is not an inference profile."""
    head = model_id.split(".", 1)[0]
    return head if head in PROFILE_GEOGRAPHIES and "." in model_id else None


def default_model_id(region: str | None) -> str:
    """Claude Sonnet 4.5 through the inference profile of ``region``'s geography.

    Raises:
        ConfigurationError: No geography profile serves ``region``; the message says how to choose.
    """
    if region is None:
        # Region-agnostic synthesis (no region anywhere): the documented default. `cdk deploy`
        # always knows its region, and then this picks by it.
        return DEFAULT_MODEL_ID
    for geography in _DEFAULT_GEOGRAPHIES:
        if PROFILE_GEOGRAPHIES[geography](region):
            return f"{geography}.{DEFAULT_MODEL}"
    raise ConfigurationError(
        f"No regional inference profile of {DEFAULT_MODEL} is known for {region}. Pass "
        f"-c modelId=global.{DEFAULT_MODEL} (requests may be served in any commercial region), or a "
        f"model your region offers: aws bedrock list-inference-profiles --region {region}"
    )


def _certificate_region(arn: str) -> str:
    match = _CERTIFICATE_ARN.match(arn)
    if not match:
        raise ConfigurationError(
            f"certificateArn={arn!r} is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)."
        )
    return match.group(1)


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return [str(item).strip() for item in value if str(item).strip()]


def _as_bool(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"Context value {value!r} must be true or false.")


def _as_int(key: str, value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"Context {key} must be an integer, not {value!r}.") from None


@dataclass(frozen=True)
class DeploymentConfig:
    """What one CentralOps deployment looks like.

    Attributes:
        prefix: Prefix of every physical name (tables, roles, repositories).
        account: The central account (``CDK_DEFAULT_ACCOUNT`` when unset).
        region: The central region (``CDK_DEFAULT_REGION``, else the certificate's region, when unset).
        member_account_ids: Member accounts the bridge may assume roles in.
        org_id: AWS Organizations id; adds ``aws:PrincipalOrgID`` / ``aws:ResourceOrgID`` conditions.
        model_id: Bedrock model (or inference profile) id the agent uses; by default Claude Sonnet 4.5
            through the inference profile of the region's geography (``eu.`` in ``eu-west-1``).
        approver_group: Cognito group whose members may approve mutating commands.
        user_group: Cognito group for people allowed to use CentralOps at all.
        domain_name: Public DNS name of the bot (the ALB), e.g. ``centralops.example.com``.
        certificate_arn: ACM certificate for ``domain_name`` in ``region``.
        external_id: Optional ``sts:ExternalId`` required by the member roles.
        enable_write_roles: Whether the bridge may assume ``CentralOpsWriteRole`` after approval.
        agent_image_tag: Tag of the agent image in its ECR repository.
        bot_image_tag: Tag of the bot image in its ECR repository.
        cognito_domain_prefix: Prefix of the Cognito hosted-UI domain (globally unique per region).
        aws_mcp_url: Endpoint of the AWS MCP Server.
        aws_mcp_region: The region the AWS MCP Server signs requests for.
        bot_min_tasks: Minimum number of bot tasks.
        bot_max_tasks: Maximum number of bot tasks.
        bridge_concurrency: Reserved concurrency of the bridge Lambda (0: none reserved).
        central_account_id: For the member stack: the account hosting the bridge.
    """

    prefix: str = DEFAULT_PREFIX
    account: str | None = None
    region: str | None = None
    member_account_ids: tuple[str, ...] = ()
    org_id: str | None = None
    model_id: str = DEFAULT_MODEL_ID
    approver_group: str = DEFAULT_APPROVER_GROUP
    user_group: str = DEFAULT_USER_GROUP
    domain_name: str = DEFAULT_DOMAIN
    certificate_arn: str | None = None
    external_id: str | None = None
    enable_write_roles: bool = False
    agent_image_tag: str = "latest"
    bot_image_tag: str = "latest"
    cognito_domain_prefix: str | None = None
    aws_mcp_url: str = DEFAULT_AWS_MCP_URL
    bot_min_tasks: int = 2
    bot_max_tasks: int = 6
    bridge_concurrency: int = 0
    aws_mcp_region: str = "us-east-1"
    central_account_id: str | None = None

    def __post_init__(self) -> None:
        if not _PREFIX.match(self.prefix):
            raise ConfigurationError(
                f"Context prefix={self.prefix!r} must be 2-21 lowercase letters, digits or hyphens, "
                "starting with a letter."
            )
        for account_id in self.member_account_ids:
            if not _ACCOUNT_ID.match(account_id):
                raise ConfigurationError(
                    f"memberAccountIds contains {account_id!r}, which is not a 12-digit AWS account id."
                )
        if self.org_id is not None and not _ORG_ID.match(self.org_id):
            raise ConfigurationError(f"orgId={self.org_id!r} is not an AWS Organizations id (o-xxxxxxxxxx).")
        if self.central_account_id is not None and not _ACCOUNT_ID.match(self.central_account_id):
            raise ConfigurationError(
                f"centralAccountId={self.central_account_id!r} is not a 12-digit AWS account id."
            )
        geography = profile_geography(self.model_id)
        if self.region and geography and not PROFILE_GEOGRAPHIES[geography](self.region):
            raise ConfigurationError(
                f"modelId={self.model_id!r} is a {geography!r} inference profile, which cannot be called "
                f"from {self.region}. Leave modelId unset to use the profile of {self.region}'s geography, "
                f"or pick one listed by: aws bedrock list-inference-profiles --region {self.region}"
            )
        if self.bot_min_tasks < 1 or self.bot_max_tasks < self.bot_min_tasks:
            raise ConfigurationError("botMinTasks must be at least 1 and botMaxTasks at least botMinTasks.")

    @property
    def hosted_ui_prefix(self) -> str:
        """The Cognito domain prefix: explicit, else ``<prefix>-<account>`` to stay unique."""
        if self.cognito_domain_prefix:
            return self.cognito_domain_prefix
        return f"{self.prefix}-{self.account}" if self.account else self.prefix

    @property
    def bot_url(self) -> str:
        """The public base URL of the bot."""
        return f"https://{self.domain_name}"

    @property
    def bridge_role_name(self) -> str:
        """The fixed name of the bridge role, which member-account trust policies name."""
        return f"{self.prefix}-bridge"

    @classmethod
    def from_context(
        cls, get: Callable[[str], Any], env: dict[str, str | None] | None = None
    ) -> "DeploymentConfig":
        """Build the configuration from CDK context.

        Args:
            get: ``app.node.try_get_context``.
            env: Fallbacks for account and region (``CDK_DEFAULT_ACCOUNT`` / ``CDK_DEFAULT_REGION``).

        Raises:
            ConfigurationError: A context value is malformed; the message names the key.
        """
        env = env or {}

        def text(key: str) -> str | None:
            value = get(key)
            return str(value) if value not in (None, "") else None

        certificate_arn = text("certificateArn")
        region = text("region") or env.get("region")
        if certificate_arn:
            certificate_region = _certificate_region(certificate_arn)
            if region and region != certificate_region:
                raise ConfigurationError(
                    f"certificateArn is in {certificate_region}, but the deployment is in {region}: the "
                    f"load balancer needs a certificate of its own region. Request one for the bot's "
                    f"domain in {region}."
                )
            # Without credentials or -c region, the certificate still says where the bot lives.
            region = certificate_region
        return cls(
            prefix=text("prefix") or DEFAULT_PREFIX,
            account=text("account") or env.get("account"),
            region=region,
            member_account_ids=tuple(_as_list(get("memberAccountIds"))),
            org_id=text("orgId"),
            model_id=text("modelId") or default_model_id(region),
            approver_group=text("approverGroup") or DEFAULT_APPROVER_GROUP,
            user_group=text("userGroup") or DEFAULT_USER_GROUP,
            domain_name=text("domainName") or DEFAULT_DOMAIN,
            certificate_arn=certificate_arn,
            external_id=text("externalId"),
            enable_write_roles=_as_bool(get("enableWriteRoles"), False),
            agent_image_tag=text("agentImageTag") or "latest",
            bot_image_tag=text("botImageTag") or "latest",
            cognito_domain_prefix=text("cognitoDomainPrefix"),
            aws_mcp_url=text("awsMcpUrl") or DEFAULT_AWS_MCP_URL,
            aws_mcp_region=text("awsMcpRegion") or "us-east-1",
            bot_min_tasks=_as_int("botMinTasks", get("botMinTasks"), 2),
            bot_max_tasks=_as_int("botMaxTasks", get("botMaxTasks"), 6),
            bridge_concurrency=_as_int("bridgeConcurrency", get("bridgeConcurrency"), 0),
            central_account_id=text("centralAccountId"),
        )
