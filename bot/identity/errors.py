"""What can go wrong with identities, with messages that say how to link again."""

from collections.abc import Mapping

from centralops.errors import CentralOpsError

LOGIN_COMMANDS: Mapping[str, str] = {"slack": "/aws login", "teams": "login"}
"""What a user types, per platform, to link their account."""


def _login_hint(platform: str) -> str:
    return LOGIN_COMMANDS.get(platform, "/aws login")


class IdentityError(CentralOpsError):
    """Linking or token exchange failed."""

    code = "identity"


class NotLinkedError(IdentityError):
    """The chat user has no linked Cognito identity."""

    code = "not_linked"

    def __init__(self, platform: str) -> None:
        super().__init__(
            "Your chat account is not linked to a CentralOps sign-in yet, so I cannot act as you. "
            f"Run `{_login_hint(platform)}` and sign in, then ask again."
        )


class RelinkRequiredError(IdentityError):
    """The stored refresh token was revoked or has expired."""

    code = "relink_required"

    def __init__(self, platform: str) -> None:
        super().__init__(
            "Your CentralOps sign-in has expired or was revoked. "
            f"Run `{_login_hint(platform)}` to sign in again, then ask again."
        )
