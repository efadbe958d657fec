"""Faults around the audit: the bridge killed mid-fan-out, and moto (DynamoDB, STS, the members) frozen for 5 s.

The killed bridge runs in a process of its own (``tests.fixtures.audit_faults``);
its open intents are then listed and closed with the admin's tool,
``python -m bridge.reconcile``, run as an admin would. The freeze uses the
local stack's fault switch (``infra.local.faults.freeze``) on a moto server of
this module's own, so no other test waits on it.
"""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import httpx
import pytest

from bridge.config import BridgeConfig
from bridge.engine import Bridge
from bridge.reconcile import Reconciler
from infra.local.faults import freeze
from tests.bridge.conftest import BUCKETS, DEVELOPMENT, SLOW, STAGING, WRITABLE, Org, event
from tests.fixtures.aws import free_port
from tests.fixtures.bridge_stack import (
    ROOT,
    StandIn,
    Tables,
    audit_records,
    aws_mcp_server,
    central,
    member,
    put_approval,
    register,
    seed_bridge_tables,
)

LIST = "aws s3api list-buckets"


def _env(moto_url: str, audit_table: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CENTRALOPS_"))}
    env.update(
        AWS_ACCESS_KEY_ID="central",
        AWS_SECRET_ACCESS_KEY="central",
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL=moto_url,
        CENTRALOPS_AUDIT_TABLE=audit_table,
    )
    return env


def _reconcile(moto_url: str, audit_table: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge.reconcile", *args],
        cwd=ROOT,
        env=_env(moto_url, audit_table),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _wait(predicate: Any, what: str, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_bridge_killed_mid_fan_out_leaves_open_intents_that_an_admin_lists_and_closes(
    config: BridgeConfig, stand_in: StandIn, requester: str, org: Org
) -> None:
    stand_in.reset()
    stand_in.faults(account_latency_ms={SLOW: 60_000})
    spec = {
        "config": asdict(config),
        "tool": "query_accounts",
        "event": event(LIST, [STAGING, DEVELOPMENT, SLOW], requester),
    }
    bridge = subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.audit_faults"],
        cwd=ROOT,
        env=_env(org.moto_url, org.tables.audit),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert bridge.stdin is not None
        bridge.stdin.write(json.dumps(spec))
        bridge.stdin.close()

        def answered_and_recorded() -> bool:
            status = {
                r["account_id"]: r["status"] for r in audit_records(org.moto_url, org.tables, requester)
            }
            return status == {STAGING: "done", DEVELOPMENT: "done", SLOW: "intent"}

        _wait(answered_and_recorded, "the two quick accounts' outcomes")
        os.kill(bridge.pid, signal.SIGKILL)  # the Lambda dies while the slow account runs
        assert bridge.wait(timeout=10) == -signal.SIGKILL
        assert bridge.stdout is not None and bridge.stdout.read() == ""  # no answer reached anyone
        stats = stand_in.stats()  # before the reset abandons the slow call, unexecuted
    finally:
        with contextlib.suppress(ProcessLookupError):
            bridge.kill()
        stand_in.reset()

    assert stats["tool_calls"] == 3 and stats["executed"] == 2 and SLOW not in stats["by_account"]
    records = {r["account_id"]: r for r in audit_records(org.moto_url, org.tables, requester)}
    assert records[STAGING]["outcome"] == records[DEVELOPMENT]["outcome"] == "executed"
    slow = records[SLOW]
    assert slow["status"] == "intent" and "outcome" not in slow and slow["pending_account"] == SLOW

    # The admin's view: who asked what, where and when.
    listed = _reconcile(org.moto_url, org.tables.audit, "list", "--older-than", "0", "--account", SLOW)
    assert listed.returncode == 0, listed.stderr
    assert slow["audit_id"] in listed.stdout
    for shown in (
        f"who:   {requester}",
        f"what:  {LIST}  [read, query_accounts]",
        f"account {SLOW}",
        "slack channel C0TEST",
        slow["time"],
    ):
        assert shown in listed.stdout, shown
    # By default only intents older than any bridge run are listed: this one is seconds old.
    assert slow["audit_id"] not in _reconcile(org.moto_url, org.tables.audit, "list").stdout

    closed = _reconcile(
        org.moto_url,
        org.tables.audit,
        "resolve",
        slow["audit_id"],
        "--outcome",
        "not_executed",
        "--note",
        "CloudTrail in the member account shows no ListBuckets at that time",
    )
    assert closed.returncode == 0, closed.stderr
    [record] = [r for r in audit_records(org.moto_url, org.tables, requester) if r["account_id"] == SLOW]
    assert (record["status"], record["outcome"]) == ("reconciled", "not_executed")
    assert record["reconcile_note"].startswith("CloudTrail") and "pending_account" not in record
    assert record["reconciled_by"].startswith("arn:aws:")  # as STS names the admin, not as typed
    reconciler = Reconciler(org.tables.audit, lambda: central(org.moto_url, "dynamodb"))
    assert [i for i in reconciler.pending() if i.requester == requester] == []
    again = _reconcile(
        org.moto_url, org.tables.audit, "resolve", slow["audit_id"], "--outcome", "executed", "--note", "x"
    )
    assert again.returncode == 2 and "is not an open intent" in again.stderr
    assert stand_in.stats()["tool_calls"] == 0


def test_the_reconcile_tool_says_what_to_do_with_a_missing_table(moto_url: str) -> None:
    out = _reconcile(moto_url, "centralops-missing-audit", "list")
    assert out.returncode == 2
    assert "could not be read or written" in out.stderr and "audit-reconciler policy" in out.stderr
    assert "Traceback" not in out.stderr


@dataclass(frozen=True)
class Frozen:
    moto_url: str
    moto_pid: int
    tables: Tables
    stand_in: StandIn


@pytest.fixture(scope="module")
def frozen() -> Iterator[Frozen]:
    """A moto server (with its pid, to freeze it), a stand-in on it and a small organisation."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.local.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _healthy(f"{url}/moto-api/"), "moto")
        tables = seed_bridge_tables(url)
        register(url, tables, STAGING, "staging")
        register(url, tables, DEVELOPMENT, "development")
        register(url, tables, WRITABLE, "sandbox", write_role_name="CentralOpsWriteRole")
        for account_id in (STAGING, DEVELOPMENT):
            for bucket in BUCKETS[account_id]:
                member(url, account_id, "s3").create_bucket(Bucket=bucket)
        with aws_mcp_server(url) as stand_in:
            yield Frozen(url, proc.pid, tables, stand_in)
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=10)


def _healthy(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url, timeout=1).status_code == 200
    return False


def _bridge(frozen: Frozen, config: BridgeConfig) -> Bridge:
    settings = replace(
        config,
        endpoint_url=frozen.moto_url,
        aws_mcp_url=frozen.stand_in.mcp_url,
        accounts_table=frozen.tables.accounts,
        approvals_table=frozen.tables.approvals,
        audit_table=frozen.tables.audit,
    )
    return Bridge(settings, client_factory=lambda service: central(frozen.moto_url, service))


async def test_moto_frozen_for_5_s_mid_fan_out_delays_the_answer_and_loses_nothing(
    frozen: Frozen, config: BridgeConfig, requester: str
) -> None:
    bridge = _bridge(frozen, config)
    try:
        task = asyncio.create_task(bridge.query_accounts(event(LIST, [STAGING, DEVELOPMENT], requester)))
        await asyncio.sleep(0.05)  # the intents are on their way
        started = time.monotonic()
        freeze(frozen.moto_pid, 5.0)
        out = await task
        assert time.monotonic() - started >= 4.5  # it waited for moto, it did not give up
    finally:
        await bridge.aclose()
    assert out["ok_count"] == 2, out
    for result in out["results"]:
        assert {b["Name"] for b in result["result"]["Buckets"]} == set(BUCKETS[result["account_id"]])
    records = audit_records(frozen.moto_url, frozen.tables, requester)
    assert sorted((r["account_id"], r["status"], r["outcome"]) for r in records) == [
        (STAGING, "done", "executed"),
        (DEVELOPMENT, "done", "executed"),
    ]


async def test_moto_frozen_for_5_s_under_an_approved_change_runs_it_once(
    frozen: Frozen, config: BridgeConfig, requester: str
) -> None:
    command = "aws s3 mb s3://made-while-frozen"
    approval = put_approval(
        frozen.moto_url, frozen.tables, command=command, accounts=[WRITABLE], requester=requester
    )
    bridge = _bridge(frozen, config)
    try:
        freeze(frozen.moto_pid, 5.0)  # the approval's read, the intent, AssumeRole and the call all wait
        out = await bridge.query(event(command, WRITABLE, requester, approval_id=approval))
        replay = await bridge.query(event(command, WRITABLE, requester, approval_id=approval))
    finally:
        await bridge.aclose()
    assert out["ok"] is True, out
    assert replay["error"]["code"] == "approval_used"
    buckets = member(frozen.moto_url, WRITABLE, "s3").list_buckets()["Buckets"]
    assert [b["Name"] for b in buckets] == ["made-while-frozen"]
    item = central(frozen.moto_url, "dynamodb").get_item(
        TableName=frozen.tables.approvals, Key={"approval_id": {"S": approval}}, ConsistentRead=True
    )["Item"]
    assert "consumed_at" in item
    outcomes = sorted(
        (r["status"], r["outcome"], r.get("error_code", ""))
        for r in audit_records(frozen.moto_url, frozen.tables, requester)
    )
    assert outcomes == [("done", "executed", ""), ("done", "refused", "approval_used")]
