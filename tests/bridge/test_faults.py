"""Faults: a denied account and a silent one never hide the account that answers; retries never duplicate."""

from bridge.config import BridgeConfig
from tests.bridge.conftest import BUCKETS, DENIED, SLOW, STAGING, Org, event
from tests.fixtures.bridge_stack import StandIn, audit_records


async def test_one_denied_one_timed_out_and_one_answering_account(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str, org: Org
) -> None:
    # The slow account hangs far beyond its budget; the reset at teardown abandons its call unexecuted.
    stand_in.faults(account_latency_ms={SLOW: 120_000})
    bridge = make_bridge(config, deny={DENIED}, account_timeout_s=6.0)
    out = await bridge.query_accounts(event("aws s3api list-buckets", [DENIED, SLOW, STAGING], requester))
    denied, slow, answered = out["results"]
    assert (out["ok_count"], out["error_count"]) == (1, 2)
    assert denied["account_id"] == DENIED and denied["error"]["code"] == "assume_role_denied"
    assert "CentralOpsTargetRole" in denied["error"]["message"] and DENIED in denied["error"]["message"]
    assert slow["account_id"] == SLOW and slow["error"]["code"] == "account_timeout"
    assert "did not answer within 6 s" in slow["error"]["message"]
    assert answered["ok"] is True
    assert {b["Name"] for b in answered["result"]["Buckets"]} == set(BUCKETS[STAGING])
    records = {r["account_id"]: r for r in audit_records(org.moto_url, org.tables, requester)}
    assert records[DENIED]["outcome"] == "failed" and records[DENIED]["error_code"] == "assume_role_denied"
    assert records[SLOW]["outcome"] == "failed" and records[SLOW]["error_code"] == "account_timeout"
    assert records[STAGING]["outcome"] == "executed"


async def test_503_twice_then_success_gives_one_result_and_one_execution(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str
) -> None:
    bridge = make_bridge(config)
    await bridge.query(event("aws sts get-caller-identity", STAGING, requester))  # session open
    stand_in.reset()
    stand_in.faults(fail_next=2, fail_status=503)
    out = await bridge.query(event("aws s3api list-buckets", STAGING, requester))
    assert out["ok"] is True, out
    stats = stand_in.stats()
    assert stats["failed_injected"] == 2
    assert stats["tool_calls"] == 1 and stats["executed"] == 1
    assert stats["commands"] == ["aws s3api list-buckets --region us-east-1 --output json"]


async def test_a_server_that_keeps_failing_gives_an_error_result(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str
) -> None:
    stand_in.faults(fail_next=10, fail_status=503)
    out = await make_bridge(config, mcp_retries=2).query(event("aws s3 ls", STAGING, requester))
    assert out["ok"] is False
    assert out["error"]["code"] == "aws_mcp_error"
    assert "try again" in out["error"]["message"].lower()
    assert stand_in.stats()["executed"] == 0


async def test_an_unreachable_aws_mcp_server_is_an_error_result(
    make_bridge, config: BridgeConfig, requester: str
) -> None:
    from tests.fixtures.aws import free_port

    bridge = make_bridge(config, aws_mcp_url=f"http://127.0.0.1:{free_port()}/mcp", mcp_retries=1)
    out = await bridge.query(event("aws s3 ls", STAGING, requester))
    assert out["ok"] is False
    assert out["error"]["code"] == "aws_mcp_unavailable"
    assert "could not be reached" in out["error"]["message"]


async def test_a_mutation_is_not_retried_after_an_answer_that_may_follow_execution(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str, org: Org
) -> None:
    from tests.bridge.conftest import WRITABLE
    from tests.fixtures.bridge_stack import put_approval

    bridge = make_bridge(config)
    command = "aws s3 mb s3://maybe-made"
    first = put_approval(org.moto_url, org.tables, command=command, accounts=[WRITABLE], requester=requester)
    stand_in.faults(fail_next=1, fail_status=500)
    out = await bridge.query(event(command, WRITABLE, requester, approval_id=first))
    assert out["ok"] is False and out["error"]["code"] == "aws_mcp_error"
    assert stand_in.stats()["failed_injected"] == 1  # one attempt, no retry
    # 503 promises the request was not processed: retried, and run once.
    second = put_approval(org.moto_url, org.tables, command=command, accounts=[WRITABLE], requester=requester)
    stand_in.faults(fail_next=1, fail_status=503)
    out = await bridge.query(event(command, WRITABLE, requester, approval_id=second))
    assert out["ok"] is True, out
    assert stand_in.stats()["executed"] == 1
