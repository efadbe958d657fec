"""Alarms on every hop and one dashboard, with the alarms' actions on one SNS topic.

The metric names CentralOps emits itself come from ``centralops.metrics`` (the
bridge's and bot's EMF lines); the rest are the services' own metrics. See
``docs/observability.md``.
"""

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from centralops import metrics as names
from infra import tables
from infra.stacks.bot import BotStack
from infra.stacks.bridge import BridgeStack
from infra.stacks.config import DeploymentConfig
from infra.stacks.gateway import GatewayStack
from infra.stacks.registry import RegistryStack
from infra.stacks.runtime import RuntimeStack
from infra.stacks.telemetry import AgentCoreDelivery, delivery_name

MINUTE = Duration.minutes(1)
# Above this p95, a person waits too long for the agent's answer (the planner answers in about a second,
# a model with tool calls in a few; 20 s means something is stuck or retrying).
AGENT_LATENCY_P95_MS = 20_000
BOT_5XX_PER_MINUTE = 5


def own_metric(service: str, name: str, statistic: str, label: str) -> cw.Metric:
    """A metric CentralOps emits (namespace ``CentralOps``, dimension ``service``), per minute."""
    return cw.Metric(
        namespace=names.NAMESPACE,
        metric_name=name,
        dimensions_map={names.SERVICE: service},
        statistic=statistic,
        period=MINUTE,
        label=label,
    )


def by_dimension(service: str, name: str, dimension: str, statistic: str) -> cw.MathExpression:
    """One line per value of ``dimension`` (a refusal code, an account), found with SEARCH."""
    schema = f"{{{names.NAMESPACE},{dimension},{names.SERVICE}}}"
    query = f'{schema} {names.SERVICE}="{service}" MetricName="{name}"'
    return cw.MathExpression(
        expression=f"SEARCH('{query}', '{statistic}', 60)", using_metrics={}, period=MINUTE
    )


class ObservabilityStack(Stack):
    """The alarm topic, the alarms and the dashboard of one deployment.

    Attributes:
        topic: Where every alarm sends ALARM and OK (stack output ``AlarmTopicArn``).
        alarms: Every alarm, by short name.
        dashboard: The ``<prefix>`` CloudWatch dashboard.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        registry: RegistryStack,
        bridge: BridgeStack,
        runtime: RuntimeStack,
        bot: BotStack | None,
        gateway: GatewayStack | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        key = kms.Key(
            self,
            "TopicKey",
            alias=f"alias/{config.prefix}-alarms",
            description="CentralOps: the alarm topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # CloudWatch publishes to the encrypted topic only when the key lets it.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        self.topic = sns.Topic(
            self, "AlarmTopic", topic_name=f"{config.prefix}-alarms", master_key=key, enforce_ssl=True
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        self.alarms: dict[str, cw.Alarm] = {}
        self._prefix = config.prefix
        # AgentCore's own logs and traces of the Runtime and the Gateway (infra/stacks/telemetry.py).
        self.deliveries = {
            "runtime": AgentCoreDelivery(
                self,
                "RuntimeDelivery",
                name=delivery_name(config.prefix, "runtime"),
                resource_arn=runtime.runtime.agent_runtime_arn,
                key=registry.key,
                kind="runtime",
            )
        }
        if gateway is not None:
            self.deliveries["gateway"] = AgentCoreDelivery(
                self,
                "GatewayDelivery",
                name=delivery_name(config.prefix, "gateway"),
                resource_arn=gateway.gateway.gateway_arn,
                key=registry.key,
                kind="gateway",
            )

        function = bridge.function
        self._alarm(
            "BridgeErrors",
            function.metric_errors(period=MINUTE, statistic="Sum"),
            "The bridge Lambda failed (an unhandled error or a timeout). Read its log group.",
            threshold=1,
            evaluation_periods=5,
            datapoints_to_alarm=3,
        )
        self._alarm(
            "BridgeThrottles",
            function.metric_throttles(period=MINUTE, statistic="Sum"),
            "Lambda throttled the bridge: raise its reserved concurrency (context bridgeConcurrency) "
            "or the account's concurrency quota.",
            threshold=1,
        )
        agent = runtime.runtime
        self._alarm(
            "AgentSystemErrors",
            agent.metric_system_errors(period=MINUTE, statistic="Sum"),
            "The AgentCore Runtime answered invocations with server errors. Read the Runtime's log group.",
            threshold=1,
            evaluation_periods=5,
            datapoints_to_alarm=3,
        )
        self._alarm(
            "AgentLatency",
            agent.metric_latency(period=MINUTE, statistic="p95"),
            f"The agent's p95 answer time is above {AGENT_LATENCY_P95_MS // 1000} s. Check the model's "
            "throttling and the bridge's account latency on the dashboard.",
            threshold=AGENT_LATENCY_P95_MS,
            evaluation_periods=5,
            datapoints_to_alarm=3,
        )
        for spec in tables.ALL_TABLES:
            table = registry.table(spec)
            throttled = cw.MathExpression(
                expression="reads + writes",
                using_metrics={
                    "reads": table.metric("ReadThrottleEvents", period=MINUTE, statistic="Sum"),
                    "writes": table.metric("WriteThrottleEvents", period=MINUTE, statistic="Sum"),
                },
                label=f"{spec.logical_name} throttle events",
                period=MINUTE,
            )
            self._alarm(
                f"DynamoDbThrottles{_camel(spec.logical_name)}",
                throttled,
                f"DynamoDB throttled requests to the {spec.logical_name} table. Check for a hot key or a runaway client.",
                threshold=1,
            )
        if bot is not None:
            self._bot_alarms(bot)
        self.dashboard = self._dashboard(bridge, runtime, bot)
        CfnOutput(
            self,
            "AlarmTopicArn",
            value=self.topic.topic_arn,
            description="Subscribe the on-call address or chat webhook to this topic",
        )
        CfnOutput(self, "DashboardName", value=self.dashboard.dashboard_name)

    def _bot_alarms(self, bot: BotStack) -> None:
        service = bot.service
        self._alarm(
            "BotUnhealthyTargets",
            service.target_group.metrics.unhealthy_host_count(period=MINUTE, statistic="Maximum"),
            "A bot task fails its /health check. Read the bot's log group and the ECS service events.",
            threshold=1,
            evaluation_periods=3,
        )
        lb = service.load_balancer.metrics
        self._alarm(
            "Bot5xx",
            cw.MathExpression(
                expression="target + elb",
                using_metrics={
                    "target": lb.http_code_target(
                        elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=MINUTE, statistic="Sum"
                    ),
                    "elb": lb.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=MINUTE, statistic="Sum"),
                },
                label="bot 5xx",
                period=MINUTE,
            ),
            f"The bot's load balancer answered 5xx (at least {BOT_5XX_PER_MINUTE} a minute). Slack and "
            "Teams retry, then drop the event. Read the bot's log group.",
            threshold=BOT_5XX_PER_MINUTE,
            evaluation_periods=5,
            datapoints_to_alarm=3,
        )

    def _alarm(
        self,
        name: str,
        metric: cw.IMetric,
        description: str,
        *,
        threshold: float,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int | None = None,
    ) -> None:
        alarm = cw.Alarm(
            self,
            name,
            alarm_name=f"{self._prefix}-{name}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm or evaluation_periods,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        action = cw_actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        self.alarms[name] = alarm

    def _dashboard(self, bridge: BridgeStack, runtime: RuntimeStack, bot: BotStack | None) -> cw.Dashboard:
        dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=self._prefix)
        bridge_service, bot_service = "bridge", "bot"
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Questions per minute",
                left=[own_metric(bot_service, names.QUESTIONS, "Sum", "questions")],
                right=[own_metric(bridge_service, names.QUERIES, "Sum", "bridge tool calls")],
                width=8,
            ),
            cw.GraphWidget(
                title="Answer time (ms)",
                left=[
                    own_metric(bot_service, names.ANSWER_LATENCY, "p50", "p50"),
                    own_metric(bot_service, names.ANSWER_LATENCY, "p95", "p95"),
                ],
                width=8,
            ),
            cw.GraphWidget(
                title="Refusals by code",
                left=[by_dimension(bridge_service, names.REFUSALS, names.CODE, "Sum")],
                stacked=True,
                width=8,
            ),
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Approvals",
                left=[
                    own_metric(bridge_service, names.APPROVALS_REQUESTED, "Sum", "requested"),
                    own_metric(bot_service, names.APPROVALS_GRANTED, "Sum", "granted"),
                    own_metric(bridge_service, names.APPROVALS_CONSUMED, "Sum", "consumed"),
                ],
                width=8,
            ),
            cw.GraphWidget(
                title="Account errors (per account)",
                left=[by_dimension(bridge_service, names.ACCOUNT_ERRORS, names.ACCOUNT, "Sum")],
                width=8,
            ),
            cw.GraphWidget(
                title="Account latency p95 (ms, per account)",
                left=[by_dimension(bridge_service, names.ACCOUNT_LATENCY, names.ACCOUNT, "p95")],
                width=8,
            ),
        )
        health: list[cw.IWidget] = [
            cw.GraphWidget(
                title="Runtime and chat errors",
                left=[
                    own_metric(bot_service, names.RUNTIME_ERRORS, "Sum", "answers ending in a Runtime error"),
                    runtime.runtime.metric_system_errors(period=MINUTE, statistic="Sum", label="Runtime 5xx"),
                    bridge.function.metric_errors(period=MINUTE, statistic="Sum", label="bridge errors"),
                ],
                right=[by_dimension(bot_service, names.CHAT_THROTTLED, names.PLATFORM, "Sum")],
                width=12,
            ),
            cw.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=12),
        ]
        if bot is not None:
            lb = bot.service.load_balancer.metrics
            health.append(
                cw.GraphWidget(
                    title="Bot load balancer",
                    left=[
                        lb.http_code_target(
                            elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=MINUTE, statistic="Sum"
                        ),
                        lb.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=MINUTE, statistic="Sum"),
                    ],
                    right=[lb.target_response_time(period=MINUTE, statistic="p95")],
                    width=12,
                )
            )
        dashboard.add_widgets(*health)
        return dashboard


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))
