"""The images stack: ECR repositories for the agent and the bot, deployed before the images exist."""

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_ecr as ecr
from constructs import Construct

from infra.stacks.config import DeploymentConfig
from infra.stacks.registry import RegistryStack


class ImagesStack(Stack):
    """Two private repositories, scanned on push, immutable tags, encrypted with the CMK.

    They live apart from the Runtime and the bot service because those can only be
    created once an image has been pushed.

    Attributes:
        agent: Repository of the agent image (ARM64).
        bot: Repository of the bot image (ARM64).
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
        self.agent = self._repository("Agent", f"{config.prefix}-agent", registry)
        self.bot = self._repository("Bot", f"{config.prefix}-bot", registry)
        CfnOutput(self, "AgentRepositoryUri", value=self.agent.repository_uri)
        CfnOutput(self, "BotRepositoryUri", value=self.bot.repository_uri)

    def _repository(self, construct_id: str, name: str, registry: RegistryStack) -> ecr.Repository:
        return ecr.Repository(
            self,
            construct_id,
            repository_name=name,
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            encryption=ecr.RepositoryEncryption.KMS,
            encryption_key=registry.key,
            lifecycle_rules=[ecr.LifecycleRule(description="Keep the last 30 images", max_image_count=30)],
            # Kept on delete; removed if the first creation rolls back, so a retry can reuse the name.
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
