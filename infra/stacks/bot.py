"""The bot stack: the Slack and Teams bot on ECS Fargate behind an HTTPS-only load balancer."""

import json
from typing import Any

from aws_cdk import CfnOutput, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_ecs_patterns as ecs_patterns
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from centralops import settings
from infra import tables
from infra.stacks.cognito import CognitoStack
from infra.stacks.config import DeploymentConfig
from infra.stacks.findings import accept, acknowledge
from infra.stacks.images import ImagesStack
from infra.stacks.registry import CMK_READ_WRITE, RegistryStack
from infra.stacks.runtime import RuntimeStack
from infra.stacks.telemetry import OTLP_TRACES_URL, add_collector

BOT_PORT = 3000
# Kept on delete and on replacement, but removed when the stack's first creation rolls back, so that
# a retried first deploy does not collide with what the failed one left behind.
RETAIN_UNLESS_CREATE_FAILS = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
HEALTH_PATH = "/health"

# Keys of the two secrets; each becomes the environment variable of the same name in the container.
SLACK_SECRET_KEYS = (settings.SLACK_BOT_TOKEN, settings.SLACK_SIGNING_SECRET)
TEAMS_SECRET_KEYS = (settings.TEAMS_APP_PASSWORD, settings.TEAMS_APP_ID, settings.TEAMS_TENANT_ID)


class BotStack(Stack):
    """The bot service.

    Attributes:
        service: The load-balanced Fargate service.
        slack_secret: ``SLACK_BOT_TOKEN`` and ``SLACK_SIGNING_SECRET``.
        teams_secret: The Azure Bot registration's app id, secret and tenant.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        registry: RegistryStack,
        cognito: CognitoStack,
        runtime: RuntimeStack,
        images: ImagesStack,
        certificate_arn: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # Referenced by ARN so that grants land in this stack's identity policies (the key policy
        # trusts the account's IAM), rather than in the key policy, which would make the stacks cyclic.
        self.key = kms.Key.from_key_arn(self, "Key", registry.key.key_arn)
        self.slack_secret = self._secret("SlackSecret", SLACK_SECRET_KEYS)
        self.teams_secret = self._secret("TeamsSecret", TEAMS_SECRET_KEYS)

        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=1,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(
                    name="app", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
                ),
            ],
        )
        vpc.add_flow_log(
            "FlowLogs",
            traffic_type=ec2.FlowLogTrafficType.REJECT,
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                logs.LogGroup(
                    self,
                    "FlowLogGroup",
                    retention=logs.RetentionDays.THREE_MONTHS,
                    encryption_key=self.key,
                    removal_policy=RETAIN_UNLESS_CREATE_FAILS,
                )
            ),
        )
        self._accept_default_sg_provider()
        cluster = ecs.Cluster(self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)
        log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/ecs/{config.prefix}-bot",
            retention=logs.RetentionDays.THREE_MONTHS,
            encryption_key=registry.key,
            removal_policy=RETAIN_UNLESS_CREATE_FAILS,
        )
        task_role = iam.Role(
            self,
            "TaskRole",
            role_name=f"{config.prefix}-bot-task",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="CentralOps bot task: its tables and the CMK, nothing else",
        )
        self._grant_tables(task_role, registry)
        cognito.grant_token_exchange(task_role)

        image = ecs.ContainerImage.from_ecr_repository(images.bot, config.bot_image_tag)
        self.service = ecs_patterns.ApplicationLoadBalancedFargateService(
            self,
            "Service",
            cluster=cluster,
            service_name=f"{config.prefix}-bot",
            cpu=512,
            memory_limit_mib=1024,
            desired_count=config.bot_min_tasks,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.ARM64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
            task_image_options=ecs_patterns.ApplicationLoadBalancedTaskImageOptions(
                image=image,
                container_name="bot",
                container_port=BOT_PORT,
                task_role=task_role,
                environment=self._environment(config, registry, cognito, runtime),
                secrets={
                    **{
                        key: ecs.Secret.from_secrets_manager(self.slack_secret, key)
                        for key in SLACK_SECRET_KEYS
                    },
                    **{
                        key: ecs.Secret.from_secrets_manager(self.teams_secret, key)
                        for key in TEAMS_SECRET_KEYS
                    },
                    # The bot's own client secret, and no other (its task role cannot read the agent's).
                    settings.BOT_CLIENT_SECRET: ecs.Secret.from_secrets_manager(cognito.bot_service_secret),
                },
                log_driver=ecs.LogDrivers.aws_logs(stream_prefix="bot", log_group=log_group),
            ),
            protocol=elbv2.ApplicationProtocol.HTTPS,
            certificate=acm.Certificate.from_certificate_arn(self, "Certificate", certificate_arn),
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            redirect_http=True,
            public_load_balancer=True,
            task_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=100,
            health_check_grace_period=Duration.seconds(30),
        )
        # The bot's spans go as OTLP to an ADOT collector beside it, which sends them to X-Ray.
        add_collector(self.service.task_definition, task_role, log_group)
        # ECS reads the secrets with the execution role; with an imported key, Secret.grant_read
        # cannot add the KMS half of that permission, so it is granted here.
        execution_role = self.service.task_definition.obtain_execution_role()
        self.key.grant_decrypt(execution_role)
        acknowledge(
            execution_role,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions; the pull itself is limited to the bot's repository.",
        )
        acknowledge(
            self.service.task_definition,
            "AwsSolutions-ECS2",
            "The environment holds only names, URLs and ARNs; the tokens and secrets come from Secrets Manager.",
        )
        for secret in (self.slack_secret, self.teams_secret):
            acknowledge(
                secret,
                "AwsSolutions-SMG4",
                "Slack and Microsoft issue these credentials; they are rotated in those consoles, not by a Lambda.",
            )
        acknowledge(
            self.service.load_balancer,
            "AwsSolutions-EC23",
            "Slack and Teams call the bot from the internet on 443; port 80 only redirects to HTTPS.",
        )
        self.service.load_balancer.set_attribute("routing.http.drop_invalid_header_fields.enabled", "true")
        self.service.load_balancer.log_access_logs(registry.access_logs, prefix="alb")
        accept(
            self.service.load_balancer.connections.security_groups[0],
            "CKV_AWS_260",
            "Port 80 only answers with a permanent redirect to HTTPS; no request is forwarded to the bot.",
        )
        self.service.target_group.configure_health_check(
            path=HEALTH_PATH,
            port=str(BOT_PORT),
            healthy_http_codes="200",
            interval=Duration.seconds(15),
            healthy_threshold_count=2,
            unhealthy_threshold_count=3,
        )
        self.service.target_group.set_attribute("deregistration_delay.timeout_seconds", "30")
        scaling = self.service.service.auto_scale_task_count(
            min_capacity=config.bot_min_tasks, max_capacity=config.bot_max_tasks
        )
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=60)
        scaling.scale_on_request_count(
            "Requests", requests_per_target=200, target_group=self.service.target_group
        )

        CfnOutput(
            self,
            "LoadBalancerDns",
            value=self.service.load_balancer.load_balancer_dns_name,
            description=f"Point {config.domain_name} (CNAME or alias) here",
        )
        CfnOutput(self, "BotUrl", value=config.bot_url)
        CfnOutput(self, "SlackRequestUrl", value=f"{config.bot_url}/slack/events")
        CfnOutput(self, "TeamsMessagingEndpoint", value=f"{config.bot_url}/api/messages")
        CfnOutput(self, "SlackSecretArn", value=self.slack_secret.secret_arn)
        CfnOutput(self, "TeamsSecretArn", value=self.teams_secret.secret_arn)
        CfnOutput(self, "BotLogGroup", value=log_group.log_group_name)
        CfnOutput(self, "ClusterName", value=cluster.cluster_name)
        CfnOutput(self, "ServiceName", value=self.service.service.service_name)

    @property
    def availability_zones(self) -> list[str]:
        """The first two zones of the region, resolved by CloudFormation (``Fn::GetAZs``).

        CDK would otherwise look the zones up with AWS credentials at synthesis and
        cache them in ``cdk.context.json``; this way synthesis needs neither.
        """
        return [Fn.select(index, Fn.get_azs()) for index in range(2)]

    def _accept_default_sg_provider(self) -> None:
        # CDK's own custom-resource Lambda that strips the VPC's default security group of its rules.
        provider = self.node.try_find_child("Custom::VpcRestrictDefaultSGCustomResourceProvider")
        handler = provider.node.try_find_child("Handler") if provider else None
        if handler is None:
            return
        reason = "CDK's one-shot custom resource that empties the default security group at deploy time"
        accept(handler, "CKV_AWS_116", f"{reason}; CloudFormation retries it, a DLQ has nothing to catch.")
        accept(handler, "CKV_AWS_117", f"{reason}; it calls only the EC2 API.")
        accept(handler, "CKV_AWS_115", f"{reason}; it runs once per deployment.")

    def _secret(self, construct_id: str, keys: tuple[str, ...]) -> secretsmanager.Secret:
        # Created with empty values, which leave that platform switched off in the bot; docs/deploy.md
        # shows how to put the real ones. A generated template (not a literal SecretString) so that
        # CloudFormation never writes the empty values back over them on a later deploy. No fixed
        # name: a deleted secret keeps its name for its recovery window, so a retried first deploy
        # would collide with it; the SlackSecretArn and TeamsSecretArn outputs name them.
        return secretsmanager.Secret(
            self,
            construct_id,
            description=f"CentralOps bot: {', '.join(keys)}",
            encryption_key=self.key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps(dict.fromkeys(keys, "")),
                generate_string_key="created_by_cloudformation",
                exclude_punctuation=True,
            ),
            removal_policy=RETAIN_UNLESS_CREATE_FAILS,
        )

    def _grant_tables(self, role: iam.IRole, registry: RegistryStack) -> None:
        registry.grant_table(
            role,
            tables.IDENTITY_LINKS,
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
        )
        registry.grant_table(
            role, tables.OAUTH_STATES, "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem"
        )
        # Claims chat events once, and keeps each person's recent queries.
        # Also keeps long Teams answers until the person accepts or declines the file (then deleted).
        registry.grant_table(
            role,
            tables.IDEMPOTENCY,
            "dynamodb:PutItem",
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",  # the feedback figures of recent weeks, one request
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        )
        registry.grant_table(role, tables.APPROVALS, "dynamodb:GetItem", "dynamodb:UpdateItem")
        # Answers and approved runs kept until delivered; any task finishes what a stopped one left.
        registry.grant_table(
            role,
            tables.OUTBOX,
            "dynamodb:PutItem",
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "dynamodb:Scan",
        )
        # The sweepers scan the sparse index of undelivered items (Scan on an index is granted on its ARN).
        registry.grant_index(role, tables.OUTBOX, "dynamodb:Scan")
        registry.grant_table(role, tables.ACCOUNTS, "dynamodb:GetItem", "dynamodb:Scan")
        role.add_to_principal_policy(  # the full results of wide fan-outs, attached to threads
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[registry.results.arn_for_objects("results/*")]
            )
        )
        # cdk-nag names the finding by the export this stack imports the bucket's ARN from.
        results = self.resolve(registry.export_value(registry.results.bucket_arn))["Fn::ImportValue"]
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{results}/results/*]",
            "The bot reads the result documents the bridge writes, one object per wide answer, under results/.",
        )
        # Refresh tokens are KMS ciphertext in the identity-links table; the tables use the CMK too.
        registry.grant_key(role, *CMK_READ_WRITE)

    def _environment(
        self, config: DeploymentConfig, registry: RegistryStack, cognito: CognitoStack, runtime: RuntimeStack
    ) -> dict[str, str]:
        return {
            settings.AWS_REGION: self.region,
            settings.RUNTIME_URL: runtime.invocation_url,
            settings.PUBLIC_URL: config.bot_url,
            settings.BOT_PORT: str(BOT_PORT),
            settings.BOT_HOST: "0.0.0.0",  # noqa: S104 - the load balancer reaches the task on its private IP
            settings.COGNITO_USER_POOL_ID: cognito.user_pool.user_pool_id,
            settings.COGNITO_CLIENT_ID: cognito.client.user_pool_client_id,
            settings.COGNITO_ISSUER: cognito.issuer,
            settings.COGNITO_JWKS_URL: cognito.jwks_url,
            settings.COGNITO_DOMAIN_URL: cognito.domain_url,
            settings.RUNTIME_AUDIENCE: cognito.runtime_audience,
            settings.BOT_CLIENT_ID: cognito.bot_service_client.user_pool_client_id,
            settings.IDENTITY_LINKS_TABLE: registry.table(tables.IDENTITY_LINKS).table_name,
            settings.OAUTH_STATES_TABLE: registry.table(tables.OAUTH_STATES).table_name,
            settings.IDEMPOTENCY_TABLE: registry.table(tables.IDEMPOTENCY).table_name,
            settings.APPROVALS_TABLE: registry.table(tables.APPROVALS).table_name,
            settings.ACCOUNTS_TABLE: registry.table(tables.ACCOUNTS).table_name,
            settings.OUTBOX_TABLE: registry.table(tables.OUTBOX).table_name,
            settings.RESULTS_BUCKET: registry.results.bucket_name,
            settings.KMS_KEY_ID: registry.key.key_arn,
            settings.APPROVER_GROUP: config.approver_group,
            settings.LOG_FORMAT: "json",
            settings.OTLP_TRACES_ENDPOINT: OTLP_TRACES_URL,
        }
