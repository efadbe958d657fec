"""The bridge's errors: each carries a code and a message a person can act on."""

from centralops.errors import CentralOpsError


class BridgeError(CentralOpsError):
    """Anything the bridge refuses or fails to do; becomes an error result, never an exception."""

    code = "bridge_error"


class CommandRefused(BridgeError):
    """The command was refused before any AWS call."""

    code = "command_refused"


class ApprovalRefused(BridgeError):
    """A mutating command has no usable approval."""

    code = "approval_required"


class AccountError(BridgeError):
    """The account is unknown, disabled or cannot be entered."""

    code = "account_error"


class AwsMcpError(BridgeError):
    """The AWS MCP Server failed or could not be reached."""

    code = "aws_mcp_error"
