"""The member-account stack: the roles the bridge assumes, as a template ready for a StackSet.

Everything account-specific is a CloudFormation parameter, and the template
needs no CDK bootstrap, so the same synthesised file deploys to one account
with ``cdk deploy`` or to a whole OU with a service-managed StackSet.
"""

from typing import Any

from aws_cdk import (
    BootstraplessSynthesizer,
    CfnCondition,
    CfnOutput,
    CfnParameter,
    Fn,
    Stack,
)
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.stacks.config import TARGET_ROLE_NAME, WRITE_ROLE_NAME, DeploymentConfig
from infra.stacks.findings import acknowledge

READ_ONLY_MCP_ACTIONS = ["aws-mcp:InvokeMcp", "aws-mcp:CallReadOnlyTool"]
WRITE_MCP_ACTIONS = [*READ_ONLY_MCP_ACTIONS, "aws-mcp:CallReadWriteTool"]


class MemberRoleStack(Stack):
    """``CentralOpsTargetRole`` (read-only) and, when enabled, ``CentralOpsWriteRole``.

    Parameters of the template: ``BridgeRoleArn`` (the only principal trusted),
    ``ExternalId`` and ``OrgId`` (optional conditions), ``EnableWriteRole`` and
    ``WritePolicyArn``.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeploymentConfig, **kwargs: Any
    ) -> None:
        kwargs.setdefault("synthesizer", BootstraplessSynthesizer())
        super().__init__(scope, construct_id, **kwargs)
        central = config.central_account_id or config.account
        bridge_role_arn = CfnParameter(
            self,
            "BridgeRoleArn",
            type="String",
            description="ARN of the CentralOps bridge role in the central account (output BridgeRoleArn)",
            allowed_pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$",
            default=f"arn:aws:iam::{central}:role/{config.bridge_role_name}" if central else None,
        )
        external_id = CfnParameter(
            self,
            "ExternalId",
            type="String",
            # Never the configured value as default: NoEcho hides a parameter's value, not its default,
            # which anyone reading the template or the StackSet would see.
            default="",
            no_echo=True,
            description="sts:ExternalId the bridge must present (the externalId context); empty for none",
        )
        org_id = CfnParameter(
            self,
            "OrgId",
            type="String",
            default=config.org_id or "",
            allowed_pattern=r"^(o-[a-z0-9]{10,32})?$",
            description="AWS Organizations id the bridge must belong to (aws:PrincipalOrgID); empty for none",
        )
        enable_write = CfnParameter(
            self,
            "EnableWriteRole",
            type="String",
            default="true" if config.enable_write_roles else "false",
            allowed_values=["true", "false"],
            description="Create CentralOpsWriteRole, used only after an approval granted in chat",
        )
        write_policy = CfnParameter(
            self,
            "WritePolicyArn",
            type="String",
            default="arn:aws:iam::aws:policy/PowerUserAccess",
            description="Managed policy of CentralOpsWriteRole",
        )
        has_external_id = CfnCondition(
            self,
            "HasExternalId",
            expression=Fn.condition_not(Fn.condition_equals(external_id.value_as_string, "")),
        )
        has_org_id = CfnCondition(
            self, "HasOrgId", expression=Fn.condition_not(Fn.condition_equals(org_id.value_as_string, ""))
        )
        write_enabled = CfnCondition(
            self, "WriteEnabled", expression=Fn.condition_equals(enable_write.value_as_string, "true")
        )

        trust = _trust_policy(
            bridge_role_arn.value_as_string, external_id, org_id, has_external_id, has_org_id
        )
        partition = self.partition
        target = iam.CfnRole(
            self,
            "TargetRole",
            role_name=TARGET_ROLE_NAME,
            description="CentralOps: read-only access for the central bridge",
            assume_role_policy_document=trust,
            managed_policy_arns=[f"arn:{partition}:iam::aws:policy/ReadOnlyAccess"],
            max_session_duration=3600,
            policies=[_mcp_policy(READ_ONLY_MCP_ACTIONS)],
        )
        write = iam.CfnRole(
            self,
            "WriteRole",
            role_name=WRITE_ROLE_NAME,
            description="CentralOps: commands approved in chat, for the central bridge",
            assume_role_policy_document=trust,
            managed_policy_arns=[write_policy.value_as_string],
            max_session_duration=3600,
            policies=[_mcp_policy(WRITE_MCP_ACTIONS)],
        )
        write.cfn_options.condition = write_enabled

        mcp = "aws-mcp actions have no resource-level permissions."
        acknowledge(target, "AwsSolutions-IAM5[Resource::*]", mcp)
        acknowledge(write, "AwsSolutions-IAM5[Resource::*]", mcp)
        acknowledge(
            target,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/ReadOnlyAccess]",
            "The person may run any read-only AWS CLI command; AWS keeps ReadOnlyAccess current with every new service.",
        )

        CfnOutput(self, "TargetRoleArn", value=target.attr_arn)
        write_output = CfnOutput(self, "WriteRoleArn", value=write.attr_arn)
        write_output.condition = write_enabled


def _mcp_policy(actions: list[str]) -> iam.CfnRole.PolicyProperty:
    # The AWS MCP Server has no resource-level permissions; "*" is the resource, never the action.
    return iam.CfnRole.PolicyProperty(
        policy_name="MCPAccess",
        policy_document={
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        },
    )


def _trust_policy(
    bridge_role_arn: str,
    external_id: CfnParameter,
    org_id: CfnParameter,
    has_external_id: CfnCondition,
    has_org_id: CfnCondition,
) -> dict[str, Any]:
    no_value = Fn.ref("AWS::NoValue")
    org_condition = Fn.condition_if(
        has_org_id.logical_id, {"StringEquals": {"aws:PrincipalOrgID": org_id.value_as_string}}, no_value
    )
    assume_condition = Fn.condition_if(
        has_external_id.logical_id,
        {
            "StringEquals": {
                "sts:ExternalId": external_id.value_as_string,
                "aws:PrincipalOrgID": Fn.condition_if(
                    has_org_id.logical_id, org_id.value_as_string, no_value
                ),
            }
        },
        org_condition,
    )
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "BridgeAssumesRole",
                "Effect": "Allow",
                "Principal": {"AWS": bridge_role_arn},
                "Action": "sts:AssumeRole",
                "Condition": assume_condition,
            },
            {
                "Sid": "BridgeNamesThePersonAndTagsTheSession",
                "Effect": "Allow",
                "Principal": {"AWS": bridge_role_arn},
                "Action": ["sts:SetSourceIdentity", "sts:TagSession"],
                "Condition": org_condition,
            },
        ],
    }
