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

    user_pool_id: str = settings.setting(settings.COGNITO_USER_POOL_ID)
    client_id: str = settings.setting(settings.COGNITO_CLIENT_ID)
    domain_url: str = settings.setting(settings.COGNITO_DOMAIN_URL, transform=lambda url: url.rstrip("/"))
    region: str = settings.setting(settings.AWS_REGION, "us-east-1")
    client_secret: str | None = settings.setting(
        settings.COGNITO_CLIENT_SECRET, reader=settings.env_opt, repr=False
    )
    issuer: str | None = settings.setting(settings.COGNITO_ISSUER, reader=settings.env_opt)
    jwks_url: str | None = settings.setting(settings.COGNITO_JWKS_URL, reader=settings.env_opt)
    scopes: tuple[str, ...] = settings.fixed(("openid", "email", "profile"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "CognitoSettings":
        """Read the ``CENTRALOPS_COGNITO_*`` settings.

        Raises:
            ConfigurationError: A required variable is missing.
        """
        return settings.from_env(cls, environ)

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
