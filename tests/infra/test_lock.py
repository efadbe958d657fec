"""uv.lock is the one source of installed versions: it agrees with pyproject.toml, and the bridge
Lambda's bundle holds exactly the versions it pins."""

import email.parser
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name
from uv import find_uv_bin

from infra.stacks.packaging import LAMBDA_EXTRA, LocalPythonBundler, locked_requirements

REPO = Path(__file__).resolve().parents[2]
# The marker environment of the Lambda runtime the bridge runs on (python3.12, arm64).
LAMBDA_ENVIRONMENT = {
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def _uv_lock_check(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(find_uv_bin()),
            "lock",
            "--check",
            "--offline",
            "--project",
            str(project),
            "--python",
            sys.executable,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"UV_PYTHON_DOWNLOADS": "never", "PATH": "/usr/bin:/bin"},
    )


def test_lock_agrees_with_pyproject() -> None:
    result = _uv_lock_check(REPO)
    assert result.returncode == 0, f"pyproject.toml and uv.lock disagree; run 'make lock'.\n{result.stderr}"


def test_a_requirement_missing_from_the_lock_is_caught(tmp_path: Path) -> None:
    shutil.copy(REPO / "uv.lock", tmp_path / "uv.lock")
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"httpx>=0.28",' in pyproject
    (tmp_path / "pyproject.toml").write_text(
        pyproject.replace('"httpx>=0.28",', '"httpx>=0.28",\n    "six>=1",')
    )
    result = _uv_lock_check(tmp_path)
    assert result.returncode != 0


def _lock() -> dict[str, Any]:
    return tomllib.loads((REPO / "uv.lock").read_text())


def _locked_closure(extra: str, environment: dict[str, str]) -> dict[str, str]:
    """``{name: version}`` of what the project plus ``extra`` needs in ``environment``, walked in uv.lock."""
    packages: dict[str, list[dict[str, Any]]] = {}
    for package in _lock()["package"]:
        packages.setdefault(canonicalize_name(package["name"]), []).append(package)

    def applies(entry: dict[str, Any], extra_name: str = "") -> bool:
        marker = entry.get("marker")
        return marker is None or Marker(marker).evaluate({**environment, "extra": extra_name})

    def resolve(entry: dict[str, Any]) -> dict[str, Any]:
        candidates = packages[canonicalize_name(entry["name"])]
        if "version" in entry:
            candidates = [p for p in candidates if p["version"] == entry["version"]]
        candidates = [
            p
            for p in candidates
            if not p.get("resolution-markers")
            or any(Marker(m).evaluate(environment) for m in p["resolution-markers"])
        ]
        (package,) = candidates
        return package

    (project,) = packages["centralops"]
    found: dict[str, str] = {}
    queue = [*project.get("dependencies", []), *project["optional-dependencies"][extra]]
    seen: set[tuple[str, tuple[str, ...]]] = set()
    while queue:
        entry = queue.pop()
        if not applies(entry):
            continue
        package = resolve(entry)
        name = canonicalize_name(package["name"])
        extras = tuple(entry.get("extra", ()))
        if name == "centralops" or (name, extras) in seen:
            continue
        seen.add((name, extras))
        found[name] = package["version"]
        queue.extend(package.get("dependencies", []))
        for wanted in extras:
            queue.extend(package.get("optional-dependencies", {}).get(wanted, []))
    return found


def _installed(target: Path) -> dict[str, str]:
    installed = {}
    for metadata in target.glob("*.dist-info/METADATA"):
        headers = email.parser.Parser().parsestr(metadata.read_text(), headersonly=True)
        installed[canonicalize_name(headers["Name"])] = headers["Version"]
    return installed


def test_removed_packages_are_not_locked() -> None:
    names = {canonicalize_name(p["name"]) for p in _lock()["package"]}
    assert "microsoft-agents-hosting-teams" not in names
    assert "aws-cdk-aws-bedrock-agentcore-alpha" not in names
    assert {"mcp", "boto3", "aws-cdk-lib", "uv"} <= names


def test_exported_requirements_are_pinned_with_hashes() -> None:
    lines = [line for line in locked_requirements() if line and not line.startswith("#")]
    assert lines
    for line in lines:
        requirement = line.split()[0]
        assert "==" in requirement and "--hash=sha256:" in line, requirement


@pytest.mark.timeout(300)
def test_lambda_bundle_holds_exactly_the_locked_versions(tmp_path: Path) -> None:
    expected = _locked_closure(LAMBDA_EXTRA, LAMBDA_ENVIRONMENT)
    assert {"boto3", "httpx2", "awscli", "python-jose", "cryptography"} <= set(expected)
    assert "mcp" not in expected and "pydantic" not in expected, "the bridge speaks MCP through its own client"
    out = tmp_path / "asset"
    out.mkdir()
    assert LocalPythonBundler(REPO).try_bundle(str(out)) is True
    assert _installed(out) == expected
    # ARM64 builds of the compiled dependencies, for the Lambda's architecture.
    assert list(out.glob("_cffi_backend*aarch64*.so"))
    assert not list(out.glob("_cffi_backend*x86_64*.so"))
