"""Packaging the bridge Lambda from the repository's folders, without Docker.

The asset is the repository root filtered down to the packages the Lambda
needs; at synthesis the local bundler copies them and installs the bridge's
dependencies exactly as ``uv.lock`` pins them (hashes checked, no resolution
of its own) as ARM64 wheels for Python 3.12.
"""

import gzip
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, cast

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from centralops.errors import ConfigurationError

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDA_PACKAGES = ("bridge", "centralops")
LAMBDA_EXTRA = "bridge"
# uv's name for the Lambda ARM64 runtime's platform (Amazon Linux 2023, glibc 2.34 >= manylinux2014).
LAMBDA_PLATFORM = "aarch64-manylinux2014"
LAMBDA_PYTHON = "3.12"

# Everything but the Lambda's packages and the files naming their dependencies.
ASSET_EXCLUDE = [
    "*",
    *(f"!{name}" for name in LAMBDA_PACKAGES),
    *(f"!{name}/**" for name in LAMBDA_PACKAGES),
    "!pyproject.toml",
    "!uv.lock",
    "**/__pycache__",
    "**/*.pyc",
]


def uv_binary() -> str:
    """The path of the ``uv`` executable installed with the ``infra`` extra."""
    try:
        from uv import find_uv_bin
    except ImportError as e:
        raise ConfigurationError(
            "uv is not installed, so the bridge cannot be packaged from uv.lock. Run 'make venv' "
            "(or install the project's 'infra' extra) and synthesise again."
        ) from e
    return str(find_uv_bin())


def _run_uv(arguments: list[str], what: str) -> str:
    """Run uv with ``arguments``; its stdout, or a :class:`ConfigurationError` saying ``what`` failed."""
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
    result = subprocess.run(  # noqa: S603
        [uv_binary(), *arguments], capture_output=True, text=True, check=False, env=env
    )
    if result.returncode != 0:
        raise ConfigurationError(f"{what}: {result.stderr.strip()[-2000:]}")
    return result.stdout


def locked_requirements(project: Path = REPO_ROOT, extra: str = LAMBDA_EXTRA) -> list[str]:
    """The project's dependencies plus ``extra``, pinned with hashes, exported from ``uv.lock``.

    Args:
        project: The folder holding ``pyproject.toml`` and ``uv.lock``.
        extra: The optional-dependency group the Lambda needs.

    Returns:
        The lines of a requirements file: one ``name==version`` per package, each with its hashes.
    """
    text = _run_uv(
        [
            "export",
            "--locked",
            "--no-emit-project",
            "--no-header",
            "--no-annotate",
            "--format",
            "requirements.txt",
            "--extra",
            extra,
            "--project",
            str(project),
            "--python",  # this interpreter: uv must not go looking for one on PATH
            sys.executable,
        ],
        f"Could not read the '{extra}' dependencies from {project / 'uv.lock'}; if pyproject.toml "
        "changed, run 'make lock' and commit uv.lock",
    )
    return text.replace("\\\n", " ").splitlines()


@jsii.implements(ILocalBundling)
class LocalPythonBundler:
    """Copies the Lambda's packages and installs their locked requirements for Lambda on ARM64."""

    def __init__(self, source: Path = REPO_ROOT, requirements: list[str] | None = None) -> None:
        """Create the bundler.

        Args:
            source: The repository root.
            requirements: Requirement lines, each pinned with hashes; exported from ``uv.lock`` when omitted.
        """
        self._source = source
        self._requirements = requirements if requirements is not None else locked_requirements(source)

    def try_bundle(self, output_dir: str, options: Any = None) -> bool:
        """Bundle into ``output_dir``; CDK calls this (with its ``BundlingOptions``) instead of running Docker."""
        out = Path(output_dir)
        for name in LAMBDA_PACKAGES:
            shutil.copytree(
                self._source / name,
                out / name,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
        if not self._requirements:
            return True
        with tempfile.TemporaryDirectory() as scratch:
            requirements = Path(scratch) / "requirements.txt"
            requirements.write_text("\n".join(self._requirements) + "\n")
            _run_uv(
                [
                    "pip",
                    "install",
                    "--quiet",
                    "--python",
                    sys.executable,
                    "--target",
                    str(out),
                    "--python-platform",
                    LAMBDA_PLATFORM,
                    "--python-version",
                    LAMBDA_PYTHON,
                    "--only-binary",
                    ":all:",
                    # The export is complete and pinned: install exactly it, and refuse a wheel whose hash differs.
                    "--no-deps",
                    "--require-hashes",
                    "--requirement",
                    str(requirements),
                ],
                "Could not install the bridge's dependencies for Lambda (ARM64, Python 3.12); check that "
                "PyPI is reachable, then run cdk again",
            )
        slim_awscli(out)
        return True


def slim_awscli(root: Path) -> None:
    """Shrink the bundled AWS CLI below Lambda's size limit without changing what it does.

    The bridge uses the CLI only to resolve commands: its examples (documentation) go, and its vendored
    botocore models are stored gzip-compressed, which botocore's loader reads as they are (``.json.gz``).
    """
    shutil.rmtree(root / "awscli" / "examples", ignore_errors=True)
    data = root / "awscli" / "botocore" / "data"
    for path in sorted(data.rglob("*.json")) if data.is_dir() else []:
        with path.open("rb") as src, gzip.GzipFile(path.with_suffix(".json.gz"), "wb", mtime=0) as dst:
            shutil.copyfileobj(src, dst)
        path.unlink()


def bridge_code(bundler: LocalPythonBundler | None = None) -> lambda_.Code:
    """The bridge Lambda's code asset, bundled locally (no Docker engine needed).

    Args:
        bundler: The local bundler; one installing from ``uv.lock`` when omitted.
    """
    return lambda_.Code.from_asset(
        str(REPO_ROOT),
        exclude=ASSET_EXCLUDE,
        bundling=BundlingOptions(
            # Only used if local bundling declined, which it never does; kept because CDK requires an image.
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"),
            # jsii calls try_bundle(output_dir, options) positionally, unlike the typed stub's keywords.
            local=cast(ILocalBundling, bundler or LocalPythonBundler()),
        ),
    )
