"""The gateway stack: AgentCore Gateway, Cognito JWT inbound auth, the bridge as Lambda target."""

import json
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_bedrockagentcore as agentcore
from constructs import Construct

from centralops.errors import ConfigurationError
from infra.stacks.bridge import BridgeStack
from infra.stacks.cognito import CognitoStack
from infra.stacks.config import DeploymentConfig

TARGET_NAME = "bridge-lambda"
TOOL_SCHEMA_PATH = Path(__file__).resolve().parents[2] / "bridge" / "tool_schema.json"


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
        )
        self.target = self.gateway.add_lambda_target(
            "BridgeTarget",
            gateway_target_name=TARGET_NAME,
            description="The CentralOps bridge Lambda",
            lambda_function=bridge.function,
            tool_schema=agentcore.ToolSchema.from_inline(load_tool_definitions()),
        )
        url = self.gateway.gateway_url
        if url is None:
            raise ConfigurationError("The Gateway construct did not expose its URL; upgrade aws-cdk-lib.")
        self.gateway_url = url

        CfnOutput(self, "GatewayUrl", value=self.gateway_url)
        CfnOutput(self, "GatewayId", value=self.gateway.gateway_id)
        CfnOutput(self, "GatewayTargetName", value=TARGET_NAME)
