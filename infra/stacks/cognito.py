"""The Cognito stack: the user pool every hop trusts, its hosted UI, and the app clients.

Tokens are bound to their hop by RFC 8693 token exchange (``GetDerivedToken``),
which needs the Essentials (or Plus) feature plan. Each hop is a resource
server whose identifier is the audience of its tokens; the bot and the agent
each have a confidential app client that exchanges a person's token with
itself as actor (``ALLOW_TOKEN_EXCHANGE_DELEGATION``) and obtains its actor
token by client credentials.
"""

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, SecretValue, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.stacks.config import DeploymentConfig
from infra.stacks.findings import accept, acknowledge
from infra.stacks.registry import RegistryStack

AUTH_CALLBACK_PATH = "/auth/callback"
DELEGATION_FLOW = "ALLOW_TOKEN_EXCHANGE_DELEGATION"


class CognitoStack(Stack):
    """One user pool; its ID tokens are what the Runtime and the Gateway accept.

    Attributes:
        user_pool: The pool (Essentials feature plan: token exchange).
        client: The bot's public app client (authorization code + PKCE, refresh tokens).
        runtime_audience: The Runtime's resource server identifier (``aud`` of the tokens it accepts).
        gateway_audience: The Gateway's resource server identifier.
        bot_service_client: The bot's confidential client: exchanges for the Runtime, acts as the bot.
        agent_service_client: The agent's confidential client: exchanges for the Gateway, acts as the agent.
        bot_service_secret: The bot's client secret, in Secrets Manager; only the bot may read it.
        agent_service_secret: The agent's client secret, in Secrets Manager; only the agent may read it.
        issuer: ``https://cognito-idp.<region>.amazonaws.com/<pool id>``.
        discovery_url: The OpenID discovery document the JWT authorizers read.
        domain_url: Base URL of the hosted UI.
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
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=f"{config.prefix}-users",
            feature_plan=cognito.FeaturePlan.ESSENTIALS,  # token exchange is an Essentials/Plus feature
            self_sign_up_enabled=False,
            # People sign in with their email, which is their username (UsernameAttributes: email):
            # `admin-create-user --username alice@example.com` works, and the chat email matches it.
            # Both settings are immutable once the pool exists.
            sign_in_aliases=cognito.SignInAliases(email=True),
            sign_in_case_sensitive=False,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG2",
            "MFA (TOTP) is optional so that administrators can roll it out; the pool has no self sign-up.",
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG8",
            "Threat protection (Plus plan) is a paid choice for the platform team; only administrators create users.",
        )
        self.domain = self.user_pool.add_domain(
            "HostedUi",
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=config.hosted_ui_prefix),
        )
        callback_url = config.bot_url + AUTH_CALLBACK_PATH
        self.client = self.user_pool.add_client(
            "BotClient",
            user_pool_client_name=f"{config.prefix}-bot",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True, admin_user_password=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
                callback_urls=[callback_url],
                logout_urls=[config.bot_url + "/"],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
        )
        self._add_access_token_claims(config, registry)
        self.runtime_audience, runtime_scope = self._audience("RuntimeAudience", f"{config.prefix}-runtime")
        self.gateway_audience, gateway_scope = self._audience("GatewayAudience", f"{config.prefix}-gateway")
        self.bot_service_client = self._service_client(
            "BotServiceClient", f"{config.prefix}-bot-service", runtime_scope
        )
        self.agent_service_client = self._service_client(
            "AgentServiceClient", f"{config.prefix}-agent-service", gateway_scope
        )
        # The registry's key by reference: a reader's decrypt grant then goes on its own role, not into
        # the key's policy (which would make the registry depend on every reader's stack).
        key = kms.Key.from_key_arn(self, "SecretsKey", registry.key.key_arn)
        self.bot_service_secret = self._client_secret("BotServiceSecret", "bot", self.bot_service_client, key)
        self.agent_service_secret = self._client_secret(
            "AgentServiceSecret", "agent", self.agent_service_client, key
        )
        self.groups = {
            name: cognito.CfnUserPoolGroup(
                self,
                f"Group{index}",
                user_pool_id=self.user_pool.user_pool_id,
                group_name=name,
                description=description,
            )
            for index, (name, description) in enumerate(
                [
                    (config.user_group, "May ask CentralOps about the accounts it is entitled to"),
                    (config.approver_group, "May approve mutating commands requested in chat"),
                ]
            )
        }

        self.issuer = f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool.user_pool_id}"
        self.discovery_url = f"{self.issuer}/.well-known/openid-configuration"
        self.jwks_url = f"{self.issuer}/.well-known/jwks.json"
        self.domain_url = self.domain.base_url()

        CfnOutput(self, "UserPoolId", value=self.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=self.client.user_pool_client_id)
        CfnOutput(self, "UserPoolDomainUrl", value=self.domain_url)
        CfnOutput(self, "RuntimeAudience", value=self.runtime_audience)
        CfnOutput(self, "GatewayAudience", value=self.gateway_audience)
        CfnOutput(self, "BotServiceClientId", value=self.bot_service_client.user_pool_client_id)
        CfnOutput(self, "AgentServiceClientId", value=self.agent_service_client.user_pool_client_id)
        CfnOutput(self, "Issuer", value=self.issuer)
        CfnOutput(self, "CallbackUrl", value=callback_url)
        CfnOutput(self, "ApproverGroup", value=config.approver_group)
        CfnOutput(self, "UserGroup", value=config.user_group)

    def grant_token_exchange(self, grantee: iam.IGrantable) -> None:
        """Let a service exchange tokens in the pool, and nothing else there.

        Not ``DescribeUserPoolClient``: it has no per-client permission, so it would let each service
        read every client's secret. Each service reads its own from its Secrets Manager secret instead.
        """
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["cognito-idp:GetDerivedToken"],
            resource_arns=[self.user_pool.user_pool_arn],
        )

    def _client_secret(
        self, construct_id: str, service: str, client: cognito.UserPoolClient, key: kms.IKey
    ) -> secretsmanager.Secret:
        """The client's secret as CloudFormation reads it from Cognito, in a Secrets Manager secret of its own."""
        cfn = client.node.default_child
        assert isinstance(cfn, cognito.CfnUserPoolClient)  # noqa: S101 - the L2 construct's own L1
        secret = secretsmanager.Secret(
            self,
            construct_id,
            description=f"CentralOps {service}: its Cognito app client's secret (token exchange)",
            encryption_key=key,
            # Never written in the template: CloudFormation resolves the client's attribute at deploy time.
            secret_string_value=SecretValue.resource_attribute(cfn.attr_client_secret),
            # Derived from the client: a redeploy writes it again, so nothing is lost with the stack.
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "Cognito owns this value; rotating it means a new client secret, which a redeploy copies here.",
        )
        accept(
            secret,
            "CKV2_AWS_57",
            "Cognito owns this value; rotating it means a new client secret, which a redeploy copies here.",
        )
        return secret

    def _add_access_token_claims(self, config: DeploymentConfig, registry: RegistryStack) -> None:
        """The pre token generation trigger (v2) that puts the person's email into access tokens."""
        source = Path(__file__).parent / "triggers" / "access_token_claims.py"
        log_group = logs.LogGroup(
            self,
            "AccessTokenClaimsLogs",
            log_group_name=f"/aws/lambda/{config.prefix}-access-token-claims",
            retention=logs.RetentionDays.THREE_MONTHS,
            encryption_key=registry.key,
            # Kept on update and delete, removed when a first creation rolls back, so a retry can reuse the name.
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )
        role = iam.Role(
            self,
            "AccessTokenClaimsRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="CentralOps access-token claims trigger: may only write its own logs",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        )
        function = lambda_.Function(
            self,
            "AccessTokenClaims",
            role=role,
            function_name=f"{config.prefix}-access-token-claims",
            description="CentralOps: adds the email and whether it is verified to access tokens",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            handler="index.handler",
            code=lambda_.Code.from_inline(source.read_text()),
            timeout=Duration.seconds(5),
            memory_size=128,
            log_group=log_group,
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "Python 3.12 on purpose, as the bridge and the interceptor: one runtime for every CentralOps function.",
        )
        self.user_pool.add_trigger(
            cognito.UserPoolOperation.PRE_TOKEN_GENERATION_CONFIG, function, cognito.LambdaVersion.V2_0
        )
        accept(
            function,
            "CKV_AWS_116",
            "Cognito invokes the trigger synchronously; a DLQ only serves async calls.",
        )
        accept(function, "CKV_AWS_117", "The trigger calls no network service; a VPC would add nothing.")
        accept(
            function,
            "CKV_AWS_115",
            "Cognito calls it once per token issued; reserving concurrency could fail sign-ins under load.",
        )
        accept(function, "CKV_AWS_173", "The function has no environment variables.")

    def _audience(self, construct_id: str, identifier: str) -> tuple[str, cognito.OAuthScope]:
        """A resource server (one hop's audience) and its scope for the service clients."""
        scope = cognito.ResourceServerScope(
            scope_name="invoke", scope_description="Call this hop for a person"
        )
        server = self.user_pool.add_resource_server(
            construct_id, identifier=identifier, user_pool_resource_server_name=identifier, scopes=[scope]
        )
        return server.user_pool_resource_server_id, cognito.OAuthScope.resource_server(server, scope)

    def _service_client(
        self, construct_id: str, name: str, scope: cognito.OAuthScope
    ) -> cognito.UserPoolClient:
        """A confidential client that exchanges tokens with itself as actor (client credentials for the actor)."""
        client = self.user_pool.add_client(
            construct_id,
            user_pool_client_name=name,
            generate_secret=True,
            o_auth=cognito.OAuthSettings(flows=cognito.OAuthFlows(client_credentials=True), scopes=[scope]),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            access_token_validity=Duration.hours(1),
        )
        # The CDK's AuthFlow has no token-exchange flows yet: set the CloudFormation property itself.
        cfn = client.node.default_child
        assert isinstance(cfn, cognito.CfnUserPoolClient)  # noqa: S101 - the L2 construct's own L1
        cfn.explicit_auth_flows = [DELEGATION_FLOW, "ALLOW_REFRESH_TOKEN_AUTH"]
        # cfn-lint 1.58's resource schema predates token exchange (2026-11-12) and does not list this flow
        # yet; only this client's enum check is silenced, every other rule still applies to it.
        cfn.add_metadata("cfn-lint", {"config": {"ignore_checks": ["E3030"]}})
        return client
