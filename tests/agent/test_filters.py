"""Qualifiers: state, public exposure, tags and time windows are applied, or said — never dropped."""

import itertools
from datetime import UTC, datetime

import pytest

from agent import grammar
from agent.filters import Window
from agent.runner import AgentRuntime
from tests.fixtures.agent_stack import AgentWorld, collect, texts

STATE = "aws ec2 describe-instances --filters Name=instance-state-name,Values={}"

INSTANCE_STATE = [
    (template.format(state=state, targets=targets), STATE.format(state), targets)
    for template, state, targets in itertools.product(
        [
            "list {state} instances in {targets}",
            "show me the {state} ec2 instances in {targets}",
            "which instances are {state} in {targets}?",
            "how many instances are {state} across {targets}",
            "list the instances in {targets} that are {state}",
            "instances in state {state} in {targets}",
            "{targets} {state} servers",
        ],
        ["running", "stopped"],
        ["staging", "prod accounts", "all accounts"],
    )
    if not template.startswith("{targets}") or targets == "staging"
]
ALARM_STATE = [
    (template.format(targets=targets), f"aws cloudwatch describe-alarms --state-value {value}", targets)
    for (template, value), targets in itertools.product(
        [
            ("list alarms in ALARM in {targets}", "ALARM"),
            ("show cloudwatch alarms in alarm state in {targets}", "ALARM"),
            ("which alarms are firing in {targets}?", "ALARM"),
            ("how many alarms are in ALARM in {targets}", "ALARM"),
            ("triggered alarms in {targets}", "ALARM"),
            ("list alarms in state OK in {targets}", "OK"),
            ("alarms with insufficient data in {targets}", "INSUFFICIENT_DATA"),
        ],
        ["production", "staging and dev"],
    )
]
TAGS = [
    (
        "list instances tagged team=payments in production",
        "aws ec2 describe-instances --filters Name=tag:team,Values=payments",
    ),
    (
        "show running instances with tag team=payments in prod",
        "aws ec2 describe-instances --filters Name=instance-state-name,Values=running Name=tag:team,Values=payments",
    ),
    (
        "list buckets tagged team=payments in staging",
        "aws resourcegroupstaggingapi get-resources --tag-filters Key=team,Values=payments --resource-type-filters s3",
    ),
    (
        "lambda functions tagged with team:Payments in prod",
        "aws resourcegroupstaggingapi get-resources --tag-filters Key=team,Values=Payments --resource-type-filters lambda:function",
    ),
    (
        "count dynamodb tables where tag owner is data-team in dev",
        "aws resourcegroupstaggingapi get-resources --tag-filters Key=owner,Values=data-team --resource-type-filters dynamodb:table",
    ),
]


@pytest.mark.parametrize(("prompt", "command", "targets"), INSTANCE_STATE + ALARM_STATE)
def test_states_become_filters_and_never_account_words(prompt: str, command: str, targets: str) -> None:
    intent = grammar.parse(prompt)
    assert intent is not None, prompt
    assert intent.cli_command() == command, prompt
    assert intent.targets == targets, prompt


@pytest.mark.parametrize(("prompt", "command"), TAGS)
def test_tags_are_applied_with_their_case(prompt: str, command: str) -> None:
    intent = grammar.parse(prompt)
    assert intent is not None and intent.cli_command() == command, prompt
    assert any("tagged" in s for s in intent.applied().said)


@pytest.mark.parametrize(
    ("prompt", "said"),
    [
        ("list encrypted buckets in staging", "“encrypted”"),
        ("show unused lambda functions in dev", "“unused”"),
        ("list stopped lambda functions in staging", "by the state `stopped`"),
        ("list public lambda functions in staging", "cannot tell which Lambda functions are public"),
        ("list iam roles tagged team=payments in dev", "`team=payments` not applied"),
        ("list buckets created in the last hour in staging", "“in the last hour” was not applied"),
        ("list queues in ALARM in staging", "`ALARM` is an alarm state"),
        ("show the oldest instances in staging", "“oldest”"),
        ("buckets in staging that are encrypted", "“encrypted”"),
    ],
)
def test_a_qualifier_that_cannot_be_applied_is_said(prompt: str, said: str) -> None:
    intent = grammar.parse(prompt)
    assert intent is not None, prompt
    assert any(said in s for s in intent.applied().said), intent.applied().said
    assert intent.targets in {"staging", "dev"}, intent.targets


@pytest.mark.parametrize(
    "prompt",
    [
        "list public buckets in staging",
        "which buckets are public in staging?",
        "show publicly accessible s3 buckets in staging",
        "are any buckets open to the internet in staging",
        "exposed buckets in staging",
        "Which S3 buckets in staging are public?",
    ],
)
def test_public_buckets_are_checked_per_bucket(prompt: str) -> None:
    intent = grammar.parse(prompt)
    assert intent is not None and intent.applied().resource.key == "public_buckets", prompt
    assert intent.targets == "staging"


@pytest.mark.parametrize(
    ("prompt", "state", "targets"),
    [("what's running in staging?", "running", "staging"), ("what is stopped in dev", "stopped", "dev")],
)
def test_a_state_alone_asks_about_instances(prompt: str, state: str, targets: str) -> None:
    intent = grammar.parse(prompt)
    assert intent is not None and intent.cli_command() == STATE.format(state)
    assert intent.targets == targets


def test_windows_have_bounds() -> None:
    now = datetime(2026, 3, 15, 10, 30, tzinfo=UTC)
    assert Window("last hour").bounds(now) == (datetime(2026, 3, 15, 9, 30, tzinfo=UTC), now)
    assert Window("last month", unit="month").bounds(now) == (
        datetime(2026, 2, 1, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
    )
    assert Window("today", calendar="today").bounds(now)[0] == datetime(2026, 3, 15, tzinfo=UTC)


async def test_public_exposure_reads_block_policy_and_acl_of_each_bucket(
    runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    evs = await collect(
        runtime.invoke({"prompt": "which buckets are public in staging?", "access_token": alice})
    )
    commands = sorted(e["arguments"]["cli_command"] for _, e in env.bridge.executed()[1:])
    assert len(commands) == 9
    assert "aws s3api get-bucket-policy-status --bucket acme-staging-uploads" in commands
    assert "aws s3api get-bucket-acl --bucket acme-staging-logs" in commands
    answer = texts(evs)
    assert "**1** of 3 bucket(s) public: acme-staging-uploads (staging)." in answer
    assert "| staging | acme-staging-logs | all on | no policy | private | no |" in answer
    assert "| staging | acme-staging-uploads | not set | public | private | PUBLIC |" in answer


async def test_an_unapplied_qualifier_is_said_in_the_answer(
    runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    evs = await collect(
        runtime.invoke({"prompt": "list encrypted buckets in staging", "access_token": alice})
    )
    [(_, event)] = env.bridge.executed()
    assert event["arguments"] == {"cli_command": "aws s3api list-buckets"}
    assert "I cannot apply “encrypted” to S3 buckets, so this lists all of them." in texts(evs)


async def test_a_tag_filter_reaches_the_bridge_and_the_answer_says_it(
    runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    evs = await collect(
        runtime.invoke({"prompt": "list buckets tagged team=payments in staging", "access_token": alice})
    )
    [(_, event)] = env.bridge.executed()
    assert "--tag-filters Key=team,Values=payments" in event["arguments"]["cli_command"]
    answer = texts(evs)
    assert "arn:aws:s3:::acme-staging-uploads" in answer
    assert "Only S3 buckets tagged `team=payments`" in answer


async def test_a_follow_up_keeps_the_filter(runtime: AgentRuntime, env: AgentWorld, alice: str) -> None:
    sid = "filters-follow-up"
    await collect(
        runtime.invoke({"prompt": "list running instances in staging", "access_token": alice}, session_id=sid)
    )
    await collect(runtime.invoke({"prompt": "and in production?", "access_token": alice}, session_id=sid))
    _, event = env.bridge.executed()[-1]
    assert event["account_id"] == "333333333333"
    assert event["arguments"]["cli_command"] == STATE.format("running")
