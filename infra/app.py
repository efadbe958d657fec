"""The CentralOps CDK app: every stack of one deployment, configured through context.

Run from the repository root (``npx cdk synth`` there picks up ``cdk.json``), or
from ``infra/`` with ``infra/cdk.json``. See ``docs/deploy.md``.
"""

import os
import sys
from dataclasses import dataclass
from typing import Any

from aws_cdk import App, Environment, Stack, Tags

from infra.stacks.bot import BotStack
from infra.stacks.bridge import BridgeStack
from infra.stacks.cognito import CognitoStack
from infra.stacks.config import DeploymentConfig
from infra.stacks.gateway import GatewayStack
from infra.stacks.images import ImagesStack
from infra.stacks.member import MemberRoleStack
from infra.stacks.observability import ObservabilityStack
from infra.stacks.registry import RegistryStack
from infra.stacks.runtime import RuntimeStack

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

    @property
    def stacks(self) -> list[Stack]:
        """Every stack that was built."""
        built = [self.registry, self.cognito, self.images, self.bridge, self.gateway, self.runtime, self.bot]
        return [stack for stack in [*built, self.member, self.observability] if stack is not None]


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
    cognito = CognitoStack(app, stack_name(config, "Cognito"), **common)
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
        **common,
    )
    deployment = Deployment(
        app, config, registry, cognito, images, bridge, gateway, runtime, bot, member, observability
    )
    for stack in deployment.stacks:
        Tags.of(stack).add("application", "centralops")
        Tags.of(stack).add("centralops:deployment", config.prefix)
    return deployment


def main() -> None:
    """Synthesise the app (what ``cdk`` runs)."""
    app = new_app()
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
