"""The local stack's start refuses early, with what to do, when it cannot run."""

import socket
from dataclasses import replace
from pathlib import Path

import pytest

from infra.local import stack as stack_module
from infra.local.stack import LocalStack, Ports, StackError


def test_a_busy_port_is_named_with_its_process_and_what_to_do(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        local = LocalStack(tmp_path, replace(Ports.free(), agent=port))
        with pytest.raises(StackError) as refused:
            local.start()
    assert f"{port} (agent)" in refused.value.message
    assert "Another local stack may be running" in refused.value.message
    assert local.processes == []


def test_a_missing_package_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack_module, "REQUIRED_MODULES", ("moto", "centralops_no_such_module"))
    with pytest.raises(StackError) as refused:
        LocalStack(tmp_path, Ports.free()).start()
    assert "centralops_no_such_module" in refused.value.message
    assert "make demo" in refused.value.message


def test_a_process_that_dies_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    local = LocalStack(tmp_path, Ports.free())
    local._spawn(
        "broken",
        ["-c", "import sys; print('cannot start: no config'); sys.exit(3)"],
        "http://127.0.0.1:9/",
        {},
    )
    try:
        with pytest.raises(StackError) as refused:
            local._wait_healthy(local.processes)
    finally:
        local.stop()
    assert "The broken process exited during start (code 3)" in refused.value.message
    assert "cannot start: no config" in refused.value.message
