"""The bridge believes only the stamped caller: identity, entitlement and approvals decided on it."""

from typing import Any

import pytest

from bridge.config import BridgeConfig
from centralops.identity import CALLER_KEY
from tests.bridge.conftest import DEVELOPMENT, PRODUCTION, STAGING, WRITABLE, Org, event
from tests.fixtures.bridge_stack import StandIn, audit_records, central, put_approval

TAG = "aws s3api put-bucket-tagging --bucket wr-logs --tagging TagSet=[{Key=team,Value=ops}]"


@pytest.mark.parametrize(
    ("caller", "code"),
    [
        (None, "missing_caller"),
        ("alice@example.com", "missing_caller"),
        ([], "missing_caller"),
        ({}, "missing_caller"),
        ({"sub": "s", "username": "u", "groups": "centralops-operators"}, "missing_caller"),
        ({"sub": "s", "username": "u", "groups": [1]}, "missing_caller"),
        ({"sub": "s", "username": 3, "groups": []}, "missing_caller"),
        ({"sub": "s", "username": "u", "groups": [], "email": ["a@example.com"]}, "missing_caller"),
        ({"sub": "s", "username": "u", "groups": [], "admin": True}, "missing_caller"),
        ({"sub": "s", "username": "bob@example.com", "groups": []}, "unverified_email"),
        ({"sub": "s", "username": "", "groups": []}, "missing_identity"),
    ],
)
async def test_a_missing_or_malformed_caller_is_refused_before_any_call(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str, org: Org, caller: Any, code: str
) -> None:
    payload = event("aws s3 ls", STAGING, requester)
    if caller is None:
        del payload[CALLER_KEY]
    else:
        payload[CALLER_KEY] = caller
    out = await make_bridge(config).query(payload)
    assert out["ok"] is False
    assert out["error"]["code"] == code
    assert stand_in.stats()["requests"] == 0
    [record] = [r for r in audit_records(org.moto_url, org.tables, "unknown") if r["error_code"] == code][-1:]
    assert record["outcome"] == "refused"


async def test_the_requester_field_is_ignored_and_the_stamped_caller_is_audited(
    make_bridge, config: BridgeConfig, requester: str, org: Org
) -> None:
    bridge = make_bridge(config)
    payload = {**event("aws s3 ls", STAGING, requester), "requester": "alice@example.com"}
    out = await bridge.query(payload)
    assert out["ok"], out
    [record] = audit_records(org.moto_url, org.tables, requester)
    assert record["outcome"] == "executed"
    assert audit_records(org.moto_url, org.tables, "alice@example.com") == []
    assert bridge.credentials._client().calls[-1]["SourceIdentity"] == requester


async def test_an_account_limited_to_a_group_is_refused_to_others_in_query_and_query_accounts(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str, org: Org
) -> None:
    bridge = make_bridge(config)
    one = await bridge.query(event("aws s3 ls", PRODUCTION, requester, groups=()))
    assert one["error"]["code"] == "not_entitled"
    assert "centralops-operators" in one["error"]["message"]
    many = await bridge.query_accounts(
        event("aws s3 ls", [STAGING, PRODUCTION, DEVELOPMENT], requester, groups=())
    )
    assert many["ok_count"] == 0
    assert {r["error"]["code"] for r in many["results"]} == {"not_entitled"}
    assert stand_in.stats()["requests"] == 0
    records = audit_records(org.moto_url, org.tables, requester)
    assert len(records) == 4
    assert {(r["outcome"], r["error_code"]) for r in records} == {("refused", "not_entitled")}
    assert {r["tool"] for r in records} == {"query", "query_accounts"}


async def test_a_member_of_another_group_is_refused_and_a_member_of_the_allowed_one_runs(
    make_bridge, config: BridgeConfig, requester: str
) -> None:
    bridge = make_bridge(config)
    other = await bridge.query(event("aws s3 ls", PRODUCTION, requester, groups=("centralops-approvers",)))
    assert other["error"]["code"] == "not_entitled"
    allowed = await bridge.query(
        event("aws s3 ls", PRODUCTION, requester, groups=("x", "centralops-operators"))
    )
    assert allowed["ok"], allowed


async def test_accounts_open_to_everyone_run_for_a_caller_without_groups(
    make_bridge, config: BridgeConfig, requester: str
) -> None:
    out = await make_bridge(config).query_accounts(
        event("aws s3 ls", [STAGING, DEVELOPMENT], requester, groups=())
    )
    assert out["ok_count"] == 2


@pytest.mark.parametrize(
    ("approved", "call", "code"),
    [
        ({"tool": "query_accounts"}, {}, "approval_wrong_tool"),
        ({"tool": "query", "region": "eu-west-1"}, {}, "approval_wrong_region"),
        ({"tool": "query"}, {"region": "eu-west-1"}, "approval_wrong_region"),
        ({"tool": "query", "region": "eu-west-1"}, {"region": "us-west-2"}, "approval_wrong_region"),
        ({"tool": "query", "decided_by": "TESTER"}, {}, "approval_self_approved"),
    ],
)
async def test_an_approval_is_bound_to_its_tool_region_and_a_second_person(
    make_bridge,
    config: BridgeConfig,
    stand_in: StandIn,
    requester: str,
    org: Org,
    approved: dict[str, Any],
    call: dict[str, Any],
    code: str,
) -> None:
    if approved.get("decided_by") == "TESTER":
        approved = {**approved, "decided_by": requester.upper()}
    approval_id = put_approval(
        org.moto_url, org.tables, command=TAG, accounts=[WRITABLE], requester=requester, **approved
    )
    out = await make_bridge(config).query(event(TAG, WRITABLE, requester, approval_id=approval_id, **call))
    assert out["error"]["code"] == code
    assert stand_in.stats()["requests"] == 0


async def test_an_approval_granted_for_a_region_runs_in_that_region(
    make_bridge, config: BridgeConfig, requester: str, org: Org
) -> None:
    approval_id = put_approval(
        org.moto_url, org.tables, command=TAG, accounts=[WRITABLE], requester=requester, region="us-east-1"
    )
    out = await make_bridge(config).query(
        event(TAG, WRITABLE, requester, approval_id=approval_id, region="us-east-1")
    )
    assert out["ok"], out


async def test_another_persons_approval_is_refused_whatever_requester_the_call_names(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str, org: Org
) -> None:
    approval_id = put_approval(
        org.moto_url, org.tables, command=TAG, accounts=[WRITABLE], requester="alice@example.com"
    )
    payload = {**event(TAG, WRITABLE, requester, approval_id=approval_id), "requester": "alice@example.com"}
    out = await make_bridge(config).query(payload)
    assert out["error"]["code"] == "approval_wrong_requester"
    assert stand_in.stats()["requests"] == 0


class CountingDynamoDB:
    """A real DynamoDB client (moto) that counts the calls made through it."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return method(*args, **kwargs)

        return counted


async def test_the_entitlement_check_reads_the_registry_in_one_batch_that_the_accounts_reuse(
    make_bridge, config: BridgeConfig, requester: str, org: Org
) -> None:
    ddb = CountingDynamoDB(central(org.moto_url, "dynamodb"))
    bridge = make_bridge(config)
    bridge.registry._factory = lambda: ddb
    out = await bridge.query_accounts(
        event("aws s3 ls", [STAGING, PRODUCTION, DEVELOPMENT, "799999999999"], requester)
    )
    assert out["ok_count"] == 3
    assert out["results"][3]["error"]["code"] == "unknown_account"
    # One BatchGetItem for the four accounts; only the unknown one is looked up again, to say so.
    assert ddb.calls.count("batch_get_item") == 1
    assert ddb.calls.count("get_item") == 1
