"""Who is asking: the verified Cognito identity of one invocation."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from centralops.errors import InvalidTokenError
from centralops.tokens import CognitoVerifier, bearer_token


@dataclass(frozen=True)
class Caller:
    """The person behind an invocation, as the token proves it.

    Attributes:
        token: The raw ID token, forwarded to the Gateway (never logged).
        requester: ``email`` claim, else ``cognito:username``.
        groups: The token's ``cognito:groups``.
        expires_at: The token's ``exp`` (epoch seconds).
    """

    token: str = field(repr=False)
    requester: str
    groups: frozenset[str]
    expires_at: float = 0.0


def token_from(headers: Mapping[str, str] | None, payload: Mapping[str, Any]) -> str | None:
    """The bearer token of ``Authorization``, else the body's ``access_token``."""
    for name, value in (headers or {}).items():
        if name.lower() == "authorization":
            token = bearer_token(value)
            if token:
                return token
    body_token = payload.get("access_token")
    return body_token if isinstance(body_token, str) and body_token else None


def authenticate(
    verifier: CognitoVerifier, headers: Mapping[str, str] | None, payload: Mapping[str, Any]
) -> Caller:
    """Verify the invocation's token and say who the caller is.

    Raises:
        InvalidTokenError: No token, or it failed verification; the message says what to do.
    """
    token = token_from(headers, payload)
    if not token:
        raise InvalidTokenError(
            "No sign-in token came with this request. Link your chat account with `/aws login` and try again."
        )
    claims = verifier.verify(token)
    requester = str(claims.get("email") or claims.get("cognito:username") or "")
    if not requester:
        raise InvalidTokenError("The token names no user (no email or cognito:username). Sign in again.")
    groups = claims.get("cognito:groups") or []
    return Caller(
        token=token,
        requester=requester,
        groups=frozenset(str(g) for g in groups),
        expires_at=float(claims.get("exp") or 0),
    )
