"""The Cognito stack: the user pool every hop trusts, its hosted UI and the bot's app client."""

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from infra.stacks.config import DeploymentConfig
from infra.stacks.findings import acknowledge

AUTH_CALLBACK_PATH = "/auth/callback"


class CognitoStack(Stack):
    """One user pool; its ID tokens are what the Runtime and the Gateway accept.

    Attributes:
        user_pool: The pool.
        client: The bot's public app client (authorization code + PKCE, refresh tokens).
        issuer: ``https://cognito-idp.<region>.amazonaws.com/<pool id>``.
        discovery_url: The OpenID discovery document the JWT authorizers read.
        domain_url: Base URL of the hosted UI.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeploymentConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=f"{config.prefix}-users",
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
        CfnOutput(self, "Issuer", value=self.issuer)
        CfnOutput(self, "CallbackUrl", value=callback_url)
        CfnOutput(self, "ApproverGroup", value=config.approver_group)
        CfnOutput(self, "UserGroup", value=config.user_group)
