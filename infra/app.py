"""The CentralOps CDK app: every stack of one deployment, configured through context.

The CDK CLI runs it from ``infra/`` (``cd infra && npx cdk synth``), where
``infra/cdk.json`` names it; ``make synth`` runs it directly from the repository
root. Synthesis needs no AWS credentials and makes no context lookups. See
``docs/deploy.md``.
"""

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Stack, Tags, Validations

from centralops.errors import ConfigurationError
from infra.stacks.bot import BotStack
from infra.stacks.bridge import BridgeStack
from infra.stacks.cognito import CognitoStack
from infra.stacks.config import DeploymentConfig
from infra.stacks.events import EventsStack, MemberEventsStack
from infra.stacks.gateway import GatewayStack
from infra.stacks.images import ImagesStack
from infra.stacks.member import MemberRoleStack
from infra.stacks.observability import ObservabilityStack
from infra.stacks.registry import RegistryStack
from infra.stacks.runtime import RuntimeStack

CDK_JSON = Path(__file__).resolve().parent / "cdk.json"

# Behaviour the stacks rely on; the CDK CLI's context (cdk.json, -c) still takes precedence.
FEATURE_FLAGS: dict[str, Any] = {
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/core:checkSecretUsage": True,
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    "@aws-cdk/aws-ecs:arnFormatIncludesClusterName": True,
    "@aws-cdk/aws-kms:reduceCrossAccountRegionPolicyScope": True,
    "@aws-cdk/aws-ec2:restrictDefaultSecurityGroup": True,
    "@aws-cdk/aws-lambda:useCdkManagedLogGroup": True,
}


def new_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> App:
    """An ``App`` with the feature flags CentralOps relies on, plus ``context``."""
    return App(context={**FEATURE_FLAGS, **(context or {})}, outdir=outdir)


@dataclass
class Deployment:
    """The stacks of one deployment; ``bot`` is ``None`` until a certificate is configured."""

    app: App
    config: DeploymentConfig
    registry: RegistryStack
    cognito: CognitoStack
    images: ImagesStack
    bridge: BridgeStack
    gateway: GatewayStack
    runtime: RuntimeStack
    bot: BotStack | None
    member: MemberRoleStack
    observability: ObservabilityStack
    events: EventsStack | None = None
    member_events: MemberEventsStack | None = None

    @property
    def stacks(self) -> list[Stack]:
        """Every stack that was built."""
        built = [self.registry, self.cognito, self.images, self.bridge, self.gateway, self.runtime, self.bot]
        alerts = [self.events, self.member_events]
        return [stack for stack in [*built, self.member, self.observability, *alerts] if stack is not None]


def stack_name(config: DeploymentConfig, part: str) -> str:
    """``CentralOps-Registry`` for the default prefix, ``<Prefix>-Registry`` otherwise."""
    base = "CentralOps" if config.prefix == "centralops" else config.prefix
    return f"{base}-{part}"


def build(app: App) -> Deployment:
    """Add every stack of the deployment described by ``app``'s context to ``app``."""
    config = DeploymentConfig.from_context(
        app.node.try_get_context,
        {"account": os.environ.get("CDK_DEFAULT_ACCOUNT"), "region": os.environ.get("CDK_DEFAULT_REGION")},
    )
    env = Environment(account=config.account, region=config.region)
    common: dict[str, Any] = {"env": env, "config": config}

    registry = RegistryStack(app, stack_name(config, "Registry"), **common)
    cognito = CognitoStack(app, stack_name(config, "Cognito"), registry=registry, **common)
    images = ImagesStack(app, stack_name(config, "Images"), registry=registry, **common)
    bridge = BridgeStack(app, stack_name(config, "Bridge"), registry=registry, **common)
    gateway = GatewayStack(app, stack_name(config, "Gateway"), cognito=cognito, bridge=bridge, **common)
    runtime = RuntimeStack(
        app,
        stack_name(config, "Runtime"),
        registry=registry,
        cognito=cognito,
        gateway=gateway,
        images=images,
        **common,
    )
    bot = None
    if config.certificate_arn:
        bot = BotStack(
            app,
            stack_name(config, "Bot"),
            registry=registry,
            cognito=cognito,
            runtime=runtime,
            images=images,
            certificate_arn=config.certificate_arn,
            **common,
        )
    else:
        print(
            "CentralOps: no certificateArn in context, so the bot stack is left out. Request an ACM "
            f"certificate for {config.domain_name} and pass -c certificateArn=arn:aws:acm:...",
            file=sys.stderr,
        )
    # Deployed into member accounts with their own credentials, so it carries no environment.
    member = MemberRoleStack(app, stack_name(config, "MemberRoles"), config=config)

    observability = ObservabilityStack(
        app,
        stack_name(config, "Observability"),
        registry=registry,
        bridge=bridge,
        runtime=runtime,
        bot=bot,
        gateway=gateway,
        **common,
    )
    alerts = EventsStack(app, stack_name(config, "Events"), registry=registry, **common)
    if bot is not None:
        for key, value in alerts.connect_bot(bot.service.task_definition.task_role).items():
            bot.service.task_definition.default_container.add_environment(key, value)  # type: ignore[union-attr]
    member_events = MemberEventsStack(app, stack_name(config, "MemberEvents"), config=config)
    deployment = Deployment(
        app, config, registry, cognito, images, bridge, gateway, runtime, bot, member, observability,
        alerts, member_events,
    )  # fmt: skip
    for stack in deployment.stacks:
        Tags.of(stack).add("application", "centralops")
        Tags.of(stack).add("centralops:deployment", config.prefix)
    return deployment


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The ``context`` of ``infra/cdk.json``, which the CDK CLI would pass (it overrides these)."""
    if not path.exists():
        return {}
    context: dict[str, Any] = json.loads(path.read_text()).get("context", {})
    return context


def main(argv: list[str] | None = None) -> None:
    """Synthesise the app: what ``cdk`` runs, and ``make synth`` / ``make deploy-check`` directly.

    Args:
        argv: ``-c key=value`` (as with ``cdk``) and ``--nag`` to fail on any cdk-nag
            AwsSolutions finding that is not acknowledged with its reason.
    """
    parser = argparse.ArgumentParser(prog="python -m infra.app", description=__doc__)
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--nag", action="store_true", help="run the cdk-nag AwsSolutions pack")
    args = parser.parse_args(argv)
    context = cdk_json_context()
    for item in args.context:
        key, separator, value = item.partition("=")
        if not separator:
            parser.error(f"-c {item}: expected key=value")
        context[key] = value
    app = new_app(context)
    try:
        build(app)
    except ConfigurationError as e:
        sys.exit(f"CentralOps: {e}")
    if args.nag:
        from cdk_nag import AwsSolutionsChecks

        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    try:
        app.synth()
    except RuntimeError as e:
        if "ValidationFailed" not in str(e):
            raise
        sys.exit(
            "CentralOps: cdk-nag reported the findings above. Fix each one, or acknowledge it next to its "
            "code with infra.stacks.findings.acknowledge and a reason, listed in docs/security-findings.md."
        )


if __name__ == "__main__":
    main()
