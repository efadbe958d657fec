"""The audit reconciler's policy: exactly what ``python -m bridge.reconcile`` does, on the audit table only.

The calls are read from the tool's source and checked against the synthesised
managed policy with the permissions walk's evaluator; the attributes a
reconciliation touches are recorded from a real call and must be those the
policy's ``dynamodb:Attributes`` condition lists.
"""

from typing import Any

import pytest

from bridge.reconcile import Reconciler
from infra import tables
from infra.stacks.bridge import RECONCILE_ATTRIBUTES
from tests.fixtures.aws_calls import REPO, aws_calls
from tests.fixtures.iam_walk import Walk, allows
from tests.fixtures.infra_cdk import Synthesized, as_list, deployment_config, policy_statements, synthesized

# STS answers GetCallerIdentity whatever the policies say (it names the admin in the record).
ALWAYS_ALLOWED = {"sts:GetCallerIdentity"}


@pytest.fixture(scope="module")
def synth() -> Synthesized:
    return synthesized()


@pytest.fixture(scope="module")
def walk(synth: Synthesized) -> Walk:
    config = deployment_config()
    return Walk(synth, config.region or "us-east-1", config.account or "123456789012")


def _policy(walk: Walk) -> tuple[list[dict[str, Any]], str]:
    found = [
        (stack, resource)
        for stack, _, resource in walk.synth.all_resources("AWS::IAM::ManagedPolicy")
        if resource["Properties"].get("ManagedPolicyName") == "centralops-audit-reconciler"
    ]
    [(stack, policy)] = found
    statements = [walk._resolved(stack, s) for s in policy_statements(policy)]
    (audit,) = [
        f"{s}/{logical_id}"
        for s, logical_id, table in walk.synth.all_resources("AWS::DynamoDB::Table")
        if table["Properties"]["TableName"] == tables.table_name(tables.AUDIT)
    ]
    return statements, audit


def test_the_reconcile_tool_may_make_each_of_its_calls_and_nothing_else(walk: Walk) -> None:
    statements, audit = _policy(walk)
    index = f"{audit}/index/{tables.AUDIT.index_name}"
    calls = aws_calls([REPO / "bridge" / "reconcile.py"])
    actions = {a for c in calls for a in c.actions}
    assert actions == {"dynamodb:Query", "dynamodb:Scan", "dynamodb:UpdateItem", "sts:GetCallerIdentity"}
    for action in actions - ALWAYS_ALLOWED:
        resource = audit if action == "dynamodb:UpdateItem" else index
        assert allows(statements, action, resource), f"the reconciler lacks {action} on {resource}"
    # Reads go to the index of open intents only, never to the whole audit table.
    assert not allows(statements, "dynamodb:Scan", audit)
    assert not allows(statements, "dynamodb:Query", audit)
    for forbidden in (
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:GetItem",
    ):
        assert not allows(statements, forbidden, audit), forbidden
    granted = {a for s in statements for a in as_list(s["Action"])}
    assert {a.split(":")[0] for a in granted} == {"dynamodb", "kms"}
    for other in walk.synth.all_resources("AWS::DynamoDB::Table"):
        symbol = f"{other[0]}/{other[1]}"
        if symbol != audit:
            assert not allows(statements, "dynamodb:UpdateItem", symbol), symbol


def test_a_reconciliation_touches_only_the_attributes_the_policy_lets_it_change(walk: Walk) -> None:
    statements, _ = _policy(walk)
    [update] = [s for s in statements if "dynamodb:UpdateItem" in as_list(s["Action"])]
    assert set(update["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]) == set(
        RECONCILE_ATTRIBUTES
    )
    seen: dict[str, Any] = {}

    class Recording:
        def update_item(self, **params: Any) -> None:
            seen.update(params)

    Reconciler("audit", Recording).resolve(
        "a-1", outcome="unknown", note="checked CloudTrail", by="arn:aws:sts::1:x"
    )
    named = set(seen["ExpressionAttributeNames"].values()) | set(seen["Key"])
    words = {w for w in seen["UpdateExpression"].replace(",", " ").split() if w.isidentifier()}
    touched = named | (words - {"SET", "REMOVE"})
    assert touched <= set(RECONCILE_ATTRIBUTES), touched - set(RECONCILE_ATTRIBUTES)
