"""The bridge's CloudWatch metrics (EMF on stdout), derived from what each call did."""

import pytest

import bridge.handler as entry
from bridge.config import BridgeConfig
from bridge.metrics import MeteredAuditLog
from centralops import metrics
from tests.bridge.conftest import PRODUCTION, STAGING, WRITABLE, Org, event
from tests.bridge.test_handler import ctx, lambda_env  # noqa: F401 - the fixture
from tests.fixtures import emf
from tests.fixtures.bridge_stack import StandIn, put_approval

BRIDGE = {"service": "bridge"}


def _metered(make_bridge, config: BridgeConfig, **kwargs):  # type: ignore[no-untyped-def]
    bridge = make_bridge(config, **kwargs)
    bridge.audit = MeteredAuditLog(bridge.audit)
    return bridge


async def test_a_fan_out_counts_one_query_and_latency_and_errors_per_account(
    make_bridge, config: BridgeConfig, requester: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bridge = _metered(make_bridge, config, deny={STAGING})
    out = await bridge.query_accounts(event("aws s3api list-buckets", [PRODUCTION, STAGING], requester))
    assert out["ok_count"] == 1 and out["error_count"] == 1
    found = emf.values(capsys.readouterr().out)
    assert {v.namespace for v in found} == {metrics.NAMESPACE}
    assert emf.total(found, metrics.QUERIES, **BRIDGE) == 1
    assert emf.total(found, metrics.ACCOUNT_ERRORS, AccountId=PRODUCTION) == 0
    assert emf.total(found, metrics.ACCOUNT_ERRORS, AccountId=STAGING) == 1
    latencies = {dict(v.dimensions)["AccountId"]: v for v in found if v.name == metrics.ACCOUNT_LATENCY}
    assert set(latencies) == {PRODUCTION, STAGING}
    assert all(v.unit == "Milliseconds" and v.value >= 0 for v in latencies.values())
    assert emf.total(found, metrics.REFUSALS) == 0


async def test_refusals_are_counted_by_code_and_run_nothing_per_account(
    make_bridge, config: BridgeConfig, requester: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bridge = _metered(make_bridge, config)
    outs = [
        await bridge.query(event("aws s3 ls | sh", STAGING, requester)),
        await bridge.query(event("aws s3 ls; rm -rf /", STAGING, requester)),
        await bridge.query(event("aws s3api list-buckets", STAGING, "")),  # nobody asked
    ]
    codes = [out["error"]["code"] for out in outs]
    found = emf.values(capsys.readouterr().out)
    assert emf.total(found, metrics.QUERIES) == 3
    # Each refusal is counted once, under the code the caller was given.
    for code in set(codes):
        assert emf.total(found, metrics.REFUSALS, Code=code) == codes.count(code), code
    assert len(set(codes)) >= 2 and emf.total(found, metrics.REFUSALS) == 3
    assert [v for v in found if v.name in (metrics.ACCOUNT_LATENCY, metrics.ACCOUNT_ERRORS)] == []


async def test_approvals_requested_then_consumed(
    make_bridge, config: BridgeConfig, requester: str, org: Org, capsys: pytest.CaptureFixture[str]
) -> None:
    bridge = _metered(make_bridge, config)
    command = "aws s3 mb s3://metered-bucket"
    asked = await bridge.query(event(command, WRITABLE, requester))
    assert asked["error"]["code"] == "approval_required"
    found = emf.values(capsys.readouterr().out)
    assert emf.total(found, metrics.APPROVALS_REQUESTED) == 1
    assert emf.total(found, metrics.REFUSALS, Code="approval_required") == 1
    assert emf.total(found, metrics.APPROVALS_CONSUMED) == 0

    approval = put_approval(
        org.moto_url, org.tables, command=command, accounts=[WRITABLE], requester=requester
    )
    ran = await bridge.query(event(command, WRITABLE, requester, approval_id=approval))
    assert ran["ok"] is True, ran
    replay = await bridge.query(event(command, WRITABLE, requester, approval_id=approval))
    assert replay["error"]["code"] == "approval_used"
    found = emf.values(capsys.readouterr().out)
    assert emf.total(found, metrics.APPROVALS_CONSUMED) == 1
    assert emf.total(found, metrics.APPROVALS_REQUESTED) == 0
    assert emf.total(found, metrics.REFUSALS, Code="approval_used") == 1
    assert emf.total(found, metrics.ACCOUNT_ERRORS, AccountId=WRITABLE) == 0


def test_the_lambda_entry_emits_metrics(
    lambda_env: None,  # noqa: F811 - the fixture
    stand_in: StandIn,
    requester: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = entry.handler(event("aws s3api list-buckets", STAGING, requester), ctx("bridge-lambda___query"))
    assert out["ok"] is True, out
    found = emf.values(capsys.readouterr().out)
    assert emf.total(found, metrics.QUERIES, service="bridge") == 1
    assert emf.total(found, metrics.ACCOUNT_ERRORS, AccountId=STAGING) == 0
