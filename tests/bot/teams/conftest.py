"""Fixtures of the Teams scenario tests."""

from collections.abc import AsyncIterator

import pytest

from tests.fixtures.aws import CognitoPool
from tests.fixtures.teams_fakes import TeamsStack, start_teams_stack


@pytest.fixture
async def teams(moto_url: str, cognito: CognitoPool) -> AsyncIterator[TeamsStack]:
    """The Teams edge on moto, a scripted Runtime and the Connector stand-in."""
    async for stack in start_teams_stack(moto_url, cognito):
        yield stack


@pytest.fixture
async def teams_fast(moto_url: str, cognito: CognitoPool) -> AsyncIterator[TeamsStack]:
    """The same, with channel updates allowed every 0.3 s (Teams' own 15 s turn limit stays: a scaled-down
    limit is a race a loaded machine can lose; the turn-limit tests hold the answer until the turn ended)."""
    async for stack in start_teams_stack(moto_url, cognito, update_interval_s=0.3):
        yield stack
