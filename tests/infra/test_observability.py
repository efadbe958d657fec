"""What operators see in AWS: the bridge's logs, alarms on every hop, one dashboard."""

import pytest

from tests.fixtures.infra_cdk import Synthesized, synthesized


@pytest.fixture(scope="module")
def synth() -> Synthesized:
    return synthesized()


def test_bridge_logs_are_json_with_a_retention(synth: Synthesized) -> None:
    (function,) = synth.resources("Bridge", "AWS::Lambda::Function").values()
    config = function["Properties"]["LoggingConfig"]
    assert config["LogFormat"] == "JSON"
    assert config["ApplicationLogLevel"] == "INFO" and config["SystemLogLevel"] == "WARN"
    (group,) = synth.resources("Bridge", "AWS::Logs::LogGroup").values()
    assert config["LogGroup"] == {"Ref": next(iter(synth.resources("Bridge", "AWS::Logs::LogGroup")))}
    assert group["Properties"]["RetentionInDays"] == 90
