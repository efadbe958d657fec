"""The gateway stack: AgentCore Gateway, Cognito JWT inbound auth, the REQUEST interceptor, the bridge target.

The interceptor is a second handler of the bridge's deployable
(``bridge.interceptor.handler``, the same code asset): the code that writes the
verified caller and the code that reads it ship and version together. It runs
as its own function, with a role that may only write its logs, so verifying
tokens never holds the bridge's power to enter member accounts.
"""

import json
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from centralops import settings
from centralops.errors import ConfigurationError
from infra.stacks.bridge import BridgeStack
from infra.stacks.cognito import CognitoStack
from infra.stacks.config import DeploymentConfig
from infra.stacks.findings import accept, acknowledge
from infra.stacks.packaging import bridge_code

TARGET_NAME = "bridge-lambda"
TOOL_SCHEMA_PATH = Path(__file__).resolve().parents[2] / "bridge" / "tool_schema.json"
INTERCEPTOR_HANDLER = "bridge.interceptor.handler"


def schema_definition(schema: dict[str, Any]) -> agentcore.SchemaDefinition:
    """Turn one JSON-Schema node of the tool schema file into the construct's ``SchemaDefinition``."""
    properties = schema.get("properties")
    items = schema.get("items")
    return agentcore.SchemaDefinition(
        type=agentcore.SchemaDefinitionType.of(schema["type"]),
        description=schema.get("description"),
        properties={name: schema_definition(node) for name, node in properties.items()}
        if properties
        else None,
        items=schema_definition(items) if items else None,
        required=schema.get("required"),
    )


def load_tool_definitions(path: Path = TOOL_SCHEMA_PATH) -> list[agentcore.ToolDefinition]:
    """The bridge's tools, from the same file the local Gateway serves.

    Raises:
        ConfigurationError: The file is missing or not a list of ``{name, description, inputSchema}``.
    """
    try:
        tools = json.loads(path.read_text())
        return [
            agentcore.ToolDefinition(
                name=tool["name"],
                description=tool["description"],
                input_schema=schema_definition(tool["inputSchema"]),
            )
            for tool in tools
        ]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigurationError(
            f"Cannot read the bridge's tool schema {path}: {e}. It must be a JSON list of "
            "{name, description, inputSchema} objects."
        ) from e


class GatewayStack(Stack):
    """The Gateway the agent reaches its tools through.

    Attributes:
        gateway: The MCP gateway; it accepts only access tokens exchanged for its own audience.
        gateway_url: The MCP endpoint (``.../mcp``).
        interceptor: The REQUEST interceptor Lambda that stamps the verified caller into tool calls.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        cognito: CognitoStack,
        bridge: BridgeStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.interceptor = self._interceptor(config, cognito, bridge)
        self.gateway = agentcore.Gateway(
            self,
            "Gateway",
            gateway_name=f"{config.prefix}-gateway",
            description="CentralOps tools: AWS CLI commands in member accounts through the bridge",
            protocol_configuration=agentcore.McpProtocolConfiguration(
                instructions="Run read-only AWS CLI commands in the organisation's member accounts.",
                supported_versions=[
                    agentcore.MCPProtocolVersion.MCP_2025_03_26,
                    agentcore.MCPProtocolVersion.MCP_2025_06_18,
                ],
            ),
            # Only tokens the agent exchanged for the Gateway's audience; the interceptor checks act = the agent.
            authorizer_configuration=agentcore.GatewayAuthorizer.using_custom_jwt(
                discovery_url=cognito.discovery_url,
                allowed_audience=[cognito.gateway_audience],
            ),
            # Every request passes the interceptor with its headers: it re-verifies the bearer token and
            # stamps the caller; the bridge believes nothing else about who asks.
            interceptor_configurations=[
                agentcore.LambdaInterceptor.for_request(self.interceptor, pass_request_headers=True)
            ],
        )
        self.target = self.gateway.add_lambda_target(
            "BridgeTarget",
            gateway_target_name=TARGET_NAME,
            description="The CentralOps bridge Lambda",
            lambda_function=bridge.function,
            tool_schema=agentcore.ToolSchema.from_inline(load_tool_definitions()),
        )
        # cdk-nag names the finding by the export this stack imports the bridge's ARN from.
        bridge_arn = self.resolve(bridge.export_value(bridge.function.function_arn))["Fn::ImportValue"]
        acknowledge(
            self.gateway,
            f"AwsSolutions-IAM5[Resource::{bridge_arn}:*]",
            "The Gateway's role may invoke the bridge at any version (`<function arn>:*`), as CDK grants it.",
        )
        acknowledge(
            self.gateway,
            f"AwsSolutions-IAM5[Resource::<{self.get_logical_id(self.interceptor.node.default_child)}.Arn>:*]",  # type: ignore[arg-type]
            "The Gateway's role may invoke its interceptor at any version (`<function arn>:*`), as CDK grants it.",
        )
        url = self.gateway.gateway_url
        if url is None:
            raise ConfigurationError("The Gateway construct did not expose its URL; upgrade aws-cdk-lib.")
        self.gateway_url = url

        CfnOutput(self, "GatewayUrl", value=self.gateway_url)
        CfnOutput(self, "GatewayId", value=self.gateway.gateway_id)
        CfnOutput(self, "GatewayTargetName", value=TARGET_NAME)
        CfnOutput(self, "InterceptorFunctionName", value=self.interceptor.function_name)

    def _interceptor(
        self, config: DeploymentConfig, cognito: CognitoStack, bridge: BridgeStack
    ) -> lambda_.Function:
        role = iam.Role(
            self,
            "InterceptorRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="CentralOps Gateway interceptor: verifies tokens; may only write its own logs",
        )
        log_group = logs.LogGroup(
            self,
            "InterceptorLogs",
            log_group_name=f"/aws/lambda/{config.prefix}-gateway-interceptor",
            retention=logs.RetentionDays.THREE_MONTHS,
            encryption_key=bridge.key,
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        )
        bridge.key.grant_decrypt(role)  # its environment is encrypted with the CMK
        function = lambda_.Function(
            self,
            "Interceptor",
            function_name=f"{config.prefix}-gateway-interceptor",
            description="CentralOps Gateway REQUEST interceptor: stamps the verified caller into every tool call",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            handler=INTERCEPTOR_HANDLER,
            code=bridge_code(),
            role=role,
            timeout=Duration.seconds(10),
            memory_size=512,
            environment={
                settings.COGNITO_USER_POOL_ID: cognito.user_pool.user_pool_id,
                settings.GATEWAY_AUDIENCE: cognito.gateway_audience,
                settings.GATEWAY_REQUIRED_ACTOR: cognito.agent_service_client.user_pool_client_id,
                settings.COGNITO_ISSUER: cognito.issuer,
                settings.LOG_FORMAT: "json",
            },
            environment_encryption=bridge.key,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray's PutTraceSegments and PutTelemetryRecords (active tracing) have no resource-level permissions.",
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "Python 3.12 on purpose: it runs the bridge's own code asset, built from ARM64 wheels for 3.12.",
        )
        accept(
            function,
            "CKV_AWS_116",
            "The Gateway invokes the interceptor synchronously and fails the request on error; a DLQ only serves "
            "async calls.",
        )
        accept(
            function,
            "CKV_AWS_117",
            "The interceptor reaches only the user pool's public JWKS endpoint; a VPC would add a NAT gateway "
            "and no isolation.",
        )
        accept(
            function,
            "CKV_AWS_115",
            "Its concurrency follows the Gateway's request rate; reserving it would cap every tool call.",
        )
        return function
