"""Where the user pool, its app client and its hosted UI are."""

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from centralops import settings
from centralops.tokens import CognitoVerifier, cognito_issuer


def secret_hash(client_secret: str, username: str, client_id: str) -> str:
    """Cognito's ``SECRET_HASH`` for app clients that have a secret."""
    digest = hmac.new(client_secret.encode(), (username + client_id).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True)
class CognitoSettings:
    """Where the user pool, its app client and its hosted UI are.

    Attributes:
        user_pool_id: The pool's id (``us-east-1_AbC``).
        client_id: The bot's app client (public: no secret, PKCE).
        domain_url: Base URL of the hosted UI (``https://<domain>.auth.<region>.amazoncognito.com``).
        region: The pool's region.
        client_secret: Only for an app client that has a secret.
        issuer: Expected ``iss``; derived from region and pool when omitted.
        jwks_url: Where the keys are served; ``{issuer}/.well-known/jwks.json`` when omitted.
        scopes: OAuth scopes requested at sign-in.
    """

    user_pool_id: str
    client_id: str
    domain_url: str
    region: str = "us-east-1"
    client_secret: str | None = None
    issuer: str | None = None
    jwks_url: str | None = None
    scopes: tuple[str, ...] = ("openid", "email", "profile")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "CognitoSettings":
        """Read the ``CENTRALOPS_COGNITO_*`` settings.

        Raises:
            ConfigurationError: A required variable is missing.
        """
        return cls(
            user_pool_id=settings.env_str(settings.COGNITO_USER_POOL_ID, environ=environ),
            client_id=settings.env_str(settings.COGNITO_CLIENT_ID, environ=environ),
            domain_url=settings.env_str(settings.COGNITO_DOMAIN_URL, environ=environ).rstrip("/"),
            region=settings.env_str(settings.AWS_REGION, "us-east-1", environ=environ),
            client_secret=settings.env_opt(settings.COGNITO_CLIENT_SECRET, environ=environ),
            issuer=settings.env_opt(settings.COGNITO_ISSUER, environ=environ),
            jwks_url=settings.env_opt(settings.COGNITO_JWKS_URL, environ=environ),
        )

    @property
    def expected_issuer(self) -> str:
        """The ``iss`` tokens of this pool carry."""
        return self.issuer or cognito_issuer(self.region, self.user_pool_id)

    def client_auth_headers(self) -> dict[str, str]:
        """HTTP Basic client authentication for the hosted UI's endpoints (none for a public client)."""
        if not self.client_secret:
            return {}
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}

    def verifier(self) -> CognitoVerifier:
        """A verifier for ID tokens of this pool and client."""
        return CognitoVerifier(issuer=self.expected_issuer, audience=self.client_id, jwks_url=self.jwks_url)
