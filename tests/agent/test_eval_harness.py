"""The evaluation's data files and scoring: every file loads, and a wrong answer is scored as wrong."""

from pathlib import Path

import pytest

from evals import cases as case_data
from evals.cases import Call, Case, CaseError
from evals.score import Observed, by_category, calls_of, failures

LIST = Call("query", "aws s3api list-buckets", ("staging",))


def test_the_data_files_hold_enough_phrasings_in_every_category() -> None:
    loaded = case_data.load()
    assert len(loaded) >= 80
    present = {c.category for c in loaded}
    assert {
        "lists",
        "counts",
        "filters",
        "mutations",
        "account resolution",
        "refusals",
        "follow-ups",
    } <= present
    assert all(c.calls is not None or c.facts or c.approval or c.one_of for c in loaded), (
        "a case that checks nothing"
    )


def test_a_malformed_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("category: lists\ncases:\n  - before: [a?]\n    prompt: x: y\n")
    with pytest.raises(CaseError, match=r"bad\.yaml"):
        case_data.load(tmp_path)
    (tmp_path / "bad.yaml").write_text("category: nonsense\ncases: []\n")
    with pytest.raises(CaseError, match="category"):
        case_data.load(tmp_path)


def _case(**kw: object) -> Case:
    return Case(category="lists", prompt="list buckets in staging", source="t", **kw)  # type: ignore[arg-type]


def test_a_case_passes_only_with_its_calls_facts_and_no_approval() -> None:
    case = _case(calls=(LIST,), facts=(("acme-staging-assets",),), absent=("acme-prod-logs",))
    good = Observed(text="| acme-staging-assets |", calls=[LIST])
    assert failures(case, good) == []
    assert failures(case, Observed(text="| acme-staging-assets |")) == [
        "missing call query `aws s3api list-buckets` in ['staging']"
    ]
    wrong_tool = Observed(
        text="acme-staging-assets", calls=[Call("query_accounts", LIST.command, ("staging",))]
    )
    assert "ran it as query_accounts" in failures(case, wrong_tool)[0]
    assert failures(case, Observed(text="acme-staging-assets acme-prod-logs", calls=[LIST])) == [
        "answer contains 'acme-prod-logs'"
    ]
    approved = Observed(
        text="acme-staging-assets", calls=[LIST], approvals=[Call("approval", "aws x y", ("staging",))]
    )
    assert failures(case, approved)[0].startswith("unexpected approval request")


def test_a_change_passes_only_with_its_exact_approval_and_nothing_run() -> None:
    want = Call("approval", "aws s3api delete-bucket --bucket b", ("staging",))
    case = _case(calls=(), approval=want)
    assert failures(case, Observed(approvals=[want])) == []
    assert failures(case, Observed(calls=[LIST]))[0].startswith("expected no command")
    assert "a mutating command ran" in failures(case, Observed(approvals=[want], mutating_ran=True))


def test_audit_records_become_calls_and_refused_ones_did_not_run() -> None:
    records = [
        {
            "tool": "query_accounts",
            "command": "aws  s3api list-buckets",
            "account_id": "1",
            "outcome": "executed",
        },
        {
            "tool": "query_accounts",
            "command": "aws s3api list-buckets",
            "account_id": "2",
            "outcome": "aws_error",
        },
        {
            "tool": "query",
            "command": "aws secretsmanager get-secret-value",
            "account_id": "1",
            "outcome": "refused",
        },
    ]
    assert calls_of(records, {"1": "staging", "2": "development"}) == [
        Call("query_accounts", "aws s3api list-buckets", ("development", "staging"))
    ]


def test_accuracy_per_category() -> None:
    results = [{"category": "lists", "passed": True}, {"category": "lists", "passed": False}]
    assert by_category(results, ["lists", "cost"]) == {"lists": {"passed": 1, "total": 2, "accuracy": 50.0}}


def test_a_real_model_without_credentials_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from evals.__main__ import model_env

    for key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "CENTRALOPS_MODEL_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(SystemExit, match="ANTHROPIC_API_KEY"):
        model_env("anthropic")
    with pytest.raises(SystemExit, match="OPENAI_API_KEY"):
        model_env("openai")
    assert model_env("offline") == {}


def test_bedrock_alone_goes_to_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    from evals.__main__ import model_env

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("CENTRALOPS_MODEL_REGION", "eu-west-1")
    env = model_env("bedrock")
    assert env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] == "https://bedrock-runtime.eu-west-1.amazonaws.com"
    assert env["AWS_ACCESS_KEY_ID"] == "AKIDEXAMPLE"
    assert env["CENTRALOPS_MODEL_REGION"] == "eu-west-1"
