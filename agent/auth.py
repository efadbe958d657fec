"""Who is asking: the verified Cognito identity of one invocation.

The bot exchanged the person's token for one bound to the Runtime, with itself
as actor; the agent accepts only such a token and exchanges it again for the
Gateway (:mod:`centralops.exchange`) rather than forwarding it.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from centralops.errors import InvalidTokenError
from centralops.identity import IdentityError, VerifiedCaller
from centralops.platforms import login_hint
from centralops.tokens import CognitoVerifier, bearer_token


@dataclass(frozen=True)
class Caller:
    """The person behind an invocation, as the token proves it.

    Attributes:
        token: The raw Runtime token, exchanged for the Gateway's (never logged).
        requester: The kernel's identity rule: the verified email, else the Cognito username.
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
        context = payload.get("context")
        platform = str(context.get("platform") or "") if isinstance(context, Mapping) else ""
        raise InvalidTokenError(
            f"No sign-in token came with this request. Link your chat account with {login_hint(platform or None)} "
            "and try again."
        )
    claims = verifier.verify(token)
    try:
        verified = VerifiedCaller.from_claims(claims)
    except IdentityError as e:
        raise InvalidTokenError(e.message, code=e.code) from e
    return Caller(
        token=token,
        requester=verified.requester,
        groups=frozenset(verified.groups),
        expires_at=float(claims.get("exp") or 0),
    )
