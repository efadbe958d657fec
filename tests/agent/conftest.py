"""Fixtures of the agent's tests: one world (tables, Gateway, recording bridge) per session."""

from collections.abc import Iterator

import pytest

from agent.runner import AgentRuntime
from tests.fixtures.agent_stack import AgentWorld, agent_world
from tests.fixtures.aws import CognitoPool

UNENTITLED = "agent-dave@example.com"


@pytest.fixture(scope="session")
def aws_env() -> Iterator[None]:
    """Credentials for boto3 clients created in this process (moto does not check them)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "test")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "test")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield


@pytest.fixture(scope="session")
def world(moto_url: str, cognito: CognitoPool, aws_env: None) -> Iterator[AgentWorld]:
    """The agent's surroundings, shared by the agent tests."""
    cognito.add_user(UNENTITLED)
    with agent_world(moto_url, cognito) as w:
        yield w


@pytest.fixture
def env(world: AgentWorld) -> Iterator[AgentWorld]:
    """The world with the bridge's record cleared before and after the test."""
    world.bridge.calls.clear()
    world.bridge.fail.clear()
    world.bridge.extra_buckets.clear()
    yield world
    world.bridge.calls.clear()
    world.bridge.fail.clear()
    world.bridge.extra_buckets.clear()


@pytest.fixture
def runtime(env: AgentWorld) -> AgentRuntime:
    """The agent runtime with the offline planner, in process."""
    return AgentRuntime.from_settings(env.settings())


@pytest.fixture(scope="session")
def alice(cognito: CognitoPool) -> str:
    """An ID token of alice (operators: may query production)."""
    return cognito.id_token("alice@example.com")


@pytest.fixture(scope="session")
def dave(world: AgentWorld, cognito: CognitoPool) -> str:
    """An ID token of a user in no group (may not query production)."""
    return cognito.id_token(UNENTITLED)
