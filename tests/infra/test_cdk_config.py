"""Context parsing, optional stacks and the bridge's packaging, without AWS."""

import json
import shutil
from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from centralops.errors import ConfigurationError
from infra.stacks.config import DeploymentConfig
from infra.stacks.packaging import LocalPythonBundler, bridge_code, locked_requirements
from tests.fixtures.infra_cdk import CENTRAL, CONTEXT, arn_text, as_list

REPO = Path(__file__).resolve().parents[2]


def _config(**context: object) -> DeploymentConfig:
    return DeploymentConfig.from_context(context.get)


def test_member_accounts_accept_a_comma_list_or_a_json_list() -> None:
    assert _config(memberAccountIds="222222222222, 333333333333").member_account_ids == (
        "222222222222",
        "333333333333",
    )
    assert _config(memberAccountIds=["222222222222"]).member_account_ids == ("222222222222",)
    assert _config().member_account_ids == ()


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({"memberAccountIds": "22222222222"}, "memberAccountIds"),
        ({"orgId": "org-1"}, "orgId"),
        ({"prefix": "Central_Ops"}, "prefix"),
        ({"enableWriteRoles": "maybe"}, "true or false"),
        ({"botMaxTasks": "many"}, "botMaxTasks"),
        ({"botMinTasks": 3, "botMaxTasks": 2}, "botMaxTasks"),
    ],
)
def test_a_malformed_context_value_is_named_in_the_error(context: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        _config(**context)
    assert named in str(error.value)


def test_defaults_and_derived_names() -> None:
    config = _config(account=CENTRAL, domainName="ops.example.org", enableWriteRoles="true")
    assert config.enable_write_roles is True
    assert config.bot_url == "https://ops.example.org"
    assert config.bridge_role_name == "centralops-bridge"
    assert config.hosted_ui_prefix == f"centralops-{CENTRAL}"
    assert config.approver_group == "centralops-approvers"


def test_write_roles_without_a_certificate_leave_the_bot_out_and_widen_only_the_bridge(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from infra.app import build, new_app

    context = {key: value for key, value in CONTEXT.items() if key != "certificateArn"}
    app = new_app({**context, "enableWriteRoles": "true", "memberAccountIds": "555555555555"})
    deployment = build(app)
    assert deployment.bot is None
    assert "certificateArn" in capsys.readouterr().err
    bridge = Template.from_stack(deployment.bridge).to_json()
    statements = [
        statement
        for resource in bridge["Resources"].values()
        if resource["Type"] == "AWS::IAM::Policy"
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]
    assume = [s for s in statements if "sts:AssumeRole" in as_list(s["Action"])]
    assert [{arn_text(arn) for arn in s["Resource"]} for s in assume] == [
        {
            "arn:aws:iam::555555555555:role/CentralOpsTargetRole",
            "arn:aws:iam::555555555555:role/CentralOpsWriteRole",
        }
    ]
    # The bridge reaches the AWS MCP Server only as a member role: no aws-mcp grant of its own.
    assert not {a for s in statements for a in as_list(s["Action"]) if a.startswith("aws-mcp:")}
    member = Template.from_stack(deployment.member).to_json()
    assert member["Parameters"]["EnableWriteRole"]["Default"] == "true"


def test_bridge_requirements_come_from_the_lock() -> None:
    requirements = locked_requirements()
    names = {line.split("==")[0] for line in requirements if "==" in line}
    assert {"awscli", "boto3", "python-jose", "httpx"} <= names
    assert "mcp" not in names, "the bridge speaks MCP through its own client"


def test_missing_bridge_extra_is_reported(tmp_path: Path) -> None:
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copy(REPO / "uv.lock", tmp_path / "uv.lock")
    with pytest.raises(ConfigurationError, match="Could not read the 'nosuch' dependencies"):
        locked_requirements(tmp_path, extra="nosuch")


def test_a_stale_lock_is_reported_with_the_command_that_fixes_it(tmp_path: Path) -> None:
    pyproject = (
        (REPO / "pyproject.toml").read_text().replace('"httpx>=0.28",', '"httpx>=0.28",\n    "six>=1",')
    )
    (tmp_path / "pyproject.toml").write_text(pyproject)
    shutil.copy(REPO / "uv.lock", tmp_path / "uv.lock")
    with pytest.raises(ConfigurationError, match="make lock"):
        locked_requirements(tmp_path)


def test_local_bundler_copies_the_lambda_packages_without_caches(tmp_path: Path) -> None:
    out = tmp_path / "asset"
    out.mkdir()
    assert LocalPythonBundler(REPO, requirements=[]).try_bundle(str(out)) is True
    assert (out / "bridge" / "handler.py").is_file()
    assert (out / "bridge" / "tool_schema.json").is_file()
    assert (out / "centralops" / "settings.py").is_file()
    assert not (out / "agent").exists() and not (out / "bot").exists()
    assert not list(out.rglob("__pycache__"))


def test_cdk_runs_the_local_bundler_when_synthesising_the_function(tmp_path: Path) -> None:
    from aws_cdk import App, Stack
    from aws_cdk import aws_lambda as lambda_

    app = App(outdir=str(tmp_path / "out"))
    stack = Stack(app, "Packaging")
    lambda_.Function(
        stack,
        "Function",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="bridge.handler.handler",
        code=bridge_code(LocalPythonBundler(REPO, requirements=[])),
    )
    app.synth()
    (asset,) = (tmp_path / "out").glob("asset.*")
    assert (asset / "bridge" / "handler.py").is_file()
    assert (asset / "centralops" / "tokens.py").is_file()
    assert not (asset / "infra").exists() and not (asset / "tests").exists()


def test_local_bundler_explains_a_failed_install(tmp_path: Path) -> None:
    # Not pinned with a hash, so the locked install refuses it.
    bundler = LocalPythonBundler(REPO, requirements=["six"])
    with pytest.raises(ConfigurationError, match="Could not install the bridge's dependencies"):
        bundler.try_bundle(str(tmp_path / "asset"))


def test_cdk_json_runs_the_app_from_the_infra_folder() -> None:
    settings = json.loads((REPO / "infra" / "cdk.json").read_text())
    assert "-m infra.app" in settings["app"]
    assert settings["context"]["prefix"] == "centralops"
