"""Direct commands skip the model and go straight to the bridge."""

import uuid

import pytest
from strands.models.model import Model

from agent.direct import parse_direct
from agent.runner import AgentRuntime
from centralops.identity import CALLER_KEY
from tests.fixtures.agent_stack import AgentWorld, RuntimeFactory, collect, of_type, texts


def _no_model() -> Model:
    raise AssertionError("a direct command must not build a model")


@pytest.fixture
def direct_runtime(make_runtime: RuntimeFactory) -> AgentRuntime:
    return make_runtime(model_factory=_no_model)


@pytest.mark.parametrize(
    ("prompt", "command", "targets"),
    [
        ("run aws s3 ls in staging", "aws s3 ls", "staging"),
        ("/aws run ec2 describe-instances --account production", "aws ec2 describe-instances", "production"),
        (
            "run aws s3api list-buckets --account staging --account dev",
            "aws s3api list-buckets",
            "staging and dev",
        ),
        (
            "run aws lambda list-functions --accounts=staging,dev",
            "aws lambda list-functions",
            "staging and dev",
        ),
        (
            "run aws ec2 describe-instances --filters Name=instance-state-name,Values=running across prod accounts",
            "aws ec2 describe-instances --filters Name=instance-state-name,Values=running",
            "prod accounts",
        ),
        ("run s3 ls", "aws s3 ls", ""),
        (
            'run aws logs filter-log-events --log-group-name app --filter-pattern "error in handler" in staging',
            'aws logs filter-log-events --log-group-name app --filter-pattern "error in handler"',
            "staging",
        ),
        (
            'run aws logs filter-log-events --filter-pattern "error in handler" --account staging',
            'aws logs filter-log-events --filter-pattern "error in handler"',
            "staging",
        ),
    ],
)
def test_parse(prompt: str, command: str, targets: str) -> None:
    parsed = parse_direct(prompt)
    assert parsed is not None
    assert (parsed.command, parsed.targets) == (command, targets)


def test_not_a_direct_command() -> None:
    assert parse_direct("list buckets in staging") is None
    assert parse_direct("running instances in staging") is None


async def test_direct_command_runs_as_typed(
    direct_runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    evs = await collect(
        direct_runtime.invoke(
            {"prompt": "run aws s3 ls in staging", "access_token": alice, "context": {"platform": "slack"}},
            session_id="direct-1",
        )
    )
    [(tool, event)] = env.bridge.bridge_calls()
    assert tool == "query"
    # The agent's own "requester" is dropped by the Gateway's interceptor, which stamps the verified caller.
    caller = event.pop(CALLER_KEY)
    assert event == {
        "tool_name": "aws___call_aws",
        "arguments": {"cli_command": "aws s3 ls"},
        "account_id": "222222222222",
        "context": {"platform": "slack", "session_id": "direct-1"},
    }
    assert (caller["email"], caller["groups"]) == ("alice@example.com", ["centralops-operators"])
    assert "acme-staging-assets" in texts(evs)
    assert [e["type"] for e in evs][-1] == "done"


async def test_direct_command_in_several_accounts_uses_query_accounts(
    direct_runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    evs = await collect(
        direct_runtime.invoke(
            {"prompt": "run aws s3api list-buckets --account staging,prod", "access_token": alice}
        )
    )
    # A read over two accounts is sent as two query_accounts calls, one per account, each half the budget.
    calls = env.bridge.bridge_calls()
    assert [tool for tool, _ in calls] == ["query_accounts", "query_accounts"]
    assert sorted(event["account_ids"] for _, event in calls) == [["222222222222"], ["333333333333"]]
    assert {event["inline_share"] for _, event in calls} == {0.5}
    answer = texts(evs)
    assert "**7** S3 buckets across 2 accounts (staging 3, production 4)" in answer
    # One table for both accounts, with an Account column, sent as structure rather than markdown.
    [table] = of_type(evs, "table")
    assert table["columns"][0] == "Account"
    cells = {c for row in table["rows"] for c in row}
    assert {"acme-prod-data-lake", "acme-staging-logs", "staging", "production"} <= cells
    assert all("|" not in e["delta"] for e in of_type(evs, "text")), "no markdown table in the text"
    assert len(of_type(evs, "followups")) == 1


async def test_direct_command_without_account_asks(
    direct_runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    evs = await collect(direct_runtime.invoke({"prompt": "run aws s3 ls", "access_token": alice}))
    assert "Say which account(s)" in texts(evs)
    assert env.bridge.bridge_calls() == []


async def test_direct_misspelling_suggests(direct_runtime: AgentRuntime, env: AgentWorld, alice: str) -> None:
    evs = await collect(
        direct_runtime.invoke({"prompt": "run aws s3 ls --account prodution", "access_token": alice})
    )
    assert 'No account named "prodution" — did you mean production?' in texts(evs)
    assert env.bridge.bridge_calls() == []


async def test_unreachable_gateway_is_an_error_saying_what_to_do(
    make_runtime: RuntimeFactory, env: AgentWorld, alice: str
) -> None:
    from tests.fixtures.aws import free_port

    runtime = make_runtime(gateway_url=f"http://127.0.0.1:{free_port()}/mcp")
    for prompt in ("run aws s3 ls in staging", "list buckets in staging"):
        evs = await collect(runtime.invoke({"prompt": prompt, "access_token": alice}))
        [error] = of_type(evs, "error")
        assert error["code"] == "gateway_unavailable"
        assert "try again" in error["message"]
        assert evs[-1]["type"] == "done"


async def test_a_question_can_follow_up_a_direct_command(
    direct_runtime: AgentRuntime, runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    sid = f"direct-follow-{uuid.uuid4()}"
    await collect(
        direct_runtime.invoke(
            {"prompt": "run aws lambda list-functions in staging", "access_token": alice}, session_id=sid
        )
    )
    evs = await collect(
        runtime.invoke({"prompt": "and in production?", "access_token": alice}, session_id=sid)
    )
    tool, event = env.bridge.bridge_calls()[-1]
    assert (tool, event["account_id"]) == ("query", "333333333333")
    assert event["arguments"] == {"cli_command": "aws lambda list-functions"}
    assert "prod-billing" in texts(evs)


async def test_gateway_sessions_are_reused_per_token_only(
    direct_runtime: AgentRuntime, env: AgentWorld, alice: str, dave: str
) -> None:
    for token in (alice, alice, dave, alice):
        evs = await collect(
            direct_runtime.invoke({"prompt": "run aws s3 ls in staging", "access_token": token})
        )
        assert "acme-staging-assets" in texts(evs)
    assert direct_runtime.gateways.opened == 2
    assert direct_runtime.exchanger.calls == 2  # one Gateway token per person, cached per Runtime token
    assert [e[CALLER_KEY]["email"] for _, e in env.bridge.bridge_calls()] == [
        "alice@example.com",
        "alice@example.com",
        "agent-dave@example.com",
        "alice@example.com",
    ]
    direct_runtime.gateways.close()


async def test_a_crashing_bridge_is_reported_per_account(
    direct_runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    env.bridge.crash = True
    evs = await collect(direct_runtime.invoke({"prompt": "run aws s3 ls in staging", "access_token": alice}))
    [end] = [e for e in of_type(evs, "tool") if e["phase"] == "end"]
    assert (end["account"], end["ok"]) == ("staging", False)
    assert "**staging** (222222222222) — failed: The call did not get through the tool gateway" in texts(evs)
    assert "see its log" not in texts(evs)  # the Gateway's own text stays in the logs
    assert len(env.bridge.bridge_calls()) == 2  # a read is tried once more, on a fresh session
    assert evs[-1]["type"] == "done"
