"""Fixtures shared by every test package."""

from collections.abc import Iterator

import pytest

from tests.fixtures.aws import CognitoPool, create_pool, moto_server
from tests.fixtures.exchange import Exchange, exchange_for


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A moto server process for the whole session (create your own resources in it)."""
    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def cognito(moto_url: str) -> CognitoPool:
    """A Cognito pool in the session's moto server, with alice (operator) and bob (approver)."""
    pool = create_pool(moto_url)
    pool.add_user("alice@example.com", ("centralops-operators",))
    pool.add_user("bob@example.com", ("centralops-operators", "centralops-approvers"))
    return pool


@pytest.fixture(scope="session")
def exchange(cognito: CognitoPool) -> Iterator[Exchange]:
    """The session pool's token-exchange clients and the Cognito stand-in that exchanges tokens."""
    with exchange_for(cognito) as ex:
        yield ex
