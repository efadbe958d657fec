"""The bot's one aiohttp server: Slack, Teams and the sign-in routes on one port.

:func:`build_app` assembles the core and returns the application; each edge
adds its routes with a small ``setup_*`` function (``setup_slack`` here,
``setup_auth_routes`` in :mod:`bot.auth_routes`, the Teams edge its own).
"""

import logging
from typing import Any

from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.accounts import AccountDirectory
from bot.admission import ADMISSION_KEY, Admission
from bot.approvals import ApprovalStore
from bot.chat import IdentityProvider
from bot.config import BotConfig
from bot.conversation import Conversation
from bot.dynamo import DynamoTable
from bot.feedback import FeedbackStore
from bot.history import RecentQueries
from bot.idempotency import IdempotencyGuard
from bot.outbox import OutboxStore, Sweeper
from bot.results import ResultFiles
from bot.runtime_client import RuntimeClient
from bot.slack.app import SlackEdge
from bot.slack.http import setup_slack
from bot.slack.render import PACE_S
from bot.stops import StopSwitch

logger = logging.getLogger(__name__)

CONVERSATION_KEY: web.AppKey[Conversation] = web.AppKey("centralops_conversation")
IDEMPOTENCY_KEY: web.AppKey[IdempotencyGuard] = web.AppKey("centralops_idempotency")
CONFIG_KEY: web.AppKey[BotConfig] = web.AppKey("centralops_bot_config")
SWEEPER_KEY: web.AppKey[Sweeper] = web.AppKey("centralops_outbox_sweeper")


async def health(_: web.Request) -> web.Response:
    """``GET /health``: the process is up and serving."""
    return web.json_response({"status": "ok"})


def build_conversation(
    config: BotConfig,
    *,
    identity: IdentityProvider,
    runtime: RuntimeClient | None = None,
    dynamodb: Any = None,
) -> tuple[Conversation, IdempotencyGuard]:
    """The platform-free core and the idempotency guard, from settings.

    Args:
        config: Bot settings.
        identity: The identity service.
        runtime: The Runtime client; built from ``config`` when omitted.
        dynamodb: A boto3 DynamoDB client shared by the tables; created lazily when omitted.
    """

    # One DynamoDB client (one connection pool) for every table: built once, on first use.
    idempotency_table = DynamoTable(
        config.idempotency_table, client=dynamodb, region=config.region, endpoint_url=config.endpoint_url
    )

    def table(name: str) -> DynamoTable:
        return idempotency_table.sibling(name)

    conversation = Conversation(
        identity=identity,
        runtime=runtime
        or RuntimeClient(
            config.runtime_url, timeout_s=config.runtime_timeout_s, exchanger=config.exchanger()
        ),
        approvals=ApprovalStore(table(config.approvals_table)),
        accounts=AccountDirectory(table(config.accounts_table)),
        history=RecentQueries(idempotency_table),
        approver_group=config.approver_group,
        files=ResultFiles(config.results_bucket, region=config.region, endpoint_url=config.endpoint_url),
        feedback=FeedbackStore(idempotency_table),
        stops=StopSwitch(idempotency_table),
        stop_after_s=config.stop_after_s,
    )
    return conversation, IdempotencyGuard(idempotency_table)


def build_app(
    config: BotConfig,
    *,
    identity: IdentityProvider,
    runtime: RuntimeClient | None = None,
    dynamodb: Any = None,
    slack_client: AsyncWebClient | None = None,
    pace_s: float = PACE_S,
    sweep_s: float = 5.0,
) -> web.Application:
    """The aiohttp application with ``/health`` and, when configured, Slack (``/slack/events``, Socket Mode).

    Other edges register on the returned app: ``app[CONVERSATION_KEY]`` is the
    shared core, ``app[IDEMPOTENCY_KEY]`` the duplicate-delivery guard.

    Args:
        config: Bot settings.
        identity: The identity service.
        runtime: The Runtime client; built from ``config`` when omitted.
        dynamodb: A boto3 DynamoDB client; created lazily when omitted.
        slack_client: The Slack Web API client; built from ``config`` when omitted.
        pace_s: Minimum seconds between two paced Slack calls of one answer.
        sweep_s: Seconds between two looks at the outbox for answers a stopped replica left.
    """
    conversation, idempotency = build_conversation(
        config, identity=identity, runtime=runtime, dynamodb=dynamodb
    )
    app = web.Application()
    app[CONFIG_KEY] = config
    app[CONVERSATION_KEY] = conversation
    app[IDEMPOTENCY_KEY] = idempotency
    app.router.add_get("/health", health)
    app[ADMISSION_KEY] = Admission(running=config.max_answers, queued=config.max_queued)
    store = (
        OutboxStore(idempotency.table.sibling(config.outbox_table), lease_s=config.outbox_lease_s)
        if config.outbox_table
        else None
    )
    if store is not None:
        # Each edge registers how it shows a kept answer and resumes a kept approved run.
        conversation.outbox = store
        sweeper = Sweeper(store, {}, every_s=sweep_s)
        app[SWEEPER_KEY] = sweeper

        async def start_sweeping(_: web.Application) -> None:
            sweeper.start()

        async def stop_sweeping(_: web.Application) -> None:
            await sweeper.stop()

        app.on_startup.append(start_sweeping)
        app.on_cleanup.append(stop_sweeping)
    if config.slack_enabled:
        edge = SlackEdge(
            config,
            conversation,
            idempotency,
            client=slack_client,
            pace_s=pace_s,
            outbox=store,
            admission=app[ADMISSION_KEY],
        )
        setup_slack(app, edge, app_token=config.slack_app_token)
        if store is not None:
            sweeper.deliver["slack"] = edge.deliver_parcel
            sweeper.resume["slack"] = edge.resume_run
    else:
        logger.warning("slack disabled: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN)")

    async def close_runtime(_: web.Application) -> None:
        await conversation.runtime.close()

    app.on_cleanup.append(close_runtime)
    return app
