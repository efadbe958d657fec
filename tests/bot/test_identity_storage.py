"""The identity stores on the bot's one DynamoDB wrapper: clients off the event loop, messages without internals."""

import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from bot.dynamo import DynamoTable
from bot.identity import IdentityError, IdentityStore, OAuthStateStore

TABLE = "centralops-prod-identity-links-9c2e"


class _Unreachable:
    def __getattr__(self, name: str) -> Any:
        def fail(**_: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com/")

        return fail


@pytest.fixture
def built_in(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None, bool]]:
    """Every boto3 client the code builds: service, region, and whether on the event loop's thread."""
    built: list[tuple[str, str | None, bool]] = []

    def client(_: Any, service: str, region_name: str | None = None, **__: Any) -> Any:
        built.append((service, region_name, threading.current_thread() is threading.main_thread()))
        return _Unreachable()

    monkeypatch.setattr(boto3.session.Session, "client", client)
    return built


async def test_links_and_states_build_their_client_in_a_worker_thread_in_the_configured_region(
    built_in: list[tuple[str, str | None, bool]],
) -> None:
    links = DynamoTable(TABLE, region="eu-west-1")
    store = IdentityStore(links, "alias/centralops", region="eu-west-1")
    states = OAuthStateStore(links.sibling("centralops-prod-oauth-states"))

    with pytest.raises(IdentityError) as read:
        await store.get("teams", "T1", "U1")
    with pytest.raises(IdentityError):
        await states.peek("some-state")

    assert built_in == [("dynamodb", "eu-west-1", False)]  # one client, shared, never on the loop
    assert "Try again" in read.value.message
    assert TABLE not in read.value.message and "dynamodb.eu-west-1" not in read.value.message


async def test_a_kms_failure_tells_a_teams_user_the_teams_command(
    built_in: list[tuple[str, str | None, bool]],
) -> None:
    store = IdentityStore(DynamoTable(TABLE, client=_Unreachable()), "alias/centralops", region="eu-west-1")

    with pytest.raises(IdentityError) as raised:
        await store.save("teams", "T1", "U1", username="alice", email="a@example.com", refresh_token="r")

    assert built_in == [("kms", "eu-west-1", False)]
    assert "`login`" in raised.value.message and "/aws login" not in raised.value.message
    assert "Endpoint" not in raised.value.message
