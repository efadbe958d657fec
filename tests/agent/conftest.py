"""Fixtures of the agent's tests: one world (tables, Gateway, recording bridge) per session."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from strands.models.model import Model

from agent.runner import AgentRuntime
from tests.fixtures.agent_scripted import ScriptedModel
from tests.fixtures.agent_stack import AgentWorld, RuntimeFactory, agent_world
from tests.fixtures.aws import CognitoPool
from tests.fixtures.exchange import Exchange

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
def world(moto_url: str, cognito: CognitoPool, exchange: Exchange, aws_env: None) -> Iterator[AgentWorld]:
    """The agent's surroundings, shared by the agent tests."""
    cognito.add_user(UNENTITLED)
    with agent_world(moto_url, cognito, exchange) as w:
        yield w


@pytest.fixture
def env(world: AgentWorld) -> Iterator[AgentWorld]:
    """The world with the bridge's record and faults cleared before and after the test."""
    world.bridge.reset()
    yield world
    world.bridge.reset()


@pytest.fixture
def make_runtime(env: AgentWorld) -> Iterator[RuntimeFactory]:
    """Build in-process runtimes (settings overrides as keywords); their Gateway sessions close after the test."""
    built: list[AgentRuntime] = []

    def make(model_factory: Callable[[], Model] | None = None, **overrides: Any) -> AgentRuntime:
        runtime = AgentRuntime.from_settings(env.settings(**overrides), model_factory=model_factory)
        built.append(runtime)
        return runtime

    yield make
    for runtime in built:
        runtime.gateways.close()


@pytest.fixture
def scripted(make_runtime: RuntimeFactory) -> Callable[[ScriptedModel], AgentRuntime]:
    """A runtime whose model is the given scripted model."""
    return lambda model: make_runtime(model_factory=lambda: model)


@pytest.fixture
def runtime(make_runtime: RuntimeFactory) -> AgentRuntime:
    """The agent runtime with the offline planner, in process."""
    return make_runtime()


@pytest.fixture(scope="session")
def alice(cognito: CognitoPool, exchange: Exchange) -> str:
    """What the bot sends for alice (operators: may query production): her Runtime token."""
    return exchange.runtime_token(cognito.id_token("alice@example.com"))


@pytest.fixture(scope="session")
def dave(world: AgentWorld, cognito: CognitoPool, exchange: Exchange) -> str:
    """The Runtime token of a user in no group (may not query production)."""
    return exchange.runtime_token(cognito.id_token(UNENTITLED))
