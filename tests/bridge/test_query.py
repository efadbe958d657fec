"""Read-only commands through the real stand-in and moto: the right account, cached credentials, results."""

import asyncio

from bridge.config import BridgeConfig
from bridge.credentials import source_identity, tag_value
from tests.bridge.conftest import BUCKETS, DEVELOPMENT, DISABLED, PRODUCTION, STAGING, Org, event
from tests.fixtures.bridge_stack import StandIn, audit_records


def _names(result: dict) -> set[str]:
    return {b["Name"] for b in result["result"]["Buckets"]}


async def test_query_sees_only_the_accounts_own_buckets(
    make_bridge, config: BridgeConfig, requester: str
) -> None:
    bridge = make_bridge(config)
    out = await bridge.query(event("aws s3api list-buckets", STAGING, requester))
    assert out["ok"] is True, out
    assert _names(out) == set(BUCKETS[STAGING])
    assert out["classification"] == "read"
    assert out["account_id"] == STAGING and out["account_name"] == "staging"
    assert out["truncated"] is False
    assert out["command"] == "aws s3api list-buckets"


async def test_query_accounts_returns_one_result_per_account_in_order(
    make_bridge, config: BridgeConfig, requester: str
) -> None:
    bridge = make_bridge(config)
    order = [PRODUCTION, DEVELOPMENT, STAGING]
    out = await bridge.query_accounts(event("aws s3api list-buckets", order, requester))
    assert [r["account_id"] for r in out["results"]] == order
    assert [_names(r) for r in out["results"]] == [set(BUCKETS[a]) for a in order]
    assert (out["ok_count"], out["error_count"]) == (3, 0)


async def test_plain_text_output_is_returned_as_text(
    make_bridge, config: BridgeConfig, requester: str
) -> None:
    out = await make_bridge(config).query(event("aws s3 ls", DEVELOPMENT, requester))
    assert out["ok"] is True
    assert isinstance(out["result"], str) and "dev-sandbox" in out["result"]


async def test_credentials_are_assumed_once_for_repeated_and_concurrent_queries(
    make_bridge, config: BridgeConfig, requester: str
) -> None:
    bridge = make_bridge(config)
    outs = await asyncio.gather(*(bridge.query(event("aws s3 ls", STAGING, requester)) for _ in range(8)))
    for _ in range(4):
        outs.append(await bridge.query(event("aws s3 ls", STAGING, requester)))
    assert all(o["ok"] for o in outs)
    assert bridge.credentials.assume_role_calls == 1
    assert bridge.aws_mcp.sessions_opened == 1


async def test_another_person_gets_their_own_role_session(
    make_bridge, config: BridgeConfig, requester: str
) -> None:
    bridge = make_bridge(config)
    await bridge.query(event("aws s3 ls", STAGING, requester))
    await bridge.query(event("aws s3 ls", STAGING, "someone-else@example.com"))
    assert bridge.credentials.assume_role_calls == 2


async def test_assume_role_carries_source_identity_and_session_tags(
    make_bridge, config: BridgeConfig, requester: str
) -> None:
    bridge = make_bridge(config)
    await bridge.query(event("aws s3 ls", STAGING, "Ana María <ana@example.com>"))
    sts = bridge.credentials._client()
    params = sts.calls[-1]
    assert params["RoleArn"] == f"arn:aws:iam::{STAGING}:role/CentralOpsTargetRole"
    assert params["SourceIdentity"] == "ana_mar_a__ana@example.com_"  # the identity rule lower-cases emails
    assert {t["Key"]: t["Value"] for t in params["Tags"]} == {"platform": "slack", "channel": "C0TEST"}


def test_source_identity_is_reduced_to_the_sts_alphabet() -> None:
    assert source_identity("alice@example.com") == "alice@example.com"
    assert source_identity("x" * 100) == "x" * 64
    assert source_identity("") == "centralops-unknown"
    assert source_identity("a b;c") == "a_b_c"
    assert tag_value("C0#chan") == "C0_chan"


async def test_unknown_and_disabled_accounts_carry_their_own_errors(
    make_bridge, config: BridgeConfig, requester: str, stand_in: StandIn
) -> None:
    bridge = make_bridge(config)
    out = await bridge.query_accounts(
        event("aws s3 ls", [STAGING, DISABLED, "799999999999", "prod"], requester)
    )
    codes = [r["ok"] or r["error"]["code"] for r in out["results"]]
    assert codes == [True, "account_disabled", "unknown_account", "invalid_account_id"]
    assert all(r["error"]["account_id"] == r["account_id"] for r in out["results"][1:])
    assert stand_in.stats()["executed"] == 1


async def test_region_argument_and_command_region_must_agree(
    make_bridge, config: BridgeConfig, requester: str, stand_in: StandIn
) -> None:
    bridge = make_bridge(config)
    ok = await bridge.query(event("aws s3 ls", STAGING, requester, region="eu-west-1"))
    assert ok["ok"] and ok["region"] == "eu-west-1"
    assert stand_in.stats()["commands"][-1] == "aws s3 ls --region eu-west-1 --output json"
    bad = await bridge.query(event("aws s3 ls --region us-west-2", STAGING, requester, region="eu-west-1"))
    assert bad["error"]["code"] == "region_conflict"


async def test_output_over_the_cap_is_cut_with_a_marker(
    make_bridge, config: BridgeConfig, requester: str
) -> None:
    out = await make_bridge(config, max_output_chars=60).query(
        event("aws s3api list-buckets", PRODUCTION, requester)
    )
    assert out["ok"] is True and out["truncated"] is True
    assert out["result"].startswith('{"Buckets":')
    assert "[TRUNCATED by CentralOps: 60 of" in out["result"]


async def test_service_errors_are_results_with_the_cli_message(
    make_bridge, config: BridgeConfig, requester: str, org: Org
) -> None:
    out = await make_bridge(config).query(
        event("aws s3api get-bucket-tagging --bucket nope", STAGING, requester)
    )
    assert out["ok"] is False
    assert out["error"]["code"] == "aws_error"
    assert "NoSuchBucket" in out["error"]["message"]
    [record] = audit_records(org.moto_url, org.tables, requester)
    assert record["outcome"] == "aws_error" and record["error_code"] == "aws_error"


async def test_every_executed_command_is_audited(
    make_bridge, config: BridgeConfig, requester: str, org: Org
) -> None:
    bridge = make_bridge(config)
    await bridge.query_accounts(event("aws s3 ls", [STAGING, PRODUCTION], requester))
    records = audit_records(org.moto_url, org.tables, requester)
    assert sorted(r["account_id"] for r in records) == sorted([STAGING, PRODUCTION])
    for r in records:
        assert r["outcome"] == "executed"
        assert r["command"] == "aws s3 ls"
        assert r["classification"] == "read"
        assert r["tool"] == "query_accounts"
        assert r["platform"] == "slack" and r["channel"] == "C0TEST"
        assert int(r["duration_ms"]) >= 0 and r["time"].startswith("20")


async def test_the_registry_entry_chooses_role_and_external_id(
    make_bridge, config: BridgeConfig, requester: str
) -> None:
    from tests.bridge.conftest import PARTNER

    bridge = make_bridge(config, external_id="ext-default")
    out = await bridge.query(event("aws s3api list-buckets", PARTNER, requester))
    assert out["ok"] is True and _names(out) == set(BUCKETS[PARTNER])
    await bridge.query(event("aws s3 ls", STAGING, requester))
    partner, staging = bridge.credentials._client().calls
    assert partner["RoleArn"] == f"arn:aws:iam::{PARTNER}:role/PartnerReadOnly"
    assert partner["ExternalId"] == "ext-7f3a"
    assert staging["RoleArn"].endswith(":role/CentralOpsTargetRole")
    assert staging["ExternalId"] == "ext-default"  # the deployment's default when the entry names none


async def test_credentials_are_refreshed_five_minutes_before_they_expire(org: Org) -> None:
    import time

    from bridge.credentials import Caller, CredentialProvider
    from tests.fixtures.bridge_fakes import DenyingSts
    from tests.fixtures.bridge_stack import central

    sts = DenyingSts(central(org.moto_url, "sts"), set())
    now = [time.time()]
    provider = CredentialProvider(lambda: sts, clock=lambda: now[0])
    caller = Caller("alice@example.com", "slack", "C1")
    first = await provider.get(STAGING, "CentralOpsTargetRole", caller)
    now[0] = first.expires_at - 301
    assert await provider.get(STAGING, "CentralOpsTargetRole", caller) is first
    now[0] = first.expires_at - 299
    second = await provider.get(STAGING, "CentralOpsTargetRole", caller)
    assert second is not first and provider.assume_role_calls == 2
    assert sts.calls[0]["DurationSeconds"] == 3600
