"""The write-ahead audit on the whole local stack: what a person sees and what the audit table holds.

moto (DynamoDB, STS, Cognito, KMS and the member accounts) is frozen for 5 s
with the stack's fault switch (``LocalStack.freeze``) while a Slack question
is on its way through the bot, the agent, the Gateway and the bridge.
"""

import time
from typing import Any

import pytest

from bridge.reconcile import Reconciler
from infra import tables
from infra.local import org
from infra.local.consoles.slack import SlackConsole
from infra.local.org import StackInfo
from infra.local.stack import LocalStack
from tests.fixtures.aws import session

pytestmark = pytest.mark.e2e

STAGING = org.account("staging")
COMMAND = "aws s3api list-buckets"


def _audit(info: StackInfo, requester: str) -> list[dict[str, Any]]:
    ddb = session().client("dynamodb", endpoint_url=info.moto_url)
    items: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(TableName=info.tables[tables.AUDIT.setting]):
        items.extend(page["Items"])
    flat = [{k: next(iter(v.values())) for k, v in item.items()} for item in items]
    return [r for r in flat if r.get("requester") == requester and COMMAND in str(r.get("command"))]


async def test_moto_frozen_for_5_s_as_a_question_arrives_delays_the_answer_and_loses_nothing(
    slack: SlackConsole, info: StackInfo, stack: LocalStack
) -> None:
    before = {r["audit_id"] for r in _audit(info, "alice@example.com")}
    # Frozen first: on a quick machine the whole answer takes less than any delay a test could wait.
    started = time.monotonic()
    thaw = stack.freeze("moto", 5.0)
    thread = await slack.slash("alice", f"run {COMMAND} in staging", "C0OPS", wait_s=90)
    assert time.monotonic() - started >= 4.5, "the answer came while moto was frozen: it proved nothing"
    thaw.join()
    shown = thread.render()
    for bucket in STAGING.buckets:
        assert bucket in shown
    assert "try again" not in shown.lower() and "went wrong" not in shown.lower()
    new = [r for r in _audit(info, "alice@example.com") if r["audit_id"] not in before]
    assert [(r["account_id"], r["status"], r["outcome"]) for r in new] == [
        (STAGING.account_id, "done", "executed")
    ]
    reconciler = Reconciler(
        info.tables[tables.AUDIT.setting], lambda: session().client("dynamodb", endpoint_url=info.moto_url)
    )
    assert [i for i in reconciler.pending() if i.requester == "alice@example.com"] == []
