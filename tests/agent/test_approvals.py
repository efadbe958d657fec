"""The approval gate: a mutation waits, runs once when approved, and never when denied."""

import time
import uuid
from typing import Any

import pytest

from agent.approvals import ApprovalPolicy, is_mutating
from agent.runner import AgentRuntime
from centralops.identity import CALLER_KEY
from tests.fixtures.agent_stack import AgentWorld, RuntimeFactory, collect, of_type, texts

STG = "222222222222"
DELETE = "aws s3api delete-bucket --bucket acme-staging-logs"
CONTEXT = {"platform": "slack", "team": "T1", "channel": "C9", "thread": "1700000000.000200", "user": "U1"}


@pytest.mark.parametrize(
    ("command", "mutating"),
    [
        ("aws s3 ls", False),
        ("aws s3api list-buckets", False),
        ("aws ec2 describe-instances --region eu-west-1", False),
        ("aws --region eu-west-1 ec2 describe-instances", False),
        ("aws lambda get-function --function-name f", False),
        ("aws s3 rb s3://bucket", True),
        ("aws s3 cp a s3://b/a", True),
        ("aws ec2 terminate-instances --instance-ids i-1", True),
        ("aws iam create-role --role-name r", True),
        ("aws dynamodb put-item --table-name t --item {}", True),
    ],
)
def test_mutations_are_classified_by_operation(command: str, mutating: bool) -> None:
    assert is_mutating(command) is mutating


def _decide(env: AgentWorld, approval_id: str, status: str) -> None:
    env.approvals().update_item(
        Key={"approval_id": approval_id},
        UpdateExpression="SET #s = :s, decided_by = :by, decided_at = :at",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": status, ":by": "bob@example.com", ":at": int(time.time())},
    )


async def _ask(runtime: AgentRuntime, token: str, sid: str, prompt: str = f"run {DELETE} in staging") -> Any:
    evs = await collect(
        runtime.invoke({"prompt": prompt, "access_token": token, "context": CONTEXT}, session_id=sid)
    )
    [approval] = of_type(evs, "approval")
    return approval


async def _resume(runtime: AgentRuntime, token: str, sid: str, approval_id: str, decision: str) -> Any:
    return await collect(
        runtime.invoke(
            {
                "prompt": "",
                "access_token": token,
                "context": CONTEXT,
                "resume": {"approval_id": approval_id, "decision": decision},
            },
            session_id=sid,
        )
    )


async def test_mutation_then_approved_resume_runs_exactly_once(
    runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    sid = f"ap-{uuid.uuid4()}"
    approval = await _ask(runtime, alice, sid)
    assert env.bridge.executed() == []
    [(_, dry)] = env.bridge.bridge_calls()  # the bridge checked the call before anyone was asked
    assert dry["dry_run"] is True and "approval_id" not in dry
    assert approval["command"] == DELETE and approval["accounts"] == ["staging"]
    _decide(env, approval["approval_id"], "approved")

    evs = await _resume(runtime, alice, sid, approval["approval_id"], "approved")
    [(tool, event)] = env.bridge.executed()
    assert tool == "query"
    assert event["approval_id"] == approval["approval_id"]
    assert event["arguments"] == {"cli_command": DELETE}
    assert event["account_id"] == STG
    assert event[CALLER_KEY]["email"] == "alice@example.com"  # stamped by the Gateway's interceptor
    assert [e["phase"] for e in of_type(evs, "tool")] == ["start", "end"]

    # The bridge consumes the approval as it runs; a second resume runs nothing.
    env.approvals().update_item(
        Key={"approval_id": approval["approval_id"]},
        UpdateExpression="SET consumed_at = :t",
        ExpressionAttributeValues={":t": int(time.time())},
    )
    again = await _resume(runtime, alice, sid, approval["approval_id"], "approved")
    assert "already ran once" in texts(again)
    assert len(env.bridge.executed()) == 1
    # The repeated resume (a restarted bot asking again) shows what the one run showed.
    first = texts(evs).strip()
    assert first and first in texts(again)
    assert env.approvals().get_item(Key={"approval_id": approval["approval_id"]})["Item"]["result"] == first


async def test_denied_resume_runs_nothing(runtime: AgentRuntime, env: AgentWorld, alice: str) -> None:
    sid = f"ap-{uuid.uuid4()}"
    approval = await _ask(runtime, alice, sid)
    _decide(env, approval["approval_id"], "denied")
    evs = await _resume(runtime, alice, sid, approval["approval_id"], "denied")
    assert "was denied by bob@example.com. Nothing was run." in texts(evs)
    assert env.bridge.executed() == []


async def test_pending_resume_runs_nothing(runtime: AgentRuntime, env: AgentWorld, alice: str) -> None:
    sid = f"ap-{uuid.uuid4()}"
    approval = await _ask(runtime, alice, sid)
    evs = await _resume(runtime, alice, sid, approval["approval_id"], "approved")
    assert "still waiting for approval" in texts(evs)
    assert env.bridge.executed() == []


async def test_resume_is_bound_to_its_thread_and_requester(
    runtime: AgentRuntime, env: AgentWorld, alice: str, dave: str
) -> None:
    sid = f"ap-{uuid.uuid4()}"
    approval = await _ask(runtime, alice, sid)
    _decide(env, approval["approval_id"], "approved")
    elsewhere = await _resume(runtime, alice, f"other-{uuid.uuid4()}", approval["approval_id"], "approved")
    assert of_type(elsewhere, "error")[0]["code"] == "approval_mismatch"
    someone_else = await _resume(runtime, dave, sid, approval["approval_id"], "approved")
    assert of_type(someone_else, "error")[0]["code"] == "approval_mismatch"
    unknown = await _resume(runtime, alice, sid, str(uuid.uuid4()), "approved")
    assert of_type(unknown, "error")[0]["code"] == "unknown_approval"
    assert env.bridge.executed() == []


async def test_planner_mutation_asks_for_approval(runtime: AgentRuntime, env: AgentWorld, alice: str) -> None:
    sid = f"ap-{uuid.uuid4()}"
    approval = await _ask(runtime, alice, sid, prompt=f"{DELETE} in staging")
    assert approval["risk"] == "mutating"
    assert env.bridge.executed() == []


async def test_production_fanout_over_the_limit_needs_approval(
    make_runtime: RuntimeFactory, env: AgentWorld, alice: str
) -> None:
    runtime = make_runtime(prod_fanout_limit=0)
    approval = await _ask(runtime, alice, f"ap-{uuid.uuid4()}", prompt="count buckets in all accounts")
    assert approval["risk"] == "fanout"
    assert sorted(approval["accounts"]) == ["development", "production", "staging"]
    assert env.bridge.executed() == []


def test_policy_lets_reads_within_the_limit_run() -> None:
    from agent.accounts import AccountEntry

    prod = [AccountEntry(f"{i}" * 12, f"p{i}", "production") for i in range(1, 4)]
    assert ApprovalPolicy(prod_fanout_limit=3).review("aws s3 ls", prod) is None
    assert ApprovalPolicy(prod_fanout_limit=2).review("aws s3 ls", prod) is not None


async def test_no_approval_is_requested_for_a_call_the_bridge_would_refuse(
    runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    sid = f"ap-{uuid.uuid4()}"
    message = (
        "staging has no write role registered for CentralOps, so it cannot run there even with approval."
    )
    env.bridge.refusals[DELETE] = ("no_write_role", message)
    evs = await collect(
        runtime.invoke(
            {"prompt": f"run {DELETE} in staging", "access_token": alice, "context": CONTEXT}, session_id=sid
        )
    )
    assert of_type(evs, "approval") == []
    assert "no approval was requested" in texts(evs) and message in texts(evs)
    assert env.bridge.executed() == []
    [(_, dry)] = env.bridge.bridge_calls()
    assert dry["dry_run"] is True
    items = env.approvals().scan()["Items"]
    assert [i for i in items if i.get("session_id") == sid] == []


async def test_a_run_request_over_several_lines_is_never_joined(
    runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    prompt = "run aws s3 ls\naws s3 rb s3://acme-staging-logs in staging"
    evs = await collect(runtime.invoke({"prompt": prompt, "access_token": alice, "context": CONTEXT}))
    assert "several lines" in texts(evs)
    assert env.bridge.bridge_calls() == []
