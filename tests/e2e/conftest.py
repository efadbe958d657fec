"""The whole local stack, started the way ``make demo`` starts it, once per session."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from infra.local.consoles.slack import SlackConsole
from infra.local.org import StackInfo
from infra.local.stack import LocalStack, Ports


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    root: Path = tmp_path_factory.mktemp("local-stack")
    local = LocalStack(root, Ports.free())
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def info(stack: LocalStack) -> StackInfo:
    assert stack.info is not None
    return stack.info


@pytest.fixture
async def slack(info: StackInfo) -> AsyncIterator[SlackConsole]:
    console = SlackConsole.from_stack(info)
    try:
        yield console
    finally:
        await console.close()
