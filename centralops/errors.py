"""The exception base shared by every CentralOps package."""


class CentralOpsError(Exception):
    """Base of every error CentralOps raises on purpose.

    Attributes:
        code: A short machine-readable code (``invalid_token``, ``unknown_account``...).
        message: What happened and what the person should do next.
    """

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigurationError(CentralOpsError):
    """A required setting is missing or malformed."""

    code = "configuration"


class InvalidTokenError(CentralOpsError):
    """A bearer token failed verification."""

    code = "invalid_token"
