"""The bridge stack: the Lambda behind the Gateway and the one role allowed into member accounts."""

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from centralops import settings
from infra import tables
from infra.stacks.config import TARGET_ROLE_NAME, WRITE_ROLE_NAME, DeploymentConfig
from infra.stacks.findings import accept, acknowledge
from infra.stacks.packaging import bridge_code
from infra.stacks.registry import CMK_READ_WRITE, RegistryStack

HANDLER = "bridge.handler.handler"
# What closing an open intent reads and writes (bridge/reconcile.py), the key included.
RECONCILE_ATTRIBUTES = (
    "audit_id",
    "status",
    "outcome",
    "reconciled_by",
    "reconciled_at",
    "reconcile_note",
    "pending_account",
)


def member_role_arns(config: DeploymentConfig, partition: str, role_name: str) -> list[str]:
    """ARNs of ``role_name`` in each member account: explicit accounts, never a wildcard."""
    return [f"arn:{partition}:iam::{account_id}:role/{role_name}" for account_id in config.member_account_ids]


class BridgeStack(Stack):
    """The bridge Lambda and its role.

    Attributes:
        function: The Lambda (handler ``bridge.handler.handler``, Python 3.12, ARM64).
        role: Its execution role, named ``<prefix>-bridge`` so member-account trust policies can name it.
        key: The CMK that encrypts its logs and environment.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        registry: RegistryStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.key = registry.key  # the CMK of its logs and environment, shared with the Gateway's interceptor
        accounts = registry.table(tables.ACCOUNTS)
        approvals = registry.table(tables.APPROVALS)
        audit = registry.table(tables.AUDIT)

        self.role = iam.Role(
            self,
            "Role",
            role_name=config.bridge_role_name,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="CentralOps bridge: assumes CentralOps roles in the listed member accounts",
        )
        log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{config.prefix}-bridge",
            retention=logs.RetentionDays.THREE_MONTHS,
            encryption_key=registry.key,
            # Kept on delete, removed if the first creation rolls back (a retry would collide with it).
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        )
        # No aws-mcp:* grant: the bridge calls the AWS MCP Server only with a member role's
        # credentials, and the server authorises the downstream AWS call itself.
        self._grant_assume(config)

        # Its tables, with exactly the calls it makes: read accounts, consume approvals, append audit
        # (in batches of 25, bridge/audit.py).
        # GetItem for one account, BatchGetItem for the entitlement check over a fan-out (bridge/registry.py).
        registry.grant_table(self.role, tables.ACCOUNTS, "dynamodb:GetItem", "dynamodb:BatchGetItem")
        registry.grant_table(self.role, tables.APPROVALS, "dynamodb:GetItem", "dynamodb:UpdateItem")
        registry.grant_table(self.role, tables.AUDIT, "dynamodb:BatchWriteItem")
        self.role.add_to_policy(  # full results of wide fan-outs; written once, never read back
            iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[registry.results.arn_for_objects("results/*")]
            )
        )
        # cdk-nag names the finding by the export this stack imports the bucket's ARN from.
        results = self.resolve(registry.export_value(registry.results.bucket_arn))["Fn::ImportValue"]
        acknowledge(
            self.role,
            f"AwsSolutions-IAM5[Resource::{results}/results/*]",
            "The bridge writes one result document per wide answer under results/, with a generated name.",
        )
        self.reconciler = self._reconciler_policy(config, registry)
        # The tables and the function's environment are encrypted with the CMK.
        registry.grant_key(self.role, *CMK_READ_WRITE)
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray's PutTraceSegments and PutTelemetryRecords (active tracing) have no resource-level permissions.",
        )

        environment = {
            settings.ACCOUNTS_TABLE: accounts.table_name,
            settings.APPROVALS_TABLE: approvals.table_name,
            settings.AUDIT_TABLE: audit.table_name,
            settings.RESULTS_BUCKET: registry.results.bucket_name,
            settings.KMS_KEY_ID: registry.key.key_arn,
            settings.AWS_MCP_URL: config.aws_mcp_url,
            settings.AWS_MCP_REGION: config.aws_mcp_region,
            settings.TARGET_ROLE_NAME: TARGET_ROLE_NAME,
            settings.LOG_FORMAT: "json",
        }
        if config.external_id:
            environment[settings.EXTERNAL_ID] = config.external_id

        self.function = lambda_.Function(
            self,
            "Function",
            function_name=f"{config.prefix}-bridge",
            description="CentralOps bridge: AgentCore Gateway target that runs aws CLI commands in member accounts",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=bridge_code(),
            role=self.role,
            timeout=Duration.seconds(120),
            memory_size=1024,
            environment=environment,
            environment_encryption=registry.key,
            log_group=log_group,
            # Lambda's JSON log format keeps the bridge's own JSON lines as they are and writes its
            # platform records (START, REPORT) as JSON too, so one query language reads them all.
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE,
            reserved_concurrent_executions=config.bridge_concurrency or None,
        )

        accept(
            self.function,
            "CKV_AWS_116",
            "The Gateway invokes the bridge synchronously and receives its errors; a DLQ only serves async calls.",
        )
        accept(
            self.function,
            "CKV_AWS_117",
            "The bridge reaches only public AWS endpoints (STS, DynamoDB, the AWS MCP Server); "
            "a VPC would add a NAT gateway and no isolation.",
        )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "Python 3.12 on purpose: the bundler installs the bridge's ARM64 wheels for 3.12, the project's "
            "baseline; moving to a newer runtime is a change of its own, tested with its wheels.",
        )
        if not config.bridge_concurrency:
            accept(
                self.function,
                "CKV_AWS_115",
                "Reserved concurrency is opt-in (context bridgeConcurrency): reserving it on a new account "
                "with a low concurrency quota makes the deployment fail.",
            )

        CfnOutput(self, "BridgeFunctionName", value=self.function.function_name)
        CfnOutput(self, "BridgeFunctionArn", value=self.function.function_arn)
        CfnOutput(
            self,
            "BridgeRoleArn",
            value=self.role.role_arn,
            description="Pass this to the member-account stack or StackSet (parameter BridgeRoleArn)",
        )
        CfnOutput(self, "BridgeLogGroup", value=log_group.log_group_name)

    def _reconciler_policy(self, config: DeploymentConfig, registry: RegistryStack) -> iam.ManagedPolicy:
        """For admins who list and close open audit intents (``python -m bridge.reconcile``).

        Attach it to the role of the people who reconcile. It reads only the sparse ``pending`` index
        (the open intents) and may change only the attributes a reconciliation writes.
        """
        audit = registry.table(tables.AUDIT)
        policy = iam.ManagedPolicy(
            self,
            "AuditReconciler",
            managed_policy_name=f"{config.prefix}-audit-reconciler",
            description="CentralOps: list audit intents that have no outcome and close them with a note",
            statements=[
                iam.PolicyStatement(
                    sid="ListOpenIntents",
                    actions=["dynamodb:Query", "dynamodb:Scan"],
                    resources=[f"{audit.table_arn}/index/{tables.AUDIT.index_name}"],
                ),
                iam.PolicyStatement(
                    sid="CloseOpenIntents",
                    actions=["dynamodb:UpdateItem"],
                    resources=[audit.table_arn],
                    conditions={
                        "ForAllValues:StringEquals": {"dynamodb:Attributes": list(RECONCILE_ATTRIBUTES)}
                    },
                ),
                iam.PolicyStatement(
                    sid="AuditTableKey", actions=list(CMK_READ_WRITE), resources=[registry.key.key_arn]
                ),
            ],
        )
        CfnOutput(
            self,
            "AuditReconcilerPolicyArn",
            value=policy.managed_policy_arn,
            description="Attach to the roles of the admins who reconcile open audit intents",
        )
        return policy

    def _grant_assume(self, config: DeploymentConfig) -> None:
        role_names = [TARGET_ROLE_NAME, *([WRITE_ROLE_NAME] if config.enable_write_roles else [])]
        resources = [arn for name in role_names for arn in member_role_arns(config, self.partition, name)]
        if not resources:
            # No member accounts configured: the bridge can reach none, which is safe and visible.
            CfnOutput(
                self,
                "MemberAccountsWarning",
                value="No memberAccountIds in context: the bridge may assume no role yet.",
            )
            return
        conditions = {"StringEquals": {"aws:ResourceOrgID": config.org_id}} if config.org_id else None
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeCentralOpsRolesInMemberAccounts",
                actions=["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
                resources=resources,
                conditions=conditions,
            )
        )
