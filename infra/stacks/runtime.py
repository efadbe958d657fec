"""The runtime stack: the agent on AgentCore Runtime, behind the Cognito JWT authorizer."""

from typing import Any

from aws_cdk import CfnOutput, Duration, Fn, Stack, Token
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_iam as iam
from constructs import Construct

from centralops import settings
from infra import tables
from infra.stacks.cognito import CognitoStack
from infra.stacks.config import DeploymentConfig, profile_geography
from infra.stacks.findings import acknowledge
from infra.stacks.gateway import GatewayStack
from infra.stacks.images import ImagesStack
from infra.stacks.registry import CMK_READ_WRITE, RegistryStack


def foundation_model_id(model_id: str) -> str:
    """The foundation model behind a cross-region inference profile id (``us.anthropic...`` -> ``anthropic...``)."""
    geography = profile_geography(model_id)
    return model_id[len(geography) + 1 :] if geography else model_id


def invocation_url(region: str, runtime_arn: str) -> str:
    """The Runtime's ``/invocations`` URL, with the ARN URL-quoted by CloudFormation functions."""
    quoted = Fn.join("%2F", Fn.split("/", Fn.join("%3A", Fn.split(":", runtime_arn))))
    return f"https://bedrock-agentcore.{region}.amazonaws.com/runtimes/{quoted}/invocations?qualifier=DEFAULT"


class RuntimeStack(Stack):
    """The agent container on AgentCore Runtime.

    Attributes:
        runtime: The Runtime; inbound auth is the Cognito JWT authorizer.
        invocation_url: What the bot POSTs to (``.../invocations?qualifier=DEFAULT``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        registry: RegistryStack,
        cognito: CognitoStack,
        gateway: GatewayStack,
        images: ImagesStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        accounts = registry.table(tables.ACCOUNTS)
        approvals = registry.table(tables.APPROVALS)
        memory = registry.table(tables.MEMORY)

        self.role = iam.Role(
            self,
            "Role",
            role_name=f"{config.prefix}-agent",
            assumed_by=iam.ServicePrincipal(
                "bedrock-agentcore.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": self.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{self.partition}:bedrock-agentcore:{self.region}:{self.account}:*"
                    },
                },
            ),
            description="CentralOps agent on AgentCore Runtime",
        )
        model = foundation_model_id(config.model_id)
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="InvokeConfiguredModel",
                actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                resources=[
                    # A cross-region inference profile routes to the model in any of its regions.
                    f"arn:{self.partition}:bedrock:*::foundation-model/{model}",
                    f"arn:{self.partition}:bedrock:{self.region}:{self.account}:inference-profile/{config.model_id}",
                ],
            )
        )
        registry.grant_table(self.role, tables.ACCOUNTS, "dynamodb:Scan")
        registry.grant_table(
            self.role, tables.APPROVALS, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"
        )  # UpdateItem: an approved run's result, kept on its item
        # Conversation memory: one item per thread, read once and written once per turn (agent/memory.py).
        registry.grant_table(
            self.role, tables.MEMORY, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"
        )
        registry.grant_key(self.role, *CMK_READ_WRITE)
        cognito.grant_token_exchange(self.role)
        cognito.agent_service_secret.grant_read(self.role)  # its own client secret, and no other

        self.runtime = agentcore.Runtime(
            self,
            "Runtime",
            runtime_name=f"{config.prefix.replace('-', '_')}_agent",
            description="CentralOps agent: answers questions about the organisation's AWS accounts",
            agent_runtime_artifact=agentcore.AgentRuntimeArtifact.from_ecr_repository(
                images.agent, config.agent_image_tag
            ),
            execution_role=self.role,
            # Only tokens the bot exchanged for the Runtime's audience (the agent also checks act = the bot).
            authorizer_configuration=agentcore.RuntimeAuthorizerConfiguration.using_jwt(
                cognito.discovery_url,
                allowed_audience=[cognito.runtime_audience],
            ),
            # AgentCore drops Authorization unless allow-listed; the agent verifies the token itself too.
            request_header_configuration=agentcore.RequestHeaderConfiguration(
                allowlisted_headers=["Authorization"]
            ),
            environment_variables={
                # The registry, approvals and memory live in this region, whatever the container assumes.
                settings.AWS_REGION: self.region,
                settings.GATEWAY_URL: gateway.gateway_url,
                settings.ACCOUNTS_TABLE: accounts.table_name,
                settings.APPROVALS_TABLE: approvals.table_name,
                settings.MEMORY_TABLE: memory.table_name,
                settings.MODEL_PROVIDER: "bedrock",
                settings.MODEL_ID: config.model_id,
                settings.MODEL_REGION: self.region,
                settings.COGNITO_USER_POOL_ID: cognito.user_pool.user_pool_id,
                settings.COGNITO_CLIENT_ID: cognito.client.user_pool_client_id,
                settings.COGNITO_ISSUER: cognito.issuer,
                settings.COGNITO_JWKS_URL: cognito.jwks_url,
                settings.COGNITO_DOMAIN_URL: cognito.domain_url,
                settings.RUNTIME_AUDIENCE: cognito.runtime_audience,
                settings.BOT_CLIENT_ID: cognito.bot_service_client.user_pool_client_id,
                settings.GATEWAY_AUDIENCE: cognito.gateway_audience,
                settings.AGENT_CLIENT_ID: cognito.agent_service_client.user_pool_client_id,
                settings.AGENT_CLIENT_SECRET_ARN: cognito.agent_service_secret.secret_arn,
                settings.APPROVER_GROUP: config.approver_group,
                settings.KMS_KEY_ID: registry.key.key_arn,
                settings.LOG_FORMAT: "json",
            },
            lifecycle_configuration=agentcore.LifecycleConfiguration(
                idle_runtime_session_timeout=Duration.minutes(15), max_lifetime=Duration.hours(8)
            ),
        )
        images.agent.grant_pull(self.role)
        self._acknowledge_wildcards(model)
        self.invocation_url = invocation_url(self.region, self.runtime.agent_runtime_arn)

        CfnOutput(self, "RuntimeArn", value=self.runtime.agent_runtime_arn)
        CfnOutput(self, "RuntimeId", value=self.runtime.agent_runtime_id)
        CfnOutput(self, "InvocationUrl", value=self.invocation_url)

    def _acknowledge_wildcards(self, model: str) -> None:
        # cdk-nag names each wildcard finding by the statement's resource as rendered in the template.
        region = "<AWS::Region>" if Token.is_unresolved(self.region) else self.region
        account = "<AWS::AccountId>" if Token.is_unresolved(self.account) else self.account
        logs = f"arn:<AWS::Partition>:logs:{region}:{account}:log-group:"
        for finding, reason in [
            (
                "Resource::*",
                "X-Ray, CloudWatch PutMetricData (limited to the bedrock-agentcore namespace) and "
                "ecr:GetAuthorizationToken have no resource-level permissions.",
            ),
            (
                f"Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/{model}",
                "A cross-region inference profile serves the model from any region of its geography.",
            ),
            (
                f"Resource::{logs}/aws/bedrock-agentcore/runtimes/*",
                "AgentCore names the Runtime's log group after the runtime id, known only once created.",
            ),
            (
                f"Resource::{logs}/aws/bedrock-agentcore/runtimes/*:log-stream:*",
                "AgentCore names the Runtime's log group and streams itself.",
            ),
            (f"Resource::{logs}*", "logs:DescribeLogGroups has no resource-level permissions."),
            (
                f"Resource::arn:<AWS::Partition>:bedrock-agentcore:{region}:{account}:"
                "workload-identity-directory/default/workload-identity/*",
                "AgentCore creates the Runtime's workload identity, whose name is known only once created.",
            ),
        ]:
            acknowledge(self.role, f"AwsSolutions-IAM5[{finding}]", reason)
