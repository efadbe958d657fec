"""``/api/messages`` accepts only activities the SDK authenticated, unless anonymous mode is explicit."""

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.accounts import AccountDirectory
from bot.approvals import ApprovalStore
from bot.conversation import Conversation
from bot.dynamo import DynamoTable
from bot.history import RecentQueries
from bot.runtime_client import RuntimeClient
from bot.teams import TeamsConfig, setup_teams
from centralops.errors import ConfigurationError
from infra.local.consoles.teams import TeamsConsole


class _NoIdentity:
    """An identity port that fails the test if the bot ever gets as far as asking it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"identity.{name} used for an unauthenticated activity")


def _conversation() -> Conversation:
    table = DynamoTable("unused", client=object())
    return Conversation(
        identity=_NoIdentity(),
        runtime=RuntimeClient("http://127.0.0.1:9/invocations"),
        approvals=ApprovalStore(table),
        accounts=AccountDirectory(table),
        history=RecentQueries(table),
        approver_group="centralops-approvers",
    )


@pytest.fixture
async def secured() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    setup_teams(
        app, _conversation(), TeamsConfig(app_id="11111111-2222-3333-4444-555555555555", app_password="x")
    )
    async with TestClient(TestServer(app)) as client:
        yield client


def _activity() -> dict[str, Any]:
    console = TeamsConsole("http://127.0.0.1:9", "http://127.0.0.1:9")
    return console.message_activity(
        "alice", "list buckets in staging", console.personal_conversation("alice"), {}, mention=False
    )


async def test_an_activity_without_a_token_is_refused(
    secured: TestClient[web.Request, web.Application],
) -> None:
    response = await secured.post("/api/messages", json=_activity())

    assert response.status == 401


async def test_an_activity_with_a_forged_token_is_refused(
    secured: TestClient[web.Request, web.Application],
) -> None:
    response = await secured.post(
        "/api/messages", json=_activity(), headers={"Authorization": "Bearer not.a.jwt"}
    )

    assert response.status == 401


def test_teams_needs_an_app_id_and_password_unless_anonymous_is_explicit() -> None:
    with pytest.raises(ConfigurationError, match="CENTRALOPS_TEAMS_APP_ID"):
        TeamsConfig().validate()
    with pytest.raises(ConfigurationError, match="CENTRALOPS_TEAMS_APP_PASSWORD"):
        TeamsConfig(app_id="app").validate()
    assert TeamsConfig.from_env({"CENTRALOPS_TEAMS_ANONYMOUS": "true"}).anonymous
    assert not TeamsConfig.from_env({}).enabled


def test_anonymous_mode_is_logged_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.teams.app"):
        setup_teams(web.Application(), _conversation(), TeamsConfig(anonymous=True))

    assert any("ANONYMOUS" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


@pytest.fixture
async def anonymous() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application()
    setup_teams(app, _conversation(), TeamsConfig(anonymous=True))
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.mark.parametrize(
    "body",
    ["[1, 2]", '["message"]', "not json", '{"type": ', "42", '"text"', '{"type": 5}', "null"],
)
async def test_a_body_that_is_not_an_activity_gets_400_and_one_log_line(
    anonymous: TestClient[web.Request, web.Application], caplog: pytest.LogCaptureFixture, body: str
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await anonymous.post(
        "/api/messages", data=body.encode(), headers={"Content-Type": "application/json"}
    )

    assert response.status == 400
    assert [r.getMessage() for r in caplog.records if r.name == "bot.teams.app"] == ["teams request refused"]
    assert not [r for r in caplog.records if r.exc_info]


async def test_an_object_that_fails_the_activity_model_gets_400_without_a_traceback(
    anonymous: TestClient[web.Request, web.Application], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = {"type": "message", "conversation": {"id": "c1"}, "from": 5, "text": "hi"}

    response = await anonymous.post("/api/messages", json=body)

    assert response.status == 400
    assert "teams request refused" in [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if r.exc_info]
