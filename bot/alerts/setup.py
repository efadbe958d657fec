"""Wire alerts into the bot's server: the core's commands, the Slack and Teams edges, the queue consumer."""

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from bot.accounts import AccountDirectory
from bot.alerts import slack as slack_alerts
from bot.alerts.config import AlertsConfig
from bot.alerts.consumer import AlertConsumer
from bot.alerts.manage import AlertCommands
from bot.alerts.router import AlertRouter, Poster
from bot.alerts.store import AlertStore
from bot.conversation import Conversation
from bot.dynamo import DynamoTable
from bot.slack.http import EDGE_KEY

logger = logging.getLogger(__name__)

ALERTS_KEY: web.AppKey["Alerts"] = web.AppKey("centralops_alerts")


class Alerts:
    """The alerts feature of one bot replica."""

    def __init__(
        self, store: AlertStore, router: AlertRouter, commands: AlertCommands, consumer: AlertConsumer | None
    ) -> None:
        self.store = store
        self.router = router
        self.commands = commands
        self.consumer = consumer
        self._task: asyncio.Task[None] | None = None

    async def start(self, _app: web.Application | None = None) -> None:
        """Start consuming the queue (when one is configured)."""
        if self.consumer is not None and self._task is None:
            self._task = asyncio.create_task(self.consumer.run())

    async def stop(self, _app: web.Application | None = None) -> None:
        """Stop consuming; unfinished messages return to the queue by themselves."""
        if self.consumer is not None:
            await self.consumer.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


def setup_alerts(
    app: web.Application,
    conversation: Conversation,
    config: AlertsConfig | None = None,
    *,
    dynamodb: Any = None,
    sqs: Any = None,
    teams_bot: Any = None,
    consume: bool = True,
    clock: Any = None,
) -> Alerts:
    """Add alerts to the bot's application (after Slack and Teams are set up).

    Args:
        app: The server's application (not started yet).
        conversation: The shared core; gains the ``subscribe`` family of commands.
        config: Alerts settings; from the environment when omitted.
        dynamodb: A boto3 DynamoDB client; created lazily when omitted.
        sqs: A boto3 SQS client; created lazily when omitted.
        teams_bot: The Teams edge, when Teams is on.
        consume: Start the queue consumer with the server (tests drive it themselves).
        clock: Seconds since the epoch, for the router (tests move it).
    """
    config = config or AlertsConfig.from_env()
    store = AlertStore(
        DynamoTable(
            config.alerts_table, client=dynamodb, region=config.region, endpoint_url=config.endpoint_url
        )
    )
    posters: dict[str, Poster] = {}
    edge = app.get(EDGE_KEY)
    if edge is not None:
        posters["slack"] = slack_alerts.SlackAlertPoster(edge.app.client)
    teams_poster = None
    if teams_bot is not None:
        from bot.alerts import teams as teams_alerts

        teams_poster = teams_alerts.TeamsAlertPoster(teams_bot, store)
        posters["teams"] = teams_poster
    router = AlertRouter(store, posters, per_minute=config.per_minute, **({"clock": clock} if clock else {}))
    commands = AlertCommands(conversation, store, router, admin_group=config.admin_group)
    conversation.alerts = commands
    if edge is not None:
        slack_alerts.register(edge, commands)
    if teams_bot is not None and teams_poster is not None:
        from bot.alerts import teams as teams_alerts

        teams_alerts.register(teams_bot, commands, teams_poster)
    consumer = None
    if config.queue_url:
        consumer = AlertConsumer(
            router,
            AccountDirectory(conversation.accounts.table),
            queue_url=config.queue_url,
            dead_letter_url=config.dead_letter_url,
            sqs=sqs,
            region=config.region,
            endpoint_url=config.endpoint_url,
            wait_s=config.wait_s,
        )
    alerts = Alerts(store, router, commands, consumer)
    app[ALERTS_KEY] = alerts
    if consume:
        app.on_startup.append(alerts.start)
    app.on_shutdown.append(alerts.stop)
    return alerts
