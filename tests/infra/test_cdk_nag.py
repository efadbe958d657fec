"""cdk-nag's AwsSolutions pack over the whole app: nothing reported, every acknowledgement justified."""

from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.infra_cdk import Synthesized, synthesized

DOCUMENTED = (Path(__file__).resolve().parents[2] / "docs" / "security-findings.md").read_text()


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    synth: Synthesized = synthesized()
    (plugin,) = [p for p in synth.nag_report.get("pluginReports", []) if p["pluginName"] == "AwsSolutions"]
    return plugin


def test_cdk_nag_reports_nothing_unacknowledged(report: dict[str, Any]) -> None:
    violations = [
        f"{v['ruleName']} at {c['constructPath']}: {v['description']}"
        for v in report["violations"]
        for c in v["violatingConstructs"]
    ]
    assert violations == []
    assert report["conclusion"] == "success"


def test_every_acknowledgement_has_a_reason_and_is_listed_in_the_findings_page(
    report: dict[str, Any],
) -> None:
    suppressed = report["suppressedViolations"]
    assert suppressed, "expected the justified findings to appear as acknowledged"
    for violation in suppressed:
        assert len(violation["reason"]) > 30, f"{violation['acknowledgedId']}: the reason says too little"
        rule = violation["ruleName"].split("[")[0]
        assert rule in DOCUMENTED, f"{rule} is acknowledged in the app but not in docs/security-findings.md"
