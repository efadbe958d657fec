"""What a person types on each chat platform, so that every message names the right command.

The bot speaks Slack and Teams, the agent and the kernel raise errors a person
reads on one of them: each builds its words here from the platform it serves
(``context.platform`` on the Runtime contract), never with a command written in.
"""

from collections.abc import Mapping
from typing import Final

SLACK: Final = "slack"
TEAMS: Final = "teams"

LOGIN_COMMANDS: Final[Mapping[str, str]] = {SLACK: "/aws login", TEAMS: "login"}
"""What a user types, per platform, to link their chat account."""


def login_command(platform: str | None) -> str:
    """``/aws login`` in Slack, ``login`` in Teams (Slack's when the platform is not one of them)."""
    return LOGIN_COMMANDS.get(platform or "", LOGIN_COMMANDS[SLACK])


def login_hint(platform: str | None) -> str:
    """The login command in backticks, for a known platform; both platforms' when it is unknown.

    ``None`` is for a message whose reader's platform nobody knows (a token without its chat context).
    """
    command = LOGIN_COMMANDS.get(platform or "")
    if command:
        return f"`{command}`"
    return f"`{LOGIN_COMMANDS[SLACK]}` in Slack, `{LOGIN_COMMANDS[TEAMS]}` in Teams"
