"""A wide fan-out stays under the response limit: full results to S3, a cut share per account inline.

Also: the per-account timeout and the whole request's budget are told per account when hit, and
one call accepts up to 1,000 accounts.
"""

import json
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bridge.config import BridgeConfig
from bridge.engine import MAX_ACCOUNTS, Bridge
from bridge.offload import PREFIX, fit
from tests.bridge.conftest import DEVELOPMENT, PRODUCTION, STAGING, Org, event
from tests.fixtures.bridge_stack import StandIn, central

ACCOUNTS = [STAGING, PRODUCTION, DEVELOPMENT]
COMMAND = "aws sts get-caller-identity"


def _bucket(org: Org) -> str:
    name = f"results-{uuid.uuid4().hex[:8]}"
    central(org.moto_url, "s3").create_bucket(Bucket=name)
    return name


async def test_a_response_over_the_limit_keeps_a_share_per_account_and_the_full_results_in_s3(
    make_bridge: Callable[..., Bridge], config: BridgeConfig, org: Org, stand_in: StandIn, requester: str
) -> None:
    bucket = _bucket(org)
    stand_in.faults(latency_only=True, response_bytes=50_000)
    bridge = make_bridge(config, max_response_bytes=100_000, results_bucket=bucket)
    out = await bridge.query_accounts(event(COMMAND, ACCOUNTS, requester))
    assert out["ok_count"] == 3
    assert len(json.dumps(out).encode()) <= 100_000
    ref = out["full_results"]
    assert ref["bucket"] == bucket and ref["key"].startswith(PREFIX) and ref["accounts"] == 3
    for r in out["results"]:
        assert r["truncated"] is True and r["offloaded"] is True
        assert "TRUNCATED by CentralOps" in r["result"]
    stored = json.loads(central(org.moto_url, "s3").get_object(Bucket=bucket, Key=ref["key"])["Body"].read())
    assert ref["bytes"] > 150_000
    assert [r["account_id"] for r in stored["results"]] == ACCOUNTS
    assert all(len(r["result"]["Padding"]) == 50_000 for r in stored["results"])


async def test_without_a_bucket_the_results_are_cut_and_the_response_says_so(
    make_bridge: Callable[..., Bridge], config: BridgeConfig, stand_in: StandIn, requester: str
) -> None:
    stand_in.faults(latency_only=True, response_bytes=60_000)
    out = await make_bridge(config, max_response_bytes=100_000).query_accounts(
        event(COMMAND, ACCOUNTS, requester)
    )
    assert len(json.dumps(out).encode()) <= 100_000
    assert "full_results" not in out
    assert "no results bucket" in out["full_results_error"]
    assert all(r["truncated"] and not r["offloaded"] for r in out["results"])


async def test_a_response_within_the_limit_is_returned_whole(
    make_bridge: Callable[..., Bridge], config: BridgeConfig, org: Org, stand_in: StandIn, requester: str
) -> None:
    stand_in.faults(latency_only=True, response_bytes=1_000)
    out = await make_bridge(config, results_bucket=_bucket(org)).query_accounts(
        event(COMMAND, ACCOUNTS, requester)
    )
    assert "full_results" not in out and "full_results_error" not in out
    assert all(len(r["result"]["Padding"]) == 1_000 and not r["truncated"] for r in out["results"])


async def test_a_failed_write_still_returns_cut_results_under_the_limit(requester: str) -> None:
    class FailingS3:
        def put_object(self, **kwargs: Any) -> None:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")

    results = [
        {"ok": True, "account_id": str(i), "result": "y" * 5_000, "truncated": False} for i in range(300)
    ]
    out = fit(
        {"results": results, "ok_count": 300, "error_count": 0},
        max_bytes=200_000,
        bucket="b",
        s3=FailingS3,
        requester=requester,
    )
    assert len(json.dumps(out).encode()) <= 200_000
    assert "could not be stored" in out["full_results_error"]


async def test_the_whole_budget_and_the_account_timeout_are_told_per_account(
    make_bridge: Callable[..., Bridge], config: BridgeConfig, stand_in: StandIn, requester: str
) -> None:
    stand_in.faults(latency_only=True, account_latency_ms={PRODUCTION: 3_000})
    bridge = make_bridge(config)
    await bridge.query_accounts(event(COMMAND, ACCOUNTS, requester))  # warm: credentials and sessions
    bridge.config = replace(config, total_budget_s=1.0)
    out = await bridge.query_accounts(event(COMMAND, ACCOUNTS, requester))
    by_id = {r["account_id"]: r for r in out["results"]}
    assert by_id[STAGING]["ok"] and by_id[DEVELOPMENT]["ok"]
    assert by_id[PRODUCTION]["error"]["code"] == "budget_exhausted"
    assert "1 s budget" in by_id[PRODUCTION]["error"]["message"]
    bridge.config = replace(config, account_timeout_s=1.0)
    out = await bridge.query_accounts(event(COMMAND, ACCOUNTS, requester))
    by_id = {r["account_id"]: r for r in out["results"]}
    assert by_id[PRODUCTION]["error"]["code"] == "account_timeout"
    assert "within 1 s" in by_id[PRODUCTION]["error"]["message"]


async def test_a_thousand_accounts_are_accepted_and_more_are_refused(
    make_bridge: Callable[..., Bridge], config: BridgeConfig, requester: str
) -> None:
    assert MAX_ACCOUNTS == 1_000
    ids = [f"9{i:011d}" for i in range(MAX_ACCOUNTS + 1)]
    out = await make_bridge(config).query_accounts(event(COMMAND, ids, requester))
    assert [r["error"]["code"] for r in out["results"]] == ["too_many_accounts"]
    assert "limit is 1000" in out["results"][0]["error"]["message"]


async def test_a_fan_out_reads_the_registry_in_batches_of_a_hundred(
    make_bridge: Callable[..., Bridge], config: BridgeConfig, stand_in: StandIn, requester: str
) -> None:
    stand_in.faults(latency_only=True)
    bridge = make_bridge(config)
    client = bridge.registry._dynamodb()
    calls: list[str] = []
    for name in ("get_item", "batch_get_item"):
        real = getattr(client, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            return _real(*args, **kwargs)

        setattr(client, name, counted)
    unknown = "799999999999"
    out = await bridge.query_accounts(event(COMMAND, [*ACCOUNTS, unknown], requester))
    assert calls == ["batch_get_item", "get_item"]  # one batch for all; the unknown id is reported on its own
    by_id = {r["account_id"]: r for r in out["results"]}
    assert all(by_id[a]["ok"] for a in ACCOUNTS)
    assert by_id[unknown]["error"]["code"] == "unknown_account"
    calls.clear()
    await bridge.query_accounts(event(COMMAND, ACCOUNTS, requester))
    assert calls == []  # cached


async def test_a_split_call_keeps_to_its_share_of_the_budget_and_a_share_never_raises_it(
    make_bridge: Callable[..., Bridge], config: BridgeConfig, org: Org, stand_in: StandIn, requester: str
) -> None:
    stand_in.faults(latency_only=True, response_bytes=30_000)
    bridge = make_bridge(config, max_response_bytes=100_000, results_bucket=_bucket(org))
    whole = await bridge.query_accounts(event(COMMAND, [STAGING], requester))
    assert "full_results" not in whole  # 30 kB fits the whole budget
    half = await bridge.query_accounts({**event(COMMAND, [STAGING], requester), "inline_share": 0.25})
    assert len(json.dumps(half).encode()) <= 25_000
    assert half["full_results"]["accounts"] == 1 and half["results"][0]["offloaded"] is True
    unset = await bridge.query_accounts({**event(COMMAND, [STAGING], requester), "inline_share": None})
    assert "full_results" not in unset and unset["ok_count"] == 1
    for bad in (0, -1, 1.5, True, "0.5"):
        out = await bridge.query_accounts({**event(COMMAND, [STAGING], requester), "inline_share": bad})
        [refused] = out["results"]
        assert (
            refused["error"]["code"] == "invalid_arguments" and "inline_share" in refused["error"]["message"]
        )
