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
    """The same, with channel updates allowed every 0.3 s and a 2 s turn limit (a scaled-down Teams; 1 s was too tight for a loaded machine)."""
    async for stack in start_teams_stack(moto_url, cognito, update_interval_s=0.3, turn_limit_s=2.0):
        yield stack
