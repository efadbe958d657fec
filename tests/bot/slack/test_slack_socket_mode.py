"""Socket Mode: the same Bolt app, connected through apps.connections.open and a WebSocket."""

import asyncio
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.config import BotConfig
from bot.server import build_app
from centralops import events
from infra.local import org
from infra.local.consoles.slack import SlackConsole
from infra.local.slack_api import STATE_KEY, SlackState
from infra.local.slack_api import build_app as build_stand_in
from tests.fixtures.aws import CognitoPool, session
from tests.fixtures.slack_runtime import FakeRuntime
from tests.fixtures.slack_stack import CHANNEL, CognitoIdentity, create_tables, serve
from tests.fixtures.slack_stack import slack_cognito as slack_cognito


@pytest.fixture
async def socket_stack(
    moto_url: str, slack_cognito: CognitoPool
) -> AsyncIterator[tuple[SlackConsole, SlackState, FakeRuntime, str]]:
    token, app_token = "xoxb-" + secrets.token_hex(8), "xapp-" + secrets.token_hex(8)
    stand_in = build_stand_in(token, app_token=app_token)
    runners = []
    runner, stand_in_url = await serve(stand_in)
    runners.append(runner)
    stand_in[STATE_KEY].base_url = stand_in_url
    runtime = FakeRuntime()
    runner, runtime_url = await serve(runtime.app())
    runners.append(runner)
    tables = await asyncio.to_thread(create_tables, moto_url)
    config = BotConfig(
        runtime_url=f"{runtime_url}/invocations",
        approvals_table=tables["approvals"],
        idempotency_table=tables["idempotency"],
        accounts_table=tables["accounts"],
        endpoint_url=moto_url,
        slack_bot_token=token,
        slack_app_token=app_token,  # no signing secret: Socket Mode only
        slack_api_url=f"{stand_in_url}/api/",
    )
    dynamodb = session().client("dynamodb", endpoint_url=moto_url)
    bot = build_app(config, identity=CognitoIdentity(slack_cognito), dynamodb=dynamodb, pace_s=0.05)
    runner, bot_url = await serve(bot)  # on_startup connects the socket
    runners.append(runner)
    console = SlackConsole(bot_url, stand_in_url, "unused", socket_mode=True)
    try:
        yield console, stand_in[STATE_KEY], runtime, bot_url
    finally:
        await console.close()
        for r in reversed(runners):
            await r.cleanup()


async def test_slash_command_over_socket_mode_is_acked_and_answered(
    socket_stack: tuple[SlackConsole, SlackState, FakeRuntime, str],
) -> None:
    console, state, runtime, bot_url = socket_stack
    assert state.sockets, "the bot opened a Socket Mode connection when the server started"
    runtime.script(
        "list buckets in staging", [events.text(", ".join(org.account("staging").buckets)), events.done("s")]
    )
    thread = await console.slash("alice", "list buckets in staging", CHANNEL)
    assert thread.answers()[0]["text"] == ", ".join(org.account("staging").buckets)
    assert len(state.socket_acks) == 1  # the envelope was acknowledged
    assert [c["ok"] for c in state.calls if c["method"] == "apps.connections.open"] == [True]
    # With no signing secret, nothing is accepted over HTTP.
    async with httpx.AsyncClient() as http:
        assert (await http.post(f"{bot_url}/slack/events", content=b"x")).status_code in (404, 405)


async def test_mention_and_button_click_over_socket_mode(
    socket_stack: tuple[SlackConsole, SlackState, FakeRuntime, str],
) -> None:
    console, _, runtime, _ = socket_stack
    runtime.script(
        "q", [events.text("ok"), events.followups([{"label": "More", "prompt": "more"}]), events.done("s")]
    )
    runtime.script("more", [events.text("more ok"), events.done("s")])
    thread = await console.mention("alice", "q", CHANNEL)
    after = await console.click("bob", thread, "More")
    assert after.answers()[-1]["text"] == "more ok"
    assert runtime.invocations[-1].body["context"]["user"] == "U0BOB"
