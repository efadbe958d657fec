"""All regions: a question fans out over each account's enabled regions, with progress per region."""

import pytest

from agent import grammar, regions
from agent.runner import AgentRuntime
from tests.fixtures.agent_stack import AgentWorld, collect, of_type, texts

STG, PRD, DEV = "222222222222", "333333333333", "444444444444"


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("list lambda functions in staging in all regions", ("*",)),
        ("count instances across all regions in prod accounts", ("*",)),
        ("show alarms in every region in staging", ("*",)),
        ("list functions in all enabled regions of staging", ("*",)),
        ("list functions in eu-west-1 and us-east-1 in staging", ("eu-west-1", "us-east-1")),
        ("list functions in us-east-1, eu-west-1 in staging", ("us-east-1", "eu-west-1")),
        ("how many functions in regions eu-west-1 & us-west-2 in production", ("eu-west-1", "us-west-2")),
    ],
)
def test_region_phrases(prompt: str, expected: tuple[str, ...]) -> None:
    intent = grammar.parse(prompt)
    assert intent is not None and intent.regions == expected, prompt
    assert intent.targets in {"staging", "prod accounts", "production"}, intent.targets


def test_plan_uses_registry_regions_and_says_what_it_skips() -> None:
    accounts = [
        {"account_id": STG, "name": "staging", "regions": ["us-east-1", "eu-west-1"]},
        {"account_id": DEV, "name": "development"},
    ]
    assert regions.plan(["*"], accounts, {}) == ({"eu-west-1": [STG], "us-east-1": [STG]}, [DEV], [])
    by_region, undiscovered, notes = regions.plan(["us-west-2", "us-east-1"], accounts, {DEV: ["us-east-1"]})
    assert by_region == {"us-east-1": [STG, DEV]}
    assert undiscovered == []
    assert notes == [
        "staging is not enabled in us-west-2 (its regions: us-east-1, eu-west-1); nothing was run there.",
        "development is not enabled in us-west-2 (its regions: us-east-1); nothing was run there.",
    ]


async def test_all_regions_calls_each_registry_region_with_progress(
    runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    evs = await collect(
        runtime.invoke({"prompt": "list lambda functions in staging in all regions", "access_token": alice})
    )
    calls = sorted(
        (e["region"], e["account_id"], e["arguments"]["cli_command"]) for _, e in env.bridge.executed()
    )
    assert calls == [
        ("eu-west-1", STG, "aws lambda list-functions"),
        ("us-east-1", STG, "aws lambda list-functions"),
    ]
    statuses = [e["text"] for e in of_type(evs, "status")]
    assert "Running `aws lambda list-functions` in staging (eu-west-1)…" in statuses
    starts = sorted(e["account"] for e in of_type(evs, "tool") if e["phase"] == "start")
    assert starts == ["staging (eu-west-1)", "staging (us-east-1)"]
    answer = texts(evs)
    assert "**staging** (222222222222) · eu-west-1 — 1 Lambda function:" in answer
    assert "staging-eu-api" in answer
    assert "Total: **3** Lambda functions in 2 region(s): eu-west-1, us-east-1." in answer


async def test_an_account_without_registry_regions_is_asked_for_its_enabled_regions(
    runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    evs = await collect(
        runtime.invoke({"prompt": "count functions in dev in all regions", "access_token": alice})
    )
    calls = [(e.get("region"), e["arguments"]["cli_command"]) for _, e in env.bridge.executed()]
    assert calls[0] == (None, "aws ec2 describe-regions")
    assert sorted(calls[1:]) == [
        ("ap-south-1", "aws lambda list-functions"),
        ("eu-west-1", "aws lambda list-functions"),
        ("us-east-1", "aws lambda list-functions"),
    ]
    assert "**1** Lambda function across 3 region(s):" in texts(evs)


async def test_named_regions_fan_out_over_several_accounts(
    runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    evs = await collect(
        runtime.invoke(
            {
                "prompt": "how many lambda functions in eu-west-1 and us-west-2 in staging and production",
                "access_token": alice,
            }
        )
    )
    calls = sorted(
        (e["region"], tool, tuple(sorted(e.get("account_ids") or [e.get("account_id")])))
        for tool, e in env.bridge.executed()
    )
    # The read over two accounts in eu-west-1 is sent as one call per account.
    assert calls == [
        ("eu-west-1", "query_accounts", (STG,)),
        ("eu-west-1", "query_accounts", (PRD,)),
        ("us-west-2", "query", (PRD,)),
    ]
    answer = texts(evs)
    assert "| production | us-west-2 | 1 |" in answer
    assert "staging is not enabled in us-west-2" in answer


async def test_the_registry_limits_the_regions_an_account_is_queried_in(
    runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    evs = await collect(
        runtime.invoke({"prompt": "list vpcs in ap-south-1 in staging", "access_token": alice})
    )
    assert env.bridge.executed() == []
    assert "limited to the region(s) us-east-1, eu-west-1" in texts(evs)


async def test_buckets_are_global(runtime: AgentRuntime, env: AgentWorld, alice: str) -> None:
    evs = await collect(
        runtime.invoke({"prompt": "list buckets in staging in all regions", "access_token": alice})
    )
    [(_, event)] = env.bridge.executed()
    assert "region" not in event
    assert "S3 buckets are global: one list per account." in texts(evs)
