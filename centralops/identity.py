"""Who a verified token names, and the stamp that carries it to the bridge.

One rule, used by the agent, the bot, the Gateway interceptor and the bridge:

- the *requester* is the token's email when ``email_verified`` is true (``true``
  or ``"true"``), lower-cased;
- otherwise it is the Cognito username, unless that username is shaped like an
  email address: an unverified address proves nothing, so it could name
  someone else, and the caller is refused instead.

The Gateway interceptor writes the verified caller into the tool arguments
under :data:`CALLER_KEY`; the bridge believes nothing else.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from centralops.errors import CentralOpsError
from centralops.tokens import actor_of

__all__ = ["CALLER_KEY", "IdentityError", "VerifiedCaller", "actor_of", "email_verified", "requester_of"]

CALLER_KEY = "centralops_caller"
"""The one reserved tool-argument key the Gateway interceptor stamps the verified caller under."""

_MAX_GROUPS = 100
_MAX_TEXT = 256


class IdentityError(CentralOpsError):
    """A verified token (or a stamp) does not name a person CentralOps can act for."""

    code = "unverified_identity"


def email_verified(claims: Mapping[str, Any]) -> bool:
    """Whether the claims say the email is verified (Cognito writes ``true`` or ``"true"``)."""
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def requester_of(email: str | None, username: str | None) -> str:
    """The requester from a *verified* email (or ``None``) and the Cognito username.

    Raises:
        IdentityError: Neither names the person safely.
    """
    if email:
        return email.strip().lower()
    name = (username or "").strip()
    if name and "@" not in name:
        return name
    if name:
        raise IdentityError(
            "Your sign-in has no verified email and your username looks like an email address, so CentralOps "
            "cannot tell you apart from that address's owner. Ask an administrator to verify your email, "
            "then sign in again.",
            code="unverified_email",
        )
    raise IdentityError(
        "Your sign-in names no user (no verified email, no username). Sign in again.", code="missing_identity"
    )


def _text(value: Any) -> str:
    return value.strip()[:_MAX_TEXT] if isinstance(value, str) else ""


@dataclass(frozen=True)
class VerifiedCaller:
    """The person a verified token names.

    Attributes:
        subject: The token's ``sub``.
        username: ``cognito:username`` (``username`` in access tokens).
        groups: ``cognito:groups``.
        email: The email, only when the token says it is verified.
    """

    subject: str
    username: str
    groups: tuple[str, ...] = ()
    email: str | None = None

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> "VerifiedCaller":
        """The caller of verified claims (an email that is not verified is dropped).

        Raises:
            IdentityError: The claims name nobody CentralOps can act for.
        """
        raw_groups = claims.get("cognito:groups") or []
        groups = raw_groups if isinstance(raw_groups, list) else [raw_groups]
        email = _text(claims.get("email")) if email_verified(claims) else ""
        caller = cls(
            subject=_text(claims.get("sub")),
            username=_text(claims.get("cognito:username") or claims.get("username")),
            groups=tuple(dict.fromkeys(str(g) for g in groups if isinstance(g, str) and g))[:_MAX_GROUPS],
            email=email.lower() or None,
        )
        caller.requester  # noqa: B018 - refuse a caller without a safe name now, not later
        return caller

    @property
    def requester(self) -> str:
        """The derived identity: verified email, else the username (see the module's rule).

        Raises:
            IdentityError: Neither names the person safely.
        """
        return requester_of(self.email, self.username)

    def to_stamp(self) -> dict[str, Any]:
        """The value the interceptor writes under :data:`CALLER_KEY`."""
        stamp: dict[str, Any] = {"sub": self.subject, "username": self.username, "groups": list(self.groups)}
        if self.email:
            stamp["email"] = self.email
        return stamp

    @classmethod
    def from_stamp(cls, value: Any) -> "VerifiedCaller":
        """Read a stamp written by :meth:`to_stamp`.

        Raises:
            IdentityError: The stamp is absent or malformed (code ``missing_caller``), or names nobody.
        """
        if not isinstance(value, Mapping):
            raise IdentityError(
                "The call carries no verified caller. Tools run only through the CentralOps Gateway, which "
                "stamps the signed-in person on every call; call it with your own sign-in token.",
                code="missing_caller",
            )
        sub, username, groups, email = (value.get(k) for k in ("sub", "username", "groups", "email"))
        if (
            not isinstance(sub, str)
            or not isinstance(username, str)
            or not isinstance(groups, list)
            or not all(isinstance(g, str) for g in groups)
            or not (email is None or isinstance(email, str))
            or set(value) - {"sub", "username", "groups", "email"}
        ):
            raise IdentityError(
                "The call's verified caller is malformed, so CentralOps cannot tell who asks. Call the tools "
                "through the CentralOps Gateway with your own sign-in token.",
                code="missing_caller",
            )
        caller = cls(subject=sub, username=username, groups=tuple(groups), email=email or None)
        caller.requester  # noqa: B018 - a stamp that names nobody is refused here
        return caller
