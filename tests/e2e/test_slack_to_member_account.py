"""One question travels Slack → bot → Runtime → agent → Gateway → bridge → AWS MCP Server → member account."""

import pytest

from infra.local import org
from infra.local.consoles.slack import SlackConsole
from infra.local.org import StackInfo
from tests.fixtures.aws import session

pytestmark = pytest.mark.e2e

STAGING = org.account("staging")
PRODUCTION = org.account("production")


async def test_slash_command_thread_lists_exactly_stagings_buckets(slack: SlackConsole) -> None:
    thread = await slack.slash("alice", "list buckets in staging", "C0OPS")
    shown = thread.render()
    assert thread.ts is not None, "the answer goes into a thread under a parent message"
    for bucket in STAGING.buckets:
        assert bucket in shown
    for acct in org.ACCOUNTS:
        if acct is not STAGING:
            for bucket in acct.buckets:
                assert bucket not in shown


async def test_mention_in_a_thread_answers_with_productions_function_count(slack: SlackConsole) -> None:
    parent = await slack.say("alice", "C0OPS", "What runs in prod?")
    thread = await slack.mention("alice", "how many lambda functions in production?", "C0OPS", thread=parent)
    answer = "\n".join(m.get("text", "") for m in thread.answers())
    assert thread.ts == parent
    assert f"**{len(PRODUCTION.functions)}** Lambda functions" in answer


async def test_a_misspelled_account_is_answered_with_the_right_name(slack: SlackConsole) -> None:
    thread = await slack.slash("alice", "list buckets in stagin", "C0OPS")
    shown = thread.render()
    assert "stagin" in shown
    assert "did you mean staging" in shown
    assert "acme-staging-assets" not in shown


async def test_an_unlinked_user_is_asked_to_link_and_nothing_runs(slack: SlackConsole) -> None:
    thread = await slack.slash("carol", "list buckets in staging", "C0OPS")
    shown = thread.render()
    assert "/aws login" in shown
    assert "acme-staging-assets" not in shown


async def test_a_mutation_runs_once_after_a_second_person_approves(
    slack: SlackConsole, info: StackInfo
) -> None:
    bucket = "acme-staging-e2e-approved"
    thread = await slack.slash("alice", f"run aws s3 mb s3://{bucket} in staging", "C0OPS")
    assert "Approve" in thread.render()
    assert bucket not in _staging_buckets(info), "nothing runs before the approval"

    refused = await slack.click("alice", thread, "Approve")
    assert "Only members of *centralops-approvers*" in refused.render()
    assert bucket not in _staging_buckets(info), "a person outside the approver group cannot approve"

    approved = await slack.click("bob", thread, "Approve")
    assert f"make_bucket: {bucket}" in approved.render()
    assert bucket in _staging_buckets(info)


async def test_an_approver_cannot_approve_their_own_production_change(
    slack: SlackConsole, info: StackInfo
) -> None:
    bucket = "acme-prod-e2e-self-approved"
    thread = await slack.slash("bob", f"run aws s3 mb s3://{bucket} in production", "C0OPS")
    refused = await slack.click("bob", thread, "Approve")
    assert "cannot approve your own change" in refused.render()
    assert bucket not in _buckets(info, PRODUCTION)


def _staging_buckets(info: StackInfo) -> set[str]:
    return _buckets(info, STAGING)


def _buckets(info: StackInfo, account: org.Account) -> set[str]:
    sts = session().client("sts", endpoint_url=info.moto_url)
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account.account_id}:role/OrganizationAccountAccessRole",
        RoleSessionName="e2e-check",
    )["Credentials"]
    s3 = session(creds).client("s3", endpoint_url=info.moto_url)
    return {b["Name"] for b in s3.list_buckets()["Buckets"]}
