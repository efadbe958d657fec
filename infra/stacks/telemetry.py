"""Where traces and logs go in AWS: the bot's OTLP collector, and AgentCore's log and trace delivery.

- **The bot** exports its spans as OTLP/HTTP to an AWS Distro for OpenTelemetry
  (ADOT) collector running as a sidecar in its ECS task (``127.0.0.1:4318``,
  the task's network namespace), which batches them and sends them to X-Ray
  with the task role. This is the ECS pattern AWS documents for ADOT; the bot
  needs only the OpenTelemetry SDK (no SigV4 signing of its own), and a slow
  X-Ray never slows an answer. The collector runs its built-in
  ``/etc/ecs/ecs-xray.yaml`` (OTLP in, ``awsxray`` out) and is not essential:
  if it stops, the bot keeps answering and only its spans are lost.
- **The AgentCore Runtime and Gateway** deliver their own logs and traces through
  CloudWatch Logs vended-log delivery, as AgentCore Observability documents: one
  ``AWS::Logs::DeliverySource`` per resource and log type (``APPLICATION_LOGS``,
  ``TRACES``), delivered to a ``CWL`` destination (a log group under
  ``/aws/vendedlogs/bedrock-agentcore/``) and to an ``XRAY`` destination.
  X-Ray shows the traces once CloudWatch Transaction Search is on in the
  account (a one-time setting, ``docs/deploy.md``).
"""

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.stacks.findings import acknowledge

COLLECTOR_IMAGE = "public.ecr.aws/aws-observability/aws-otel-collector:v0.45.1"
COLLECTOR_CONFIG = "--config=/etc/ecs/ecs-xray.yaml"
OTLP_TRACES_URL = "http://127.0.0.1:4318/v1/traces"
XRAY_WRITE = (
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
)
LOG_TYPES = ("APPLICATION_LOGS", "TRACES")


def add_collector(
    task_definition: ecs.TaskDefinition, task_role: iam.IRole, log_group: logs.ILogGroup
) -> ecs.ContainerDefinition:
    """The ADOT collector sidecar of the bot's task, allowed to write to X-Ray."""
    collector = task_definition.add_container(
        "otel-collector",
        container_name="otel-collector",
        image=ecs.ContainerImage.from_registry(COLLECTOR_IMAGE),
        command=[COLLECTOR_CONFIG],
        essential=False,
        memory_reservation_mib=64,
        readonly_root_filesystem=True,
        logging=ecs.LogDrivers.aws_logs(stream_prefix="otel", log_group=log_group),
    )
    policy = iam.Policy(
        task_definition,
        "XRayWrite",
        statements=[iam.PolicyStatement(actions=list(XRAY_WRITE), resources=["*"])],
    )
    task_role.attach_inline_policy(policy)
    acknowledge(
        policy,
        "AwsSolutions-IAM5[Resource::*]",
        "X-Ray's trace-writing and sampling actions have no resource-level permissions.",
    )
    return collector


class AgentCoreDelivery(Construct):
    """Application logs and traces of one AgentCore resource, delivered to a log group and to X-Ray.

    Args:
        scope: Where the resources go.
        construct_id: The construct's id.
        name: A short name for the delivery resources (``<prefix>-runtime``); letters, digits, ``-``, ``_``.
        resource_arn: The Runtime's or Gateway's ARN.
        key: The CMK the log group is encrypted with.
        kind: ``runtime`` or ``gateway`` (part of the log group's name).

    Attributes:
        log_group: Where the application logs land.
        sources: The delivery sources, by log type.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, name: str, resource_arn: str, key: kms.IKey, kind: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/vendedlogs/bedrock-agentcore/{kind}/{name}",
            retention=logs.RetentionDays.THREE_MONTHS,
            encryption_key=key,
            # Kept on delete, removed when the first creation rolls back (so a retried deploy does not collide).
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
        self.sources = {
            log_type: logs.CfnDeliverySource(
                self,
                f"Source{log_type.title().replace('_', '')}",
                name=f"{name}-{log_type.lower().replace('_', '-')}",
                log_type=log_type,
                resource_arn=resource_arn,
            )
            for log_type in LOG_TYPES
        }
        to_logs = logs.CfnDeliveryDestination(
            self,
            "ToLogs",
            name=f"{name}-logs",
            delivery_destination_type="CWL",
            destination_resource_arn=self.log_group.log_group_arn,
        )
        to_xray = logs.CfnDeliveryDestination(
            self, "ToXRay", name=f"{name}-traces", delivery_destination_type="XRAY"
        )
        for log_type, destination in (("APPLICATION_LOGS", to_logs), ("TRACES", to_xray)):
            delivery = logs.CfnDelivery(
                self,
                f"Delivery{log_type.title().replace('_', '')}",
                delivery_source_name=self.sources[log_type].name,
                delivery_destination_arn=destination.attr_arn,
            )
            delivery.add_dependency(self.sources[log_type])


def delivery_name(prefix: str, kind: str) -> str:
    """``<prefix>-<kind>``, within the 60 characters a delivery source's name may have (with its suffix)."""
    return f"{prefix}-{kind}"[:40]
