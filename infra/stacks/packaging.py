"""Packaging the bridge Lambda from the repository's folders, without Docker.

The asset is the repository root filtered down to the packages the Lambda
needs; at synthesis the local bundler copies them and installs the bridge's
dependencies (read from ``pyproject.toml``) as ARM64 wheels for Python 3.12.
"""

import gzip
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any, cast

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from centralops.errors import ConfigurationError

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDA_PACKAGES = ("bridge", "centralops")
LAMBDA_PLATFORM = "manylinux2014_aarch64"
LAMBDA_PYTHON = "3.12"

# Everything but the Lambda's packages and the file naming their dependencies.
ASSET_EXCLUDE = [
    "*",
    *(f"!{name}" for name in LAMBDA_PACKAGES),
    *(f"!{name}/**" for name in LAMBDA_PACKAGES),
    "!pyproject.toml",
    "**/__pycache__",
    "**/*.pyc",
]


def bridge_requirements(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """The bridge's runtime requirements: the project's dependencies plus its ``bridge`` extra."""
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project.get("optional-dependencies", {})
    if "bridge" not in extras:
        raise ConfigurationError(f"{pyproject} has no 'bridge' extra; the bridge Lambda cannot be packaged.")
    return [*project.get("dependencies", []), *extras["bridge"]]


@jsii.implements(ILocalBundling)
class LocalPythonBundler:
    """Copies the Lambda's packages and pip-installs its requirements for Lambda on ARM64."""

    def __init__(self, source: Path = REPO_ROOT, requirements: list[str] | None = None) -> None:
        """Create the bundler.

        Args:
            source: The repository root.
            requirements: Requirement specifiers; read from ``pyproject.toml`` when omitted.
        """
        self._source = source
        self._requirements = requirements if requirements is not None else bridge_requirements()

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
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--target",
            str(out),
            "--platform",
            LAMBDA_PLATFORM,
            "--implementation",
            "cp",
            "--python-version",
            LAMBDA_PYTHON,
            "--only-binary=:all:",
            *self._requirements,
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise ConfigurationError(
                "Could not install the bridge's dependencies for Lambda (ARM64, Python 3.12): "
                f"{result.stderr.strip()[-2000:]}\nCheck that PyPI is reachable, then run cdk again."
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
        bundler: The local bundler; one reading ``pyproject.toml`` when omitted.
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
