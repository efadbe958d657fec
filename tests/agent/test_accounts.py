"""Account resolution and entitlement: code decides, and refusals never reach the bridge."""

import uuid

import pytest

from agent.accounts import AccountEntry, resolve
from agent.runner import AgentRuntime
from infra.local import org
from tests.fixtures.agent_stack import AgentWorld, collect, texts

# Sorted by name, as the registry returns them.
ENTRIES = sorted(
    (
        AccountEntry(a.account_id, a.name, a.environment, a.aliases, a.enabled, a.allowed_groups)
        for a in org.ACCOUNTS
    ),
    key=lambda a: a.name,
)
OPERATORS = frozenset({org.OPERATOR_GROUP})


def names(phrase: str, groups: frozenset[str] = OPERATORS) -> list[str]:
    result = resolve(phrase, ENTRIES, groups)
    assert result.ok, result.message()
    return [a.name for a in result.accounts]


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("staging", ["staging"]),
        ("STAGING", ["staging"]),
        ("stg", ["staging"]),
        ("prod", ["production"]),
        ("333333333333", ["production"]),
        ("the staging account", ["staging"]),
        ("prod accounts", ["production"]),
        ("all staging", ["staging"]),
        ("all production", ["production"]),
        ("staging and dev", ["staging", "development"]),
        ("staging, production & dev", ["staging", "production", "development"]),
        ("all accounts", ["development", "production", "staging"]),
        ("every account", ["development", "production", "staging"]),
    ],
)
def test_names_aliases_ids_environments(phrase: str, expected: list[str]) -> None:
    assert names(phrase) == expected


def test_misspelling_suggests_the_nearest_name() -> None:
    result = resolve("stagin", ENTRIES, OPERATORS)
    assert not result.ok
    assert result.message() == 'No account named "stagin" — did you mean staging?'


def test_unknown_name_lists_what_can_be_queried() -> None:
    result = resolve("qwertyuiop", ENTRIES, frozenset())
    assert 'No account named "qwertyuiop"' in result.message()
    assert "development, staging" in result.message()
    assert "production" not in result.message()


def test_disabled_account_is_excluded() -> None:
    assert "disabled" in resolve("legacy", ENTRIES, OPERATORS).message()
    assert "legacy" not in names("all accounts")
    assert names("all production") == ["production"]


def test_ambiguous_name_asks_back() -> None:
    twins = [*ENTRIES, AccountEntry("666666666666", "payments", "production", ("prod",))]
    result = resolve("prod", twins, OPERATORS)
    assert not result.ok
    assert "matches several accounts" in result.message()
    assert "which one" in result.message()


def test_entitlement_refuses_named_account() -> None:
    result = resolve("production", ENTRIES, frozenset())
    assert not result.ok
    assert "not entitled to query production" in result.message()
    assert org.OPERATOR_GROUP in result.message()


def test_entitlement_filters_environment_and_all() -> None:
    result = resolve("all accounts", ENTRIES, frozenset())
    assert [a.name for a in result.accounts] == ["development", "staging"]
    assert result.notes == ["Skipped production: you are not entitled to query it."]
    assert not resolve("prod accounts", ENTRIES, frozenset()).ok


async def test_misspelled_account_suggests_and_calls_no_tool(
    runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    evs = await collect(
        runtime.invoke(
            {"prompt": "list buckets in stagin", "access_token": alice}, session_id=f"a-{uuid.uuid4()}"
        )
    )
    assert 'No account named "stagin" — did you mean staging?' in texts(evs)
    assert env.bridge.bridge_calls() == []
    assert not [e for e in evs if e["type"] == "tool"]


async def test_unentitled_account_is_refused_with_no_tool_call(
    runtime: AgentRuntime, env: AgentWorld, dave: str
) -> None:
    evs = await collect(runtime.invoke({"prompt": "list buckets in production", "access_token": dave}))
    assert "You are not entitled to query production" in texts(evs)
    assert env.bridge.bridge_calls() == []


async def test_unentitled_direct_command_is_refused_with_no_tool_call(
    runtime: AgentRuntime, env: AgentWorld, dave: str
) -> None:
    evs = await collect(runtime.invoke({"prompt": "run aws s3 ls --account prod", "access_token": dave}))
    assert "You are not entitled to query production" in texts(evs)
    assert env.bridge.bridge_calls() == []


async def test_all_accounts_skips_unentitled_and_says_so(
    runtime: AgentRuntime, env: AgentWorld, dave: str
) -> None:
    evs = await collect(runtime.invoke({"prompt": "count buckets in all accounts", "access_token": dave}))
    calls = env.bridge.bridge_calls()  # one call per account (a split read)
    assert sorted(a for _tool, event in calls for a in event["account_ids"]) == [
        "222222222222",
        "444444444444",
    ]
    assert "Skipped production" in texts(evs)


COURTESY = [
    "please",
    "pls",
    "asap",
    "asap!!",
    "now",
    "thanks",
    "thank you!",
    "🙏",
    "please 🙏",
    "!!!",
    "right now",
]


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        *((f"staging {c}", ["staging"]) for c in COURTESY),
        *((f"prod, {c}", ["production"]) for c in COURTESY),
        ("Staging please 🙏", ["staging"]),
        ("in-between: staging and dev please", None),
        ("staging and dev please", ["staging", "development"]),
        ("please staging", ["staging"]),
        ("the dev account, thanks 🚀", ["development"]),
        ("222222222222 🙂", ["staging"]),
        ("all accounts please", ["development", "production", "staging"]),
    ],
)
def test_courtesy_urgency_emoji_and_punctuation_are_not_account_words(
    phrase: str, expected: list[str] | None
) -> None:
    if expected is None:
        assert not resolve(phrase, ENTRIES, OPERATORS).ok
    else:
        assert names(phrase) == expected


def test_an_ambiguous_name_offers_the_accounts_it_matched() -> None:
    result = resolve("shop please", ENTRIES, OPERATORS)
    assert not result.ok
    assert "matches several accounts" in result.message()
    assert [a.name for a in result.choices] == ["production", "staging"]
    shaped = result.as_dict()
    assert shaped["ambiguous"] == "shop"
    assert [c["name"] for c in shaped["choices"]] == ["production", "staging"]


def test_an_ambiguous_name_offers_only_accounts_the_person_may_query() -> None:
    result = resolve("shop", ENTRIES, frozenset())
    assert [a.name for a in result.choices] == ["staging"]


async def test_ambiguity_on_the_model_path_asks_with_one_button_per_account(
    runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    evs = await collect(runtime.invoke({"prompt": "list buckets in shop please", "access_token": alice}))
    assert "matches several accounts" in texts(evs)
    assert env.bridge.bridge_calls() == []
    [buttons] = [e for e in evs if e["type"] == "followups"]
    assert buttons["items"] == [
        {"label": "production (333333333333)", "prompt": "list buckets in production please"},
        {"label": "staging (222222222222)", "prompt": "list buckets in staging please"},
    ]
    picked = await collect(runtime.invoke({"prompt": buttons["items"][1]["prompt"], "access_token": alice}))
    [(_, event)] = env.bridge.bridge_calls()
    assert event["account_id"] == "222222222222"
    assert "acme-staging-assets" in texts(picked)


async def test_ambiguity_on_the_direct_path_offers_buttons_too(
    runtime: AgentRuntime, env: AgentWorld, alice: str
) -> None:
    evs = await collect(
        runtime.invoke({"prompt": "run aws s3api list-buckets in shop", "access_token": alice})
    )
    [buttons] = [e for e in evs if e["type"] == "followups"]
    assert [i["prompt"] for i in buttons["items"]] == [
        "run aws s3api list-buckets in production",
        "run aws s3api list-buckets in staging",
    ]


@pytest.mark.parametrize(
    "prompt",
    ["list buckets in staging please 🙏", "show buckets in staging asap!!", "staging buckets, thanks!"],
)
async def test_courtesy_after_the_account_still_answers(
    runtime: AgentRuntime, env: AgentWorld, alice: str, prompt: str
) -> None:
    evs = await collect(runtime.invoke({"prompt": prompt, "access_token": alice}))
    [(_, event)] = env.bridge.bridge_calls()
    assert event["account_id"] == "222222222222"
    assert "acme-staging-assets" in texts(evs)
