"""The registry stack: DynamoDB tables, the customer-managed KMS key and the access-log bucket."""

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import tables
from infra.stacks.config import DeploymentConfig
from infra.stacks.findings import accept, acknowledge

# Reading what the CMK protects (tables, secrets, objects) needs Decrypt; writing it, the other two.
CMK_READ_WRITE = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")

RESULTS_EXPIRY_DAYS = 7  # full fan-out results are kept this long


class RegistryStack(Stack):
    """State shared by every deployable, encrypted with one customer-managed key.

    Attributes:
        key: The CMK for tables, refresh tokens, secrets, logs and images.
        tables: The tables by logical name (``accounts``, ``identity-links``, ...).
        access_logs: Bucket receiving S3 server access logs and ALB access logs.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeploymentConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{config.prefix}",
            description="CentralOps: tables, refresh tokens, secrets, logs and container images",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # CloudWatch Logs encrypts the log groups of the bridge, the bot and the runtime with this key.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": f"arn:{self.partition}:logs:{self.region}:{self.account}:*"
                    }
                },
            )
        )

        self.tables: dict[str, dynamodb.Table] = {}
        for spec in tables.ALL_TABLES:
            table = dynamodb.Table(
                self,
                _logical_id(spec.logical_name),
                table_name=tables.table_name(spec, config.prefix),
                partition_key=dynamodb.Attribute(name=spec.partition_key, type=dynamodb.AttributeType.STRING),
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
                encryption_key=self.key,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                time_to_live_attribute=spec.ttl_attribute,
                deletion_protection=True,
                removal_policy=RemovalPolicy.RETAIN,
            )
            if spec.index_name and spec.index_key:
                table.add_global_secondary_index(
                    index_name=spec.index_name,
                    partition_key=dynamodb.Attribute(name=spec.index_key, type=dynamodb.AttributeType.STRING),
                    sort_key=(
                        dynamodb.Attribute(name=spec.index_sort_key, type=dynamodb.AttributeType.STRING)
                        if spec.index_sort_key
                        else None
                    ),
                    projection_type=dynamodb.ProjectionType.ALL,
                )
            self.tables[spec.logical_name] = table
            CfnOutput(self, f"{_logical_id(spec.logical_name)}TableName", value=table.table_name)

        # ALB access logs only support SSE-S3, so this bucket cannot use the CMK.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(365), noncurrent_version_expiration=Duration.days(30)
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

        accept(
            self.access_logs,
            "CKV_AWS_18",
            "This is the access-log bucket itself; logging it into itself would loop.",
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This is the access-log bucket itself; logging it into itself would loop.",
        )

        # Full results of wide fan-outs: the bridge writes them, the bot attaches them; they expire.
        self.results = s3.Bucket(
            self,
            "Results",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="results/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(RESULTS_EXPIRY_DAYS),
                    noncurrent_version_expiration=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

        CfnOutput(self, "KmsKeyArn", value=self.key.key_arn, description="CMK of tables, tokens and secrets")
        CfnOutput(self, "AccessLogsBucketName", value=self.access_logs.bucket_name)
        CfnOutput(self, "ResultsBucketName", value=self.results.bucket_name)

    def table(self, spec: tables.TableSpec) -> dynamodb.Table:
        """The table deployed for ``spec``."""
        return self.tables[spec.logical_name]

    def grant_table(self, grantee: iam.IGrantable, spec: tables.TableSpec, *actions: str) -> None:
        """``actions`` on one table, not on its indexes (no code queries one)."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=list(actions), resources=[self.table(spec).table_arn])
        )

    def grant_index(self, grantee: iam.IGrantable, spec: tables.TableSpec, *actions: str) -> None:
        """``actions`` on the one index of ``spec``'s table."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(actions), resources=[f"{self.table(spec).table_arn}/index/{spec.index_name}"]
            )
        )

    def grant_key(self, grantee: iam.IGrantable, *actions: str) -> None:
        """``actions`` on the CMK, named one by one (no ``kms:GenerateDataKey*``-style wildcard)."""
        self.key.grant(grantee, *actions)


def _logical_id(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))
