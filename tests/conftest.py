"""Fixtures shared by every test package."""

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.local.payload_checks import CHECKS_FILE_ENV
from tests.fixtures.aws import CognitoPool, create_pool, moto_server
from tests.fixtures.exchange import Exchange, exchange_for

# Modules that synthesise the CDK app: one worker takes them all, so the app is synthesised once per run.
_SYNTH_MODULES = frozenset(
    f"tests/infra/{name}.py"
    for name in (
        "test_audit_reconciler",
        "test_cdk_events",
        "test_cdk_nag",
        "test_cdk_scanners",
        "test_cdk_security",
        "test_observability",
        "test_permissions",
    )
)


# End-to-end modules that start a local stack of their own; every other one shares the session's.
_OWN_STACK_MODULES = frozenset(
    f"tests/e2e/{name}.py" for name in ("test_agent_killed_mid_answer", "test_wide_answer_file")
)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Give each worker whole modules (their module fixtures start once); the modules that synthesise the
    CDK app go to one worker, and so do those that share the session's local stack (started once)."""
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            if module in _SYNTH_MODULES:
                return "cdk-synth"
            if module.startswith("tests/e2e/") and module not in _OWN_STACK_MODULES:
                return "e2e-shared-stack"
            return module

    return ByModule(config, log)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """One worker more than cores: many tests wait in real time (fault windows, pacing), not on the CPU."""
    return (os.cpu_count() or 1) + 1


def pytest_configure(config: pytest.Config) -> None:
    """Every Slack and Teams stand-in of the run (in-process or in a subprocess) reports here."""
    if not os.environ.get(CHECKS_FILE_ENV):
        fd, path = tempfile.mkstemp(prefix="centralops-payload-checks-", suffix=".jsonl")
        os.close(fd)
        os.environ[CHECKS_FILE_ENV] = path


@pytest.fixture(scope="session", autouse=True)
def chat_payloads_are_valid() -> Iterator[None]:
    """Fail the run if any payload the bot sent to a Slack or Teams stand-in was invalid.

    The stand-ins check each payload (Block Kit models and limits, the Adaptive
    Card 1.5 schema, Teams' UTF-16 size, data that could form markup) and append
    the outcome to the file named by ``CENTRALOPS_PAYLOAD_CHECKS``.
    """
    path = Path(os.environ[CHECKS_FILE_ENV])
    yield
    text = path.read_text() if path.exists() else ""
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    bad = [line for line in lines if line["problems"]]
    if bad:
        shown = "\n".join(f"{b['where']} {b['what']}: {'; '.join(b['problems'])}" for b in bad[:20])
        pytest.fail(f"{len(bad)} of {len(lines)} chat payloads were invalid:\n{shown}", pytrace=False)


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
