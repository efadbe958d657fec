"""``python -m bot``: the bot's one HTTP server (Slack, Teams when configured, the sign-in routes)."""

import logging
import sys

from aiohttp import web

from bot.alerts.setup import setup_alerts
from bot.auth_routes import setup_auth_routes
from bot.config import BotConfig
from bot.identity import IdentityLink, IdentityService
from bot.server import CONVERSATION_KEY, IDEMPOTENCY_KEY, SWEEPER_KEY, build_app
from bot.slack.http import EDGE_KEY
from bot.teams.app import TEAMS_BOT, setup_teams
from bot.teams.config import TeamsConfig
from centralops import logs, tracing
from centralops.errors import ConfigurationError

logger = logging.getLogger("bot")


def create_app(config: BotConfig | None = None) -> web.Application:
    """Assemble the production application from the environment."""
    config = config or BotConfig.from_env()
    identity = IdentityService.from_env(config=config)
    app = build_app(config, identity=identity)
    edge = app.get(EDGE_KEY)

    async def email_lookup(platform: str, team: str, user: str) -> str | None:
        if platform == "slack" and edge is not None:
            return await edge.email_of(team, user)
        if platform == "teams" and (teams_bot := app.get(TEAMS_BOT)) is not None:
            return await teams_bot.email_lookup(platform, team, user)
        return None

    async def on_linked(link: IdentityLink) -> None:
        if link.platform == "slack" and edge is not None:
            await edge.tell_linked(link.user, link.display_name)

    setup_auth_routes(app, identity, email_lookup=email_lookup, on_linked=on_linked)
    teams = TeamsConfig.from_env()
    teams_bot = (
        setup_teams(app, app[CONVERSATION_KEY], teams, guard=app[IDEMPOTENCY_KEY]) if teams.enabled else None
    )
    if teams_bot is not None:
        teams_bot.background.retry_s = config.chat_retry_s  # as long as Slack's writes keep trying
    if teams_bot is not None and (sweeper := app.get(SWEEPER_KEY)) is not None:
        sweeper.resume["teams"] = teams_bot.resume_run  # approved runs a stopped replica left
        sweeper.deliver["teams"] = teams_bot.deliver_parcel  # answers a stopped or refused renderer left
    setup_alerts(app, app[CONVERSATION_KEY], teams_bot=teams_bot)
    return app


def main() -> int:
    """Start the server; a configuration problem is reported in one line."""
    logs.configure()
    tracing.setup("bot")
    # boto3 runs in worker threads; a short GIL switch interval keeps the event loop (and so
    # Slack's 3-second acknowledgements) from waiting 5 ms behind them at every wake-up.
    sys.setswitchinterval(0.0005)
    try:
        config = BotConfig.from_env()
        app = create_app(config)
    except ConfigurationError as e:
        logger.error("cannot start the bot", extra={"reason": e.message})
        return 2
    logger.info("bot listening", extra={"host": config.host, "port": config.port})
    # A burst of Slack deliveries must not overflow the listen queue (the default is 128).
    web.run_app(app, host=config.host, port=config.port, print=None, access_log=None, backlog=1024)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
