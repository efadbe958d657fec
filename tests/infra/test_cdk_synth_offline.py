"""Synthesis needs no AWS credentials and no committed context, with or without an account."""

import json
from pathlib import Path
from typing import Any

import pytest

from centralops.errors import ConfigurationError
from infra.stacks.config import DeploymentConfig, default_model_id
from tests.fixtures.infra_cdk import CENTRAL, CERTIFICATE_ARN, CONTEXT, synthesize

WITHOUT_LOCATION = {key: value for key, value in CONTEXT.items() if key not in {"account", "region"}}


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials anywhere, as in CI: a lookup would have to fail."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _manifest(outdir: Path) -> dict[str, Any]:
    return json.loads((outdir / "manifest.json").read_text())


@pytest.mark.usefixtures("no_aws")
@pytest.mark.parametrize(
    "environment",
    [
        pytest.param({"CDK_DEFAULT_ACCOUNT": CENTRAL, "CDK_DEFAULT_REGION": "eu-west-1"}, id="with-account"),
        pytest.param({}, id="without-account-or-region"),
    ],
)
def test_synth_makes_no_lookup_and_builds_the_bot_behind_its_certificate(
    environment: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    synth = synthesize(WITHOUT_LOCATION, tmp_path, nag=False)
    assert "missing" not in _manifest(tmp_path), "synthesis asked for a context lookup"
    assert len(synth.templates) == 11  # with CentralOps-Observability, -Events and -MemberEvents
    subnets = synth.resources("Bot", "AWS::EC2::Subnet").values()
    zones = {json.dumps(subnet["Properties"]["AvailabilityZone"]) for subnet in subnets}
    assert zones == {json.dumps({"Fn::Select": [i, {"Fn::GetAZs": ""}]}) for i in range(2)}
    (balancer,) = synth.resources("Bot", "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    attributes = {a["Key"]: a["Value"] for a in balancer["Properties"]["LoadBalancerAttributes"]}
    assert attributes["access_logs.s3.enabled"] == "true"
    # The region comes from the environment, else from the certificate, which must live there.
    (runtime,) = synth.resources("Runtime", "AWS::BedrockAgentCore::Runtime").values()
    assert runtime["Properties"]["EnvironmentVariables"]["CENTRALOPS_MODEL_ID"].startswith("eu.anthropic.")


def test_the_certificate_names_the_region_when_nothing_else_does() -> None:
    config = DeploymentConfig.from_context({"certificateArn": CERTIFICATE_ARN}.get)
    assert config.region == "eu-west-1"
    with pytest.raises(ConfigurationError, match="certificate of its own region"):
        DeploymentConfig.from_context({"certificateArn": CERTIFICATE_ARN, "region": "us-east-1"}.get)
    with pytest.raises(ConfigurationError, match="not an ACM certificate ARN"):
        DeploymentConfig.from_context({"certificateArn": "arn:aws:iam::111111111111:role/x"}.get)


@pytest.mark.parametrize(
    ("region", "profile"),
    [
        ("us-east-1", "us."),
        ("us-west-2", "us."),
        ("eu-central-1", "eu."),
        ("ap-northeast-1", "jp."),
        ("ap-southeast-2", "au."),
        ("us-gov-west-1", "us-gov."),
        (None, "us."),
    ],
)
def test_the_default_model_is_the_inference_profile_of_the_region(region: str | None, profile: str) -> None:
    assert default_model_id(region).startswith(profile)
    assert DeploymentConfig.from_context({"region": region}.get).model_id.startswith(profile)


def test_a_region_without_a_default_profile_fails_synthesis_with_what_to_pass() -> None:
    with pytest.raises(ConfigurationError, match=r"-c modelId=global\.anthropic"):
        DeploymentConfig.from_context({"region": "sa-east-1"}.get)
    assert DeploymentConfig.from_context(
        {"region": "sa-east-1", "modelId": "global.anthropic.claude-sonnet-4-5-20250929-v1:0"}.get
    ).model_id.startswith("global.")


def test_a_profile_of_another_geography_is_refused_at_synthesis() -> None:
    with pytest.raises(ConfigurationError, match="cannot be called from eu-west-1"):
        DeploymentConfig.from_context(
            {"region": "eu-west-1", "modelId": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}.get
        )
    # A plain model id (no profile) is the platform team's choice in any region.
    assert DeploymentConfig.from_context({"region": "eu-west-1", "modelId": "amazon.nova-pro-v1:0"}.get)


def test_the_app_names_a_malformed_context_argument(capsys: pytest.CaptureFixture[str]) -> None:
    from infra.app import main

    with pytest.raises(SystemExit):
        main(["-c", "memberAccountIds"])
    assert "expected key=value" in capsys.readouterr().err


def test_the_app_reports_a_configuration_error_as_one_line_not_a_traceback() -> None:
    from infra.app import main

    with pytest.raises(SystemExit) as stop:
        main(["-c", "region=sa-east-1", "-c", "account=" + CENTRAL])
    assert str(stop.value).startswith("CentralOps: No regional inference profile")


def test_foundation_model_behind_each_profile() -> None:
    from infra.stacks.runtime import foundation_model_id

    model = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    for geography in ("us", "eu", "jp", "au", "apac", "us-gov", "global"):
        assert foundation_model_id(f"{geography}.{model}") == model
    assert foundation_model_id(model) == model
