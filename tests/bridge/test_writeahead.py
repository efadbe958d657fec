"""Write-ahead audit: no command runs in an account before its intent is stored; outcomes follow in batches.

Against the moto server and the AWS MCP Server stand-in: the stand-in's
counters prove what ran, the audit and approvals tables what was recorded.
"""

import asyncio
import time
from dataclasses import replace
from typing import Any

from bridge.audit import AuditLog
from bridge.config import BridgeConfig
from bridge.reconcile import Reconciler
from tests.bridge.conftest import BUCKETS, DEVELOPMENT, SLOW, STAGING, WRITABLE, Org, event
from tests.fixtures.audit_faults import FlakyAuditWrites
from tests.fixtures.bridge_stack import StandIn, audit_records, central, put_approval

LIST = "aws s3api list-buckets"


def _flaky_bridge(make_bridge, config: BridgeConfig, org: Org, **flaky: Any):  # type: ignore[no-untyped-def]
    writes = FlakyAuditWrites(central(org.moto_url, "dynamodb"), **flaky)
    bridge = make_bridge(config)
    bridge.audit = AuditLog(org.tables.audit, lambda: writes, sleep=lambda _: None)
    return bridge, writes


def _approval_item(org: Org, approval_id: str) -> dict[str, Any]:
    item = central(org.moto_url, "dynamodb").get_item(
        TableName=org.tables.approvals, Key={"approval_id": {"S": approval_id}}, ConsistentRead=True
    )["Item"]
    return {k: next(iter(v.values())) for k, v in item.items()}


def _open(org: Org, requester: str) -> list[Any]:
    return [
        i
        for i in Reconciler(org.tables.audit, lambda: central(org.moto_url, "dynamodb")).pending()
        if i.requester == requester
    ]


async def test_every_account_ends_with_one_completed_record_and_no_open_intent(
    make_bridge, config: BridgeConfig, requester: str, org: Org
) -> None:
    out = await make_bridge(config).query_accounts(event(LIST, [STAGING, DEVELOPMENT], requester))
    assert out["ok_count"] == 2
    records = audit_records(org.moto_url, org.tables, requester)
    assert sorted(r["account_id"] for r in records) == sorted([STAGING, DEVELOPMENT])
    assert {(r["status"], r["outcome"]) for r in records} == {("done", "executed")}
    assert all("pending_account" not in r for r in records)
    assert _open(org, requester) == []


async def test_a_wide_fan_out_writes_intents_and_outcomes_in_batches_of_25(
    make_bridge, config: BridgeConfig, requester: str, org: Org, stand_in: StandIn
) -> None:
    # 60 unregistered accounts: each answers at once with its own error, after its intent.
    accounts = [f"72000000{i:04d}" for i in range(60)]
    bridge, writes = _flaky_bridge(make_bridge, config, org)
    out = await bridge.query_accounts(event(LIST, accounts, requester))
    assert {r["error"]["code"] for r in out["results"]} == {"unknown_account"}
    assert max(writes.batches) == 25 and sum(writes.batches) == 120  # each account: intent + outcome
    assert len(writes.batches) <= 8  # 3 requests of intents, outcomes batched as they came
    records = audit_records(org.moto_url, org.tables, requester)
    assert len(records) == 60 and {r["status"] for r in records} == {"done"}
    assert {r["outcome"] for r in records} == {"failed"}
    assert stand_in.stats()["tool_calls"] == 0


class _SlowSecondIntentBatch:
    """Stores intents with a real client; the second batch of intents takes a while to be stored."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.intent_batches = 0
        self.stored_at: dict[str, float] = {}  # account -> when its intent was stored

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]], **kw: Any) -> Any:
        (requests,) = RequestItems.values()
        items = [r["PutRequest"]["Item"] for r in requests]
        intents = [i for i in items if i["status"]["S"] == "intent"]
        if intents:
            self.intent_batches += 1
            if self.intent_batches == 2:
                time.sleep(1.0)
        out = self._inner.batch_write_item(RequestItems=RequestItems, **kw)
        now = time.monotonic()
        self.stored_at.update((i["account_id"]["S"], now) for i in intents)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def test_a_read_starts_each_account_once_its_own_intent_is_stored_not_after_all_of_them(
    make_bridge, config: BridgeConfig, requester: str, org: Org, stand_in: StandIn
) -> None:
    accounts = [f"73000000{i:04d}" for i in range(40)]  # two batches of intents: 25, then 15
    writes = _SlowSecondIntentBatch(central(org.moto_url, "dynamodb"))
    bridge = make_bridge(config, max_concurrency=40)
    bridge.audit = AuditLog(org.tables.audit, lambda: writes)
    started: dict[str, float] = {}
    one = bridge._one

    async def timed_one(account_id: str, plan: Any) -> Any:
        started[account_id] = time.monotonic()
        return await one(account_id, plan)

    bridge._one = timed_one  # type: ignore[method-assign]
    out = await bridge.query_accounts(event(LIST, accounts, requester))
    assert {r["error"]["code"] for r in out["results"]} == {"unknown_account"}
    assert sorted(started) == sorted(accounts)
    # No account starts before its own intent is stored...
    assert all(started[a] >= writes.stored_at[a] for a in accounts)
    # ...and the first batch's accounts did not wait for the slow second batch.
    last_stored = max(writes.stored_at.values())
    assert all(started[a] < last_stored - 0.5 for a in accounts[:25])
    records = audit_records(org.moto_url, org.tables, requester)
    assert len(records) == 40 and {r["status"] for r in records} == {"done"}
    assert _open(org, requester) == []


async def test_unprocessed_intents_are_retried_and_the_command_then_runs(
    make_bridge, config: BridgeConfig, requester: str, org: Org, stand_in: StandIn
) -> None:
    bridge, writes = _flaky_bridge(make_bridge, config, org, refuse_first=2)
    out = await bridge.query_accounts(event(LIST, [STAGING, DEVELOPMENT], requester))
    assert out["ok_count"] == 2, out
    assert writes.batches[:3] == [2, 2, 2]  # twice handed back, then stored
    assert stand_in.stats()["tool_calls"] == 2
    assert {r["status"] for r in audit_records(org.moto_url, org.tables, requester)} == {"done"}


async def test_an_unwritable_audit_table_runs_nothing_and_says_so(
    make_bridge, config: BridgeConfig, requester: str, stand_in: StandIn
) -> None:
    bridge = make_bridge(config, audit_table="centralops-no-such-audit-table")
    out = await bridge.query_accounts(event(LIST, [STAGING, DEVELOPMENT], requester))
    assert out["error_count"] == 2
    for result in out["results"]:
        assert result["error"]["code"] == "audit_unavailable"
        message = result["error"]["message"]
        assert f"not run in account {result['account_id']}" in message and "Try again in a minute" in message
        assert "no-such-audit-table" not in message  # the table's name stays in the log
    stats = stand_in.stats()
    assert stats["tool_calls"] == 0 and stats["requests"] == 0


async def test_an_account_whose_intent_is_not_stored_does_not_run_and_the_others_do(
    make_bridge, config: BridgeConfig, requester: str, org: Org, stand_in: StandIn
) -> None:
    bridge, _ = _flaky_bridge(make_bridge, config, org, refuse_intents_of=frozenset({DEVELOPMENT}))
    out = await bridge.query_accounts(event(LIST, [STAGING, DEVELOPMENT], requester))
    staging, development = out["results"]
    assert staging["ok"] is True and {b["Name"] for b in staging["result"]["Buckets"]} == set(
        BUCKETS[STAGING]
    )
    assert development["error"]["code"] == "audit_unavailable"
    assert DEVELOPMENT in development["error"]["message"]
    stats = stand_in.stats()
    assert stats["tool_calls"] == 1 and DEVELOPMENT not in stats["by_account"]
    records = {r["account_id"]: r for r in audit_records(org.moto_url, org.tables, requester)}
    assert records[STAGING]["outcome"] == "executed"
    # Its outcome is still recorded (it was refused), so no open intent is left to reconcile.
    assert (records[DEVELOPMENT]["status"], records[DEVELOPMENT]["outcome"]) == ("done", "refused")
    assert records[DEVELOPMENT]["error_code"] == "audit_unavailable"


async def test_a_change_whose_intent_is_not_stored_runs_nowhere_and_keeps_its_approval(
    make_bridge, config: BridgeConfig, requester: str, org: Org, stand_in: StandIn
) -> None:
    command = "aws s3 mb s3://audited-first"
    approval = put_approval(
        org.moto_url, org.tables, command=command, accounts=[WRITABLE], requester=requester
    )
    bridge, _ = _flaky_bridge(make_bridge, config, org, refuse_intents_of=frozenset({WRITABLE}))
    out = await bridge.query(event(command, WRITABLE, requester, approval_id=approval))
    assert out["error"]["code"] == "audit_unavailable"
    assert "approval is still unused" in out["error"]["message"]
    assert stand_in.stats()["tool_calls"] == 0
    assert "consumed_at" not in _approval_item(org, approval)
    # The same approval then runs once, and only once.
    good = make_bridge(config)
    ran = await good.query(event(command, WRITABLE, requester, approval_id=approval))
    assert ran["ok"] is True, ran
    again = await good.query(event(command, WRITABLE, requester, approval_id=approval))
    assert again["error"]["code"] == "approval_used"
    assert stand_in.stats()["executed"] == 1
    assert "consumed_at" in _approval_item(org, approval)
    outcomes = sorted(
        (r["outcome"], r.get("error_code", "")) for r in audit_records(org.moto_url, org.tables, requester)
    )
    assert outcomes == [("executed", ""), ("refused", "approval_used"), ("refused", "audit_unavailable")]


async def test_a_refused_approval_leaves_no_intent_and_runs_nothing(
    make_bridge, config: BridgeConfig, requester: str, org: Org, stand_in: StandIn
) -> None:
    out = await make_bridge(config).query(event("aws s3 mb s3://never-approved", WRITABLE, requester))
    assert out["error"]["code"] == "approval_required"
    [record] = audit_records(org.moto_url, org.tables, requester)
    assert (record["status"], record["outcome"]) == ("done", "refused")
    assert stand_in.stats()["tool_calls"] == 0


async def test_a_slow_account_does_not_hold_back_the_record_of_the_others(
    make_bridge, config: BridgeConfig, requester: str, org: Org, stand_in: StandIn
) -> None:
    # The slow account is held (a delay longer than the test) until the others' records are seen, then let
    # go: the order is the test's however slowly a loaded machine runs.
    stand_in.faults(account_latency_ms={SLOW: 600_000})
    bridge = make_bridge(config)
    task = asyncio.create_task(bridge.query_accounts(event(LIST, [STAGING, DEVELOPMENT, SLOW], requester)))
    deadline = time.monotonic() + 15
    status: dict[str, str] = {}
    while time.monotonic() < deadline and not task.done():
        rows = await asyncio.to_thread(audit_records, org.moto_url, org.tables, requester)
        status = {r["account_id"]: r["status"] for r in rows}
        if status.get(STAGING) == status.get(DEVELOPMENT) == "done":
            break
        await asyncio.sleep(0.2)
    assert not task.done(), "the slow account answered before the others were recorded"
    assert status == {STAGING: "done", DEVELOPMENT: "done", SLOW: "intent"}
    assert [i.account_id for i in _open(org, requester)] == [SLOW]
    stand_in.faults(account_latency_ms={SLOW: 0})
    out = await task
    assert out["ok_count"] == 3
    assert {r["status"] for r in audit_records(org.moto_url, org.tables, requester)} == {"done"}


async def test_an_account_past_its_budget_is_recorded_as_timed_out_not_left_open(
    make_bridge, config: BridgeConfig, requester: str, org: Org, stand_in: StandIn
) -> None:
    stand_in.faults(account_latency_ms={SLOW: 120_000})  # abandoned unexecuted by the reset at teardown
    bridge = make_bridge(config, account_timeout_s=2.0)
    out = await bridge.query_accounts(event(LIST, [STAGING, SLOW], requester))
    staging, slow = out["results"]
    assert staging["ok"] is True
    assert (
        slow["error"]["code"] == "account_timeout" and "did not answer within 2 s" in slow["error"]["message"]
    )
    records = {r["account_id"]: r for r in audit_records(org.moto_url, org.tables, requester)}
    assert (records[SLOW]["status"], records[SLOW]["outcome"]) == ("done", "failed")
    assert records[SLOW]["error_code"] == "account_timeout"
    assert _open(org, requester) == []


def test_intents_carry_who_what_where_and_when(config: BridgeConfig) -> None:
    from bridge.credentials import Caller
    from bridge.results import audit_intents

    caller = Caller(requester="ann@example.com", platform="slack", channel="C1", groups=("g",), subject="s")
    [intent] = audit_intents([STAGING], caller, {"approval_id": "apr-1"}, "query", "aws s3 ls", "read")
    item = replace(intent, at=0.0).intent_item(now=99.0)
    plain = {k: next(iter(v.values())) for k, v in item.items()}
    assert plain == {
        "audit_id": intent.audit_id,
        "time": "1970-01-01T00:00:00.000+00:00",
        "requester": "ann@example.com",
        "account_id": STAGING,
        "command": "aws s3 ls",
        "classification": "read",
        "tool": "query",
        "approval_id": "apr-1",
        "platform": "slack",
        "channel": "C1",
        "status": "intent",
        "pending_account": STAGING,
    }


class _BrokenOutcomes(AuditLog):
    """Stores intents, then fails every outcome write with an error nobody planned for."""

    def put(self, records, *, intent=False):  # type: ignore[no-untyped-def]
        if not intent:
            raise RuntimeError("outcome write broke")
        return super().put(records, intent=intent)


async def test_a_broken_outcome_write_still_gives_the_person_the_result_and_leaves_the_intent_open(
    make_bridge, config: BridgeConfig, requester: str, org: Org, stand_in: StandIn
) -> None:
    bridge = make_bridge(config)
    bridge.audit = _BrokenOutcomes(org.tables.audit, lambda: central(org.moto_url, "dynamodb"))
    out = await bridge.query(event(LIST, STAGING, requester))
    assert out["ok"] is True and {b["Name"] for b in out["result"]["Buckets"]} == set(BUCKETS[STAGING])
    assert stand_in.stats()["executed"] == 1
    [record] = audit_records(org.moto_url, org.tables, requester)
    assert record["status"] == "intent"  # the command ran; an admin reconciles it
    assert [i.account_id for i in _open(org, requester)] == [STAGING]
