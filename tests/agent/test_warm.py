"""The agent's warm-up: what the first invocation needs is ready, and a failing step never stops the agent."""

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest

from agent import warm as warm_module


@dataclass
class Recorder:
    """Stands in for the runtime's collaborators; records which were prepared."""

    calls: list[str] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)

    def step(self, name: str) -> Any:
        def run() -> str:
            self.calls.append(name)
            if name in self.fail:
                raise ConnectionError(name)
            return name

        return run


@dataclass
class Runtime:
    verifier: Any
    exchanger: Any
    registry: Any
    memory: Any


def _runtime(rec: Recorder, *, memory: bool = True) -> Any:
    class _Memory:
        @property
        def client(self) -> str:
            return rec.step("memory")()

    return Runtime(
        verifier=type("V", (), {"prefetch": staticmethod(rec.step("keys"))})(),
        exchanger=type(
            "E", (), {"client": staticmethod(rec.step("idp")), "actor_token": staticmethod(rec.step("actor"))}
        )(),
        registry=type("R", (), {"all": staticmethod(rec.step("registry"))})(),
        memory=_Memory() if memory else None,
    )


def test_every_step_runs_once_in_order() -> None:
    rec = Recorder()
    warm_module.warm(_runtime(rec), pause_s=0)
    assert rec.calls == ["keys", "idp", "actor", "registry", "memory"]


def test_a_failing_step_is_retried_then_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rec = Recorder(fail={"actor"})
    with caplog.at_level(logging.WARNING, logger="agent.warm"):
        warm_module.warm(_runtime(rec, memory=False), attempts=3, pause_s=0)
    assert rec.calls == ["keys", "idp", "actor", "actor", "actor", "registry"]
    assert [r.getMessage() for r in caplog.records] == ["warm-up step failed"]
