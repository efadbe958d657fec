"""Cost (Cost Explorer in the payer account) and logs (Logs Insights: start, poll, table)."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from agent import cost, logs
from agent.runner import AgentRuntime
from tests.fixtures.agent_stack import AgentWorld, collect, of_type, texts

PAYER, STG, PRD = "123456789012", "222222222222", "333333333333"
NOW = datetime(2026, 3, 15, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("prompt", "targets", "period", "by_service"),
    [
        ("what did we spend last month in staging?", "staging", ("2026-02-01", "2026-03-01"), False),
        ("top services by cost in production", "production", ("2026-03-01", "2026-03-16"), True),
        ("how much did dev cost this week?", "dev", ("2026-03-09", "2026-03-16"), False),
        (
            "cost of staging and production yesterday",
            "staging and production",
            ("2026-03-14", "2026-03-15"),
            False,
        ),
        ("What is staging's cost today", "staging", ("2026-03-15", "2026-03-16"), False),
        ("top 3 most expensive services in prod last month", "prod", ("2026-02-01", "2026-03-01"), True),
        (
            "show me the bill for all accounts over the last 7 days",
            "all accounts",
            ("2026-03-08", "2026-03-16"),
            False,
        ),
        (
            "cost breakdown for production last month please",
            "production please",
            ("2026-02-01", "2026-03-01"),
            True,
        ),
    ],
)
def test_cost_questions(prompt: str, targets: str, period: tuple[str, str], by_service: bool) -> None:
    q = cost.parse(prompt)
    assert q is not None, prompt
    assert (q.targets, q.period(NOW), q.by_service) == (targets, period, by_service)


@pytest.mark.parametrize(
    "prompt",
    ["list buckets tagged cost-center=42 in staging", "list buckets in staging", "how many functions"],
)
def test_not_cost_questions(prompt: str) -> None:
    assert cost.parse(prompt) is None


def test_the_cost_command_filters_by_linked_account_and_groups() -> None:
    q = cost.parse("top services by cost in production last month")
    assert q is not None
    assert q.command([PRD], NOW) == (
        "aws ce get-cost-and-usage --time-period Start=2026-02-01,End=2026-03-01 --granularity MONTHLY "
        '--metrics UnblendedCost --filter \'{"Dimensions":{"Key":"LINKED_ACCOUNT","Values":["333333333333"]}}\' '
        "--group-by Type=DIMENSION,Key=SERVICE"
    )
    several = cost.parse("cost of staging and production last month")
    assert several is not None and several.command([STG, PRD], NOW).endswith(
        "--group-by Type=DIMENSION,Key=LINKED_ACCOUNT"
    )


async def test_cost_runs_in_the_payer_account_only(
    runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    evs = await collect(
        runtime.invoke({"prompt": "top services by cost in staging last month", "access_token": alice})
    )
    [(tool, event)] = env.bridge.executed()
    assert (tool, event["account_id"]) == ("query", PAYER)
    command = event["arguments"]["cli_command"]
    assert command.startswith("aws ce get-cost-and-usage --time-period Start=")
    assert '"Values":["222222222222"]' in command
    answer = texts(evs)
    assert "**staging** cost **$546.02**" in answer
    assert "| Amazon Elastic Compute Cloud - Compute | $412.37 |" in answer
    assert "payer account **management**" in answer


async def test_cost_needs_the_payer_entitlement(runtime: AgentRuntime, env: AgentWorld, dave: str) -> None:
    evs = await collect(
        runtime.invoke({"prompt": "what did staging spend last month?", "access_token": dave})
    )
    assert env.bridge.executed() == []
    assert "You are not entitled to query management" in texts(evs)


@pytest.mark.parametrize(
    ("prompt", "group", "targets", "pattern"),
    [
        (
            "errors in the last hour in function staging-api in staging",
            "/aws/lambda/staging-api",
            "staging",
            "(?i)(error|exception|fail)",
        ),
        ("show logs of function prod-api in production", "/aws/lambda/prod-api", "production", None),
        (
            "search logs of staging-api for 'timeout' today in staging",
            "/aws/lambda/staging-api",
            "staging",
            "timeout",
        ),
        (
            "what errors did the staging-worker function log today in staging?",
            "/aws/lambda/staging-worker",
            "staging",
            "(?i)(error|exception|fail)",
        ),
        ("show log group /ecs/web in prod", "/ecs/web", "prod", None),
        (
            "exceptions in lambda prod-billing over the past 24 hours on production",
            "/aws/lambda/prod-billing",
            "production",
            "(?i)(error|exception|fail)",
        ),
    ],
)
def test_log_questions(prompt: str, group: str, targets: str, pattern: str | None) -> None:
    q = logs.parse(prompt)
    assert q is not None, prompt
    assert (q.log_group, q.targets, q.pattern) == (group, targets, pattern)


def test_the_log_query_covers_its_window() -> None:
    q = logs.parse("errors in the last hour in function staging-api in staging")
    assert q is not None
    command = q.command(NOW)
    end = int(NOW.timestamp())
    assert f"--start-time {end - 3600} --end-time {end}" in command
    assert "filter @message like /(?i)(error|exception|fail)/" in command
    again = logs.from_command(command)
    assert again is not None and (again.log_group, again.pattern) == (q.log_group, q.pattern)


async def test_a_log_question_runs_as_a_read_and_shows_the_result_table(
    runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    # The bridge classifies Logs Insights' start-query as a read (docs/bridge.md), and its dry run is asked
    # before any approval card: so the question runs at once, is polled, and answers with the table.
    evs = await collect(
        runtime.invoke(
            {"prompt": "errors in the last hour in function staging-api in staging", "access_token": alice},
            session_id=f"logs-{uuid.uuid4()}",
        )
    )
    assert of_type(evs, "approval") == []
    commands = [e["arguments"]["cli_command"] for _, e in env.bridge.executed()]
    assert commands[0].startswith("aws logs start-query --log-group-name /aws/lambda/staging-api")
    assert commands[1] == "aws logs get-query-results --query-id q-1"
    answer = texts(evs)
    assert "| 2026-01-01 00:00:00.000 | ERROR upstream timeout calling payments |" in answer
    assert "`/aws/lambda/staging-api`" in answer


async def test_a_log_query_that_runs_as_a_read_is_polled_by_the_planner(
    runtime: AgentRuntime, env: AgentWorld, alice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agent.gate.ApprovalPolicy.review", lambda self, command, accounts: None)
    evs = await collect(
        runtime.invoke({"prompt": "show logs of function prod-api in production", "access_token": alice})
    )
    commands = [e["arguments"]["cli_command"] for _, e in env.bridge.executed()]
    assert [c.split()[2] for c in commands] == ["start-query", "get-query-results"]
    assert "card declined" in texts(evs)
    assert json.dumps(of_type(evs, "approval")) == "[]"
