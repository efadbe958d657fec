"""What can go wrong with identities, with messages that say how to link again."""

from centralops.errors import CentralOpsError
from centralops.platforms import login_command


class IdentityError(CentralOpsError):
    """Linking or token exchange failed."""

    code = "identity"


class NotLinkedError(IdentityError):
    """The chat user has no linked Cognito identity."""

    code = "not_linked"

    def __init__(self, platform: str) -> None:
        super().__init__(
            "Your chat account is not linked to a CentralOps sign-in yet, so I cannot act as you. "
            f"Run `{login_command(platform)}` and sign in, then ask again."
        )


class RelinkRequiredError(IdentityError):
    """The stored refresh token was revoked or has expired."""

    code = "relink_required"

    def __init__(self, platform: str) -> None:
        super().__init__(
            "Your CentralOps sign-in has expired or was revoked. "
            f"Run `{login_command(platform)}` to sign in again, then ask again."
        )
