"""Alerts: the central event bus, its queue and dead-letter queue, and the member-account rules.

Central account (:class:`EventsStack`):

- the event bus ``<prefix>-alerts``, whose resource policy admits ``events:PutEvents``
  from the registered member accounts only (``memberAccountIds``);
- a rule on it (again limited to those accounts) that sends every event to an SQS
  queue, with a dead-letter queue for what EventBridge cannot deliver;
- the queue's own redrive policy (after :data:`MAX_RECEIVES` receives a message moves
  to the same dead-letter queue), and the bot's permissions on both and on the alerts table.

Member accounts (:class:`MemberEventsStack`, bootstrapless, ready for a StackSet):
rules on the default bus forwarding CloudWatch alarm state changes, GuardDuty
findings, AWS Health events and stopped ECS tasks (plus any patterns in the
``alertEventPatterns`` context) to the central bus, with a role EventBridge assumes.
"""

from typing import Any

import jsii
from aws_cdk import BootstraplessSynthesizer, CfnOutput, CfnParameter, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

from centralops import settings
from infra import tables
from infra.event_patterns import DEFAULT_PATTERNS, extra_patterns
from infra.stacks.config import DeploymentConfig
from infra.stacks.findings import acknowledge
from infra.stacks.registry import RegistryStack

MAX_RECEIVES = 5
VISIBILITY = Duration.seconds(180)  # longer than a minute's digest plus its post: see bot/alerts/router.py


def bus_name(config: DeploymentConfig) -> str:
    """``<prefix>-alerts``."""
    return f"{config.prefix}-alerts"


def _pattern(raw: dict[str, Any]) -> events.EventPattern:
    return events.EventPattern(
        source=raw.get("source"), detail_type=raw.get("detail-type"), detail=raw.get("detail")
    )


@jsii.implements(events.IRuleTarget)
class _QueueTarget:
    """The queue as the rule's target, with the dead-letter queue and a day of retries."""

    def __init__(self, queue: sqs.IQueue, dead_letters: sqs.IQueue) -> None:
        self.queue = queue
        self.dead_letters = dead_letters

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        """The target's configuration (the rule and id are not needed)."""
        del rule, id
        return events.RuleTargetConfig(
            arn=self.queue.queue_arn,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self.dead_letters.queue_arn),
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_retry_attempts=20, maximum_event_age_in_seconds=24 * 3600
            ),
        )


class EventsStack(Stack):
    """The central bus, the queue the bot consumes and its dead-letter queue.

    Attributes:
        bus: The central event bus.
        queue: What the bot consumes.
        dead_letters: Events EventBridge could not deliver, messages received too often, and
            what the bot refused (not an event, unregistered account).
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
        self.registry = registry
        self.bus = events.EventBus(self, "Bus", event_bus_name=bus_name(config))
        members = list(config.member_account_ids)
        if members:
            self.bus.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="RegisteredMemberAccountsOnly",
                    principals=[iam.AccountPrincipal(a) for a in members],
                    actions=["events:PutEvents"],
                    resources=[self.bus.event_bus_arn],
                )
            )
        # Events from member accounts are data about them: encrypted with a key of this stack, which
        # EventBridge may use for this stack's rule only.
        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{config.prefix}-alerts",
            description="CentralOps: the alerts queue and its dead-letter queue",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            queue_name=f"{config.prefix}-alerts-dlq",
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
        )
        acknowledge(self.dead_letters, "AwsSolutions-SQS3", "This queue is the dead-letter queue itself.")
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=f"{config.prefix}-alerts",
            visibility_timeout=VISIBILITY,
            retention_period=Duration.days(4),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=MAX_RECEIVES, queue=self.dead_letters),
        )
        # Only the registered accounts' events, even if the bus policy is widened by hand later.
        self.rule = events.Rule(
            self,
            "ToBot",
            rule_name=f"{config.prefix}-alerts-to-bot",
            event_bus=self.bus,
            description="CentralOps: events of registered member accounts to the bot's queue",
            event_pattern=events.EventPattern(account=members or [self.account]),
        )
        # The target is declared here rather than with targets.SqsQueue, which leaves the queue policy
        # and the key policy without a source condition for an encrypted queue.
        self.rule.add_target(_QueueTarget(self.queue, self.dead_letters))
        # The rule's ARN written out, not referenced: the key policy naming the rule would otherwise
        # depend on the rule, which depends on the queue, which depends on the key.
        rule_arn = self.format_arn(
            service="events",
            resource="rule",
            resource_name=f"{bus_name(config)}/{config.prefix}-alerts-to-bot",
        )
        only_this_rule = {"ArnEquals": {"aws:SourceArn": rule_arn}}
        events_principal = iam.ServicePrincipal("events.amazonaws.com")
        for queue in (self.queue, self.dead_letters):
            queue.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[events_principal],
                    actions=["sqs:SendMessage"],
                    resources=[queue.queue_arn],
                    conditions=only_this_rule,
                )
            )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[events_principal],
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=["*"],
                conditions=only_this_rule,
            )
        )
        CfnOutput(
            self, "AlertsBusArn", value=self.bus.event_bus_arn, description="Target of the member rules"
        )
        CfnOutput(self, "AlertsQueueUrl", value=self.queue.queue_url)
        CfnOutput(self, "AlertsDeadLetterQueueUrl", value=self.dead_letters.queue_url)

    def connect_bot(self, role: iam.IRole, environment: dict[str, str] | None = None) -> dict[str, str]:
        """Give the bot's task role what the consumer and the alerts table need; its settings.

        Returns the environment variables the bot reads (added to ``environment`` when given).
        """
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
                resources=[self.queue.queue_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.dead_letters.queue_arn])
        )
        # Receiving decrypts; copying a refused message to the dead-letter queue encrypts.
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[self.key.key_arn])
        )
        self.registry.grant_table(
            role,
            tables.ALERTS,
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            # A reply in a thread finds its alert with a Query of the index `by-thread`. On the table
            # itself Query reads no more than GetItem does (one partition key); IAM wants the index.
            "dynamodb:Query",
        )
        self.registry.grant_index(role, tables.ALERTS, "dynamodb:Query")
        settings_ = {
            settings.ALERTS_QUEUE_URL: self.queue.queue_url,
            settings.ALERTS_DEAD_LETTER_URL: self.dead_letters.queue_url,
            settings.ALERTS_TABLE: self.registry.table(tables.ALERTS).table_name,
        }
        if environment is not None:
            environment.update(settings_)
        return settings_


class MemberEventsStack(Stack):
    """Rules on a member account's default bus that forward alert events to the central bus.

    Parameters of the template: ``CentralBusArn`` (output ``AlertsBusArn`` of the central stack).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeploymentConfig, **kwargs: Any
    ) -> None:
        kwargs.setdefault("synthesizer", BootstraplessSynthesizer())
        super().__init__(scope, construct_id, **kwargs)
        central = config.central_account_id or config.account
        region = config.region
        default = (
            f"arn:aws:events:{region}:{central}:event-bus/{bus_name(config)}" if central and region else None
        )
        bus_arn = CfnParameter(
            self,
            "CentralBusArn",
            type="String",
            description="ARN of the CentralOps alerts bus in the central account (output AlertsBusArn)",
            allowed_pattern=r"^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[\w.-]+$",
            default=default,
        )
        central_bus = events.EventBus.from_event_bus_arn(self, "CentralBus", bus_arn.value_as_string)
        role = iam.Role(
            self,
            "ForwardRole",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="CentralOps: EventBridge forwards alert events to the central bus",
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["events:PutEvents"], resources=[bus_arn.value_as_string])
        )
        patterns = {**DEFAULT_PATTERNS, **extra_patterns(self.node.try_get_context("alertEventPatterns"))}
        for name, raw in patterns.items():
            events.Rule(
                self,
                f"Forward{name}",
                description=f"CentralOps: {name} events to the central alerts bus",
                event_pattern=_pattern(raw),
                targets=[targets.EventBus(central_bus, role=role)],
            )
