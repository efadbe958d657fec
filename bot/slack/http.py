"""Slack on the bot's aiohttp server: one URL for commands, events and interactivity; or Socket Mode."""

import logging

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.slack.app import SlackEdge

logger = logging.getLogger(__name__)

EDGE_KEY: web.AppKey[SlackEdge] = web.AppKey("centralops_slack_edge")
PATH = "/slack/events"


def setup_slack(app: web.Application, edge: SlackEdge, *, app_token: str | None = None) -> None:
    """Serve ``POST /slack/events``; with ``app_token``, also connect over Socket Mode.

    Args:
        app: The bot's aiohttp application.
        edge: The Slack edge (its Bolt app verifies every signature).
        app_token: An ``xapp-`` token: Slack then talks over a WebSocket instead of HTTP.
    """
    app[EDGE_KEY] = edge

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await edge.app.async_dispatch(await to_bolt_request(request)))

    async def open_session(_: web.Application) -> None:
        # One connection pool for every Web API call (Bolt copies it into each request's client);
        # without it slack-sdk opens a new session and connection per call.
        edge.app.client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def close_session(_: web.Application) -> None:
        if edge.app.client.session is not None:
            await edge.app.client.session.close()

    app.on_startup.append(open_session)
    app.on_cleanup.append(close_session)

    # Without a signing secret nothing over HTTP could be verified: serve Slack over Socket Mode only.
    if edge.config.slack_signing_secret:
        app.router.add_post(PATH, events)
    if app_token:
        handler = AsyncSocketModeHandler(edge.app, app_token)

        async def connect(_: web.Application) -> None:
            await handler.connect_async()
            logger.info("slack socket mode connected")

        async def disconnect(_: web.Application) -> None:
            await handler.close_async()

        app.on_startup.append(connect)
        app.on_cleanup.append(disconnect)
