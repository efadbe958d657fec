"""``dry_run: true``: every check and the classification, no AWS call, no approval consumed, nothing executed."""

from bridge.config import BridgeConfig
from tests.bridge.conftest import DEVELOPMENT, DISABLED, STAGING, WRITABLE, Org, event
from tests.fixtures.bridge_stack import StandIn, audit_records, put_approval


async def test_a_dry_run_classifies_without_calling_aws(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str, org: Org
) -> None:
    bridge = make_bridge(config)
    read = await bridge.query(event("aws ec2 describe-instances", STAGING, requester, dry_run=True))
    change = await bridge.query(event("aws s3 mb s3://dry-bucket", WRITABLE, requester, dry_run=True))
    assert (read["ok"], read["dry_run"], read["classification"], read["api_call"]) == (
        True,
        True,
        "read",
        "ec2:DescribeInstances",
    )
    assert (change["ok"], change["classification"]) == (True, "mutating")
    assert stand_in.stats()["requests"] == 0
    assert bridge.credentials.assume_role_calls == 0
    assert [r for r in audit_records(org.moto_url, org.tables, requester) if r["outcome"] == "executed"] == []


async def test_a_dry_run_returns_the_refusal_the_real_call_would_get(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str, org: Org
) -> None:
    bridge = make_bridge(config)
    denied = await bridge.query(
        event(
            """aws ssm get-parameter --cli-input-json '{"Name": "/db", "WithDecryption": true}'""",
            STAGING,
            requester,
            dry_run=True,
        )
    )
    assert denied["error"]["code"] == "denied_operation"
    no_role = await bridge.query(event("aws s3 mb s3://x-bucket", DEVELOPMENT, requester, dry_run=True))
    assert no_role["error"]["code"] == "no_write_role"
    fan = await bridge.query_accounts(event("aws s3 ls", [STAGING, DISABLED], requester, dry_run=True))
    assert [r["ok"] for r in fan["results"]] == [True, False]
    assert fan["results"][1]["error"]["code"] == "account_disabled"
    assert stand_in.stats()["requests"] == 0


async def test_a_dry_run_consumes_no_approval(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str, org: Org
) -> None:
    bridge = make_bridge(config)
    command = "aws s3 mb s3://dry-approved"
    approval = put_approval(
        org.moto_url, org.tables, command=command, accounts=[WRITABLE], requester=requester
    )
    dry = await bridge.query(event(command, WRITABLE, requester, approval_id=approval, dry_run=True))
    assert dry["ok"] and dry["dry_run"]
    real = await bridge.query(event(command, WRITABLE, requester, approval_id=approval))
    assert real["ok"] is True and "dry_run" not in real
    assert stand_in.stats()["tool_calls"] == 1
