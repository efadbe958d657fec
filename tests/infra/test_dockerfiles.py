"""The agent and bot Dockerfiles: non-root, health-checked, on the ports the platforms expect."""

import fnmatch
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from uv import find_uv_bin

REPO = Path(__file__).resolve().parents[2]
HADOLINT = REPO / ".local" / "checkov-venv" / "bin" / "hadolint"
IMAGES = {
    # Dockerfile: (port, health path, module, extra)
    "agent": (8080, "/ping", "agent", "agent-image"),
    "bot": (3000, "/health", "bot", "bot-image"),
}
# The agent starts under the AWS Distro for OpenTelemetry, as AgentCore Observability asks.
COMMANDS = {
    "agent": '["opentelemetry-instrument", "python", "-m", "agent"]',
    "bot": '["python", "-m", "bot"]',
}


def _instructions(path: Path) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with continuation lines joined and comments dropped."""
    text = path.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_image_runs_as_non_root_with_healthcheck_port_and_module(name: str) -> None:
    port, health, module, extra = IMAGES[name]
    instructions = _instructions(REPO / name / "Dockerfile")
    final_stage = instructions[max(i for i, (k, _) in enumerate(instructions) if k == "FROM") :]
    users = [args for keyword, args in final_stage if keyword == "USER"]
    assert users, "the final stage must switch to a non-root user"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert [args for keyword, args in final_stage if keyword == "EXPOSE"] == [str(port)]
    (healthcheck,) = [args for keyword, args in final_stage if keyword == "HEALTHCHECK"]
    assert f"127.0.0.1:{port}{health}" in healthcheck
    assert [args for keyword, args in final_stage if keyword == "CMD"] == [COMMANDS[name]]
    assert module in COMMANDS[name]
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    assert f"uv sync --locked --no-editable --extra {extra}" in runs, "install the package extra from uv.lock"
    assert any(k == "COPY" and "uv.lock" in args.split() for k, args in instructions)
    assert f"pip install uv=={_locked_uv_version()}" in runs, "bootstrap the uv that uv.lock pins"
    assert all("linux/arm64" in args for keyword, args in instructions if keyword == "FROM")


def _locked_uv_version() -> str:
    (uv,) = [p for p in tomllib.loads((REPO / "uv.lock").read_text())["package"] if p["name"] == "uv"]
    return str(uv["version"])


def _docker_context(name: str, into: Path) -> None:
    """Copy what the Dockerfile COPYs, filtered by .dockerignore, as ``docker build`` would send it."""
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def included(relative: str) -> bool:
        keep = True
        for pattern in patterns:
            negate = pattern.startswith("!")
            glob = pattern.lstrip("!")
            if fnmatch.fnmatch(relative, glob) or fnmatch.fnmatch(relative, glob.rstrip("/*")):
                keep = negate
        return keep

    for keyword, args in _instructions(REPO / name / "Dockerfile"):
        if keyword != "COPY" or args.startswith("--from"):
            continue
        *sources, _ = args.split()
        for source in sources:
            path = REPO / source
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            for file in files:
                relative = file.relative_to(REPO).as_posix()
                if included(relative):
                    (into / relative).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(file, into / relative)


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_build_context_builds_a_wheel_with_the_entry_module(name: str, tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    _docker_context(name, context)
    assert not list(context.rglob("__pycache__")), ".dockerignore must keep caches out of the image"
    result = subprocess.run(
        # uv, as the image's build stage uses: the venv has no pip (the Makefile makes it without).
        [
            str(find_uv_bin()),
            "build",
            "--wheel",
            "--quiet",
            "--python",
            sys.executable,
            "--out-dir",
            str(tmp_path),
            str(context),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=110,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("centralops-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert f"{name}/__main__.py" in names
    assert "centralops/settings.py" in names
    other = "bot" if name == "agent" else "agent"
    assert not any(n.startswith(f"{other}/") for n in names), f"the {name} image must not ship the {other}"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(IMAGES))
def test_build_stage_install_gives_the_locked_extra_and_the_entry_module(name: str, tmp_path: Path) -> None:
    _, _, module, extra = IMAGES[name]
    context = tmp_path / "context"
    context.mkdir()
    _docker_context(name, context)
    venv = tmp_path / "venv"
    # The build stage's command, as the Dockerfile runs it, on this machine's platform.
    result = subprocess.run(
        [
            str(find_uv_bin()),
            "sync",
            "--locked",
            "--no-editable",
            "--extra",
            extra,
            "--python",
            sys.executable,
        ],
        cwd=context,
        capture_output=True,
        text=True,
        check=False,
        timeout=280,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never"},
    )
    assert result.returncode == 0, result.stderr
    python = venv / "bin" / "python"
    probe = f"import importlib.util as u, sys; sys.exit(0 if u.find_spec('{module}.__main__') else 1)"
    assert subprocess.run([str(python), "-c", probe], cwd=tmp_path, check=False).returncode == 0
    listed = subprocess.run(
        [str(python), "-m", "pip", "--version"], cwd=tmp_path, capture_output=True, check=False
    )
    assert listed.returncode != 0, "the image's venv holds only what the lock names"
    frozen = subprocess.run(
        [str(find_uv_bin()), "pip", "freeze", "--python", str(python)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    installed = {line.split("==")[0].lower() for line in frozen.splitlines() if "==" in line}
    other = "microsoft-agents-hosting-aiohttp" if name == "agent" else "strands-agents"
    assert other not in installed, f"the {name} image must not carry the other image's dependencies"
    assert "pytest" not in installed and "aws-cdk-lib" not in installed
    if name == "agent":
        assert "aws-opentelemetry-distro" in installed
        assert (venv / "bin" / "opentelemetry-instrument").exists(), "the image's CMD must exist"


@pytest.mark.skipif(not HADOLINT.exists(), reason="hadolint is installed by scripts/checkov on first use")
def test_hadolint_passes() -> None:
    result = subprocess.run(
        [str(HADOLINT), str(REPO / "agent" / "Dockerfile"), str(REPO / "bot" / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
