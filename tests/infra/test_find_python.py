"""The Makefile's interpreter finder: a Python 3.12+ from PYTHON, PATH or pyenv, or a clear refusal."""

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "find-python"


def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, check=False)


def test_an_explicit_python_is_used_when_it_is_new_enough() -> None:
    found = run({"PATH": "/usr/bin:/bin", "PYTHON": sys.executable})
    assert found.returncode == 0
    assert os.path.realpath(found.stdout.strip()) == os.path.realpath(sys.executable)


def test_an_explicit_python_that_does_not_run_is_refused_by_name() -> None:
    found = run({"PATH": "/usr/bin:/bin", "PYTHON": "/nonexistent/python3"})
    assert found.returncode == 1
    assert "PYTHON=/nonexistent/python3 is not a Python 3.12" in found.stderr


def test_without_any_python_3_12_the_message_says_what_to_install(tmp_path: Path) -> None:
    # A PATH with only bash on it, and no pyenv: nothing to find.
    (tmp_path / "bash").symlink_to("/bin/bash")
    found = run({"PATH": str(tmp_path), "HOME": str(tmp_path)})
    assert found.returncode == 1
    assert "needs Python 3.12 or newer" in found.stderr
    assert "pyenv install 3.12" in found.stderr
