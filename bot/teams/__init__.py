"""The Microsoft Teams edge: Bot Framework activities in, cards and streamed answers out.

Built on the Microsoft 365 Agents SDK; see ``docs/teams.md``.
"""

from bot.teams.app import TeamsBot, setup_teams
from bot.teams.config import TeamsConfig

__all__ = ["TeamsBot", "TeamsConfig", "setup_teams"]
