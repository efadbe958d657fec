"""Mutating commands: refused without a matching, unused, unexpired approval; a valid one runs exactly once."""

import time

from bridge.config import BridgeConfig
from tests.bridge.conftest import DEVELOPMENT, PRODUCTION, WRITABLE, Org, event
from tests.fixtures.bridge_stack import StandIn, audit_records, central, member, put_approval

MAKE = "aws s3 mb s3://{name}"


def _bucket_exists(org: Org, account: str, name: str) -> bool:
    return name in {b["Name"] for b in member(org.moto_url, account, "s3").list_buckets()["Buckets"]}


async def test_mutation_without_approval_is_refused_before_any_call(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str, org: Org
) -> None:
    bridge = make_bridge(config)
    out = await bridge.query(event(MAKE.format(name="no-approval"), WRITABLE, requester))
    assert out["error"]["code"] == "approval_required"
    assert out["classification"] == "mutating"
    assert "approval" in out["error"]["message"]
    assert stand_in.stats()["requests"] == 0
    assert not _bucket_exists(org, WRITABLE, "no-approval")
    [record] = audit_records(org.moto_url, org.tables, requester)
    assert (record["outcome"], record["error_code"], record["classification"]) == (
        "refused",
        "approval_required",
        "mutating",
    )


async def test_refused_approvals_name_what_is_wrong(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str, org: Org
) -> None:
    bridge = make_bridge(config)
    command = MAKE.format(name="refused-bucket")
    other = put_approval(
        org.moto_url, org.tables, command=command, accounts=[WRITABLE], requester="mallory@example.com"
    )
    expired = put_approval(
        org.moto_url, org.tables, command=command, accounts=[WRITABLE], requester=requester, expires_in=-5
    )
    pending = put_approval(
        org.moto_url, org.tables, command=command, accounts=[WRITABLE], requester=requester, status="pending"
    )
    denied = put_approval(
        org.moto_url, org.tables, command=command, accounts=[WRITABLE], requester=requester, status="denied"
    )
    wrong_command = put_approval(
        org.moto_url, org.tables, command=MAKE.format(name="other"), accounts=[WRITABLE], requester=requester
    )
    wrong_account = put_approval(
        org.moto_url, org.tables, command=command, accounts=[PRODUCTION], requester=requester
    )
    self_approved = put_approval(
        org.moto_url,
        org.tables,
        command=command,
        accounts=[WRITABLE],
        requester=requester,
        decided_by=requester,
    )
    cases = {
        other: "approval_wrong_requester",
        self_approved: "approval_self_approved",
        expired: "approval_expired",
        pending: "approval_not_approved",
        denied: "approval_not_approved",
        wrong_command: "approval_wrong_command",
        wrong_account: "approval_wrong_accounts",
        "apr-does-not-exist": "approval_not_found",
    }
    for approval_id, code in cases.items():
        out = await bridge.query(event(command, WRITABLE, requester, approval_id=approval_id))
        assert out["error"]["code"] == code, approval_id
    assert stand_in.stats()["requests"] == 0
    assert not _bucket_exists(org, WRITABLE, "refused-bucket")
    records = audit_records(org.moto_url, org.tables, requester)
    assert sorted(r["error_code"] for r in records) == sorted(cases.values())
    assert {r["approval_id"] for r in records} == set(cases)
    # None of them was consumed by the attempts.
    item = central(org.moto_url, "dynamodb").get_item(
        TableName=org.tables.approvals, Key={"approval_id": {"S": other}}
    )["Item"]
    assert "consumed_at" not in item


async def test_a_valid_approval_runs_exactly_once_and_a_replay_is_refused(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str, org: Org
) -> None:
    bridge = make_bridge(config)
    # Written as the agent proposed it; the bridge matches the normalised form.
    approval = put_approval(
        org.moto_url,
        org.tables,
        command="aws  s3 mb  's3://approved-bucket'",
        accounts=[WRITABLE],
        requester=requester,
    )
    command = MAKE.format(name="approved-bucket")
    first = await bridge.query(event(command, WRITABLE, requester, approval_id=approval))
    assert first["ok"] is True, first
    assert first["classification"] == "mutating"
    replay = await bridge.query(event(command, WRITABLE, requester, approval_id=approval))
    assert replay["error"]["code"] == "approval_used"
    stats = stand_in.stats()
    assert stats["executed"] == 1
    assert _bucket_exists(org, WRITABLE, "approved-bucket")
    # The write role was assumed, not the read-only one.
    sts = bridge.credentials._client()
    assert [c["RoleArn"].rsplit("/", 1)[1] for c in sts.calls] == ["CentralOpsWriteRole"]
    item = central(org.moto_url, "dynamodb").get_item(
        TableName=org.tables.approvals, Key={"approval_id": {"S": approval}}
    )["Item"]
    assert int(item["consumed_at"]["N"]) <= int(time.time())
    outcomes = sorted(
        (r["outcome"], r.get("error_code", "")) for r in audit_records(org.moto_url, org.tables, requester)
    )
    assert outcomes == [("executed", ""), ("refused", "approval_used")]


async def test_concurrent_uses_of_one_approval_run_once(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str, org: Org
) -> None:
    import asyncio

    command = MAKE.format(name="raced-bucket")
    approval = put_approval(
        org.moto_url, org.tables, command=command, accounts=[WRITABLE], requester=requester
    )
    bridges = [make_bridge(config) for _ in range(4)]
    outs = await asyncio.gather(
        *(b.query(event(command, WRITABLE, requester, approval_id=approval)) for b in bridges)
    )
    assert sum(1 for o in outs if o["ok"]) == 1
    assert {o["error"]["code"] for o in outs if not o["ok"]} == {"approval_used"}
    assert stand_in.stats()["executed"] == 1


async def test_an_account_without_a_write_role_refuses_even_with_approval(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str, org: Org
) -> None:
    command = MAKE.format(name="dev-bucket")
    approval = put_approval(
        org.moto_url, org.tables, command=command, accounts=[DEVELOPMENT], requester=requester
    )
    out = await make_bridge(config).query(event(command, DEVELOPMENT, requester, approval_id=approval))
    assert out["error"]["code"] == "no_write_role"
    assert "development" in out["error"]["message"] and "write_role_name" in out["error"]["message"]
    item = central(org.moto_url, "dynamodb").get_item(
        TableName=org.tables.approvals, Key={"approval_id": {"S": approval}}
    )["Item"]
    assert "consumed_at" not in item  # still usable once an administrator adds the role
    assert stand_in.stats()["requests"] == 0


async def test_an_approved_fan_out_mutation_runs_once_per_approved_account(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str, org: Org
) -> None:
    command = "aws s3api put-bucket-tagging --bucket wr-logs --tagging TagSet=[{Key=owner,Value=ops}]"
    approval = put_approval(
        org.moto_url,
        org.tables,
        command=command,
        accounts=[WRITABLE],
        requester=requester,
        tool="query_accounts",
    )
    bridge = make_bridge(config)
    wrong = await bridge.query_accounts(
        event(command, [WRITABLE, PRODUCTION], requester, approval_id=approval)
    )
    assert {r["error"]["code"] for r in wrong["results"]} == {"approval_wrong_accounts"}
    out = await bridge.query_accounts(event(command, [WRITABLE], requester, approval_id=approval))
    assert out["ok_count"] == 1, out
    tags = member(org.moto_url, WRITABLE, "s3").get_bucket_tagging(Bucket="wr-logs")["TagSet"]
    assert tags == [{"Key": "owner", "Value": "ops"}]
    assert stand_in.stats()["executed"] == 1
