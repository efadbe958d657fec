"""Approve / Deny: only approvers decide, never their own change, never from a forged payload;
a decision updates the card and resumes the agent in the original thread."""

from typing import Any

from centralops import events
from infra.local.consoles.slack import SlackConsole, Thread
from tests.fixtures.slack_runtime import Step
from tests.fixtures.slack_stack import CHANNEL, SlackStack
from tests.fixtures.slack_stack import slack as slack
from tests.fixtures.slack_stack import slack_cognito as slack_cognito

COMMAND = "aws lambda update-function-configuration --function-name prod-api --timeout 30"


def gate(slack: SlackStack, requester: str, accounts: list[str]) -> Any:
    """A Runtime script that writes an approval the way the agent does and asks for it."""

    def steps(body: dict[str, Any]) -> list[Step]:
        ctx = body["context"]
        thread = {k: ctx[k] for k in ("platform", "team", "channel", "thread", "user", "user_name")}
        approval_id = slack.put_approval(
            requester=requester, thread=thread, command=COMMAND, accounts=accounts
        )
        approval: events.ApprovalEvent = {
            "type": "approval",
            "approval_id": approval_id,
            "command": COMMAND,
            "accounts": accounts,
            "reason": "changes a function",
            "risk": "mutating",
            "requester": requester,
        }
        return [events.text("This change needs an approval."), approval, events.done("s")]

    return steps


async def ask(
    slack: SlackStack, user: str, email: str, accounts: list[str] | None = None
) -> tuple[Thread, str]:
    slack.runtime.script("raise the timeout of prod-api", gate(slack, email, accounts or ["production"]))
    slack.runtime.script("resume:approved", [events.text("Done: timeout is 30 s."), events.done("s")])
    slack.runtime.script("resume:denied", [events.text("Cancelled."), events.done("s")])
    thread = await slack.console.slash(user, "raise the timeout of prod-api", CHANNEL)
    _, button = thread.button("Approve")
    return thread, str(button["value"])


async def test_an_approver_approves_and_the_agent_resumes_as_the_requester(slack: SlackStack) -> None:
    thread, approval_id = await ask(slack, "alice", "alice@example.com")
    assert "Waiting for a decision" in thread.answers()[0]["text"] or thread.answers()
    after = await slack.console.click("bob", thread, "Approve")
    item = slack.approval(approval_id)
    assert item["status"]["S"] == "approved"
    assert item["decided_by"]["S"] == "bob@example.com"
    shown = after.render()
    assert "Approved* by bob@example.com" in shown
    assert "[Approve]" not in shown  # the card lost its buttons for everyone
    first, resumed = slack.runtime.invocations
    assert resumed.body["resume"] == {"approval_id": approval_id, "decision": "approved"}
    assert resumed.session_id == first.session_id
    assert slack.identity.claims(resumed.bearer)["cognito:username"] == "alice@example.com"
    assert after.answers()[-1]["text"] == "Done: timeout is 30 s."


async def test_deny_updates_the_card_and_tells_the_agent(slack: SlackStack) -> None:
    thread, approval_id = await ask(slack, "alice", "alice@example.com")
    after = await slack.console.click("bob", thread, "Deny")
    assert slack.approval(approval_id)["status"]["S"] == "denied"
    assert "Denied* by bob@example.com" in after.render()
    assert slack.runtime.invocations[-1].body["resume"]["decision"] == "denied"


async def test_requester_cannot_approve_their_own_production_change(slack: SlackStack) -> None:
    thread, approval_id = await ask(slack, "bob", "bob@example.com")
    after = await slack.console.click("bob", thread, "Approve")
    assert "cannot approve your own change" in after.ephemeral[0]["text"]
    assert slack.approval(approval_id)["status"]["S"] == "pending"
    assert len(slack.runtime.invocations) == 1


async def test_requester_cannot_approve_their_own_staging_change_either(slack: SlackStack) -> None:
    thread, approval_id = await ask(slack, "bob", "bob@example.com", ["222222222222"])
    after = await slack.console.click("bob", thread, "Approve")
    assert "every change needs a second person" in after.ephemeral[0]["text"]
    assert slack.approval(approval_id)["status"]["S"] == "pending"


async def test_the_decided_card_names_the_accounts(slack: SlackStack) -> None:
    # The agent stores account ids; the decided card names them.
    thread, approval_id = await ask(slack, "alice", "alice@example.com", ["222222222222"])
    after = await slack.console.click("bob", thread, "Approve")
    assert slack.approval(approval_id)["status"]["S"] == "approved"
    assert "in *staging*" in after.render()


async def test_someone_outside_the_approver_group_is_refused(slack: SlackStack) -> None:
    thread, approval_id = await ask(slack, "alice", "alice@example.com")
    after = await slack.console.click("dave", thread, "Approve")
    assert "Only members of *centralops-approvers*" in after.ephemeral[0]["text"]
    assert slack.approval(approval_id)["status"]["S"] == "pending"


async def test_an_approver_whose_sign_in_names_no_verified_person_cannot_decide(slack: SlackStack) -> None:
    # An approver-group member whose only name is an address she never verified: it could be anyone's.
    pool = slack.identity.pool
    if "erin@example.com" not in pool.passwords:
        pool.add_user("erin@example.com", ("centralops-approvers",), email_verified=False)
    slack.identity.links["U0ERIN"] = "erin@example.com"
    thread, approval_id = await ask(slack, "alice", "alice@example.com")
    after = await slack.console.click("erin", thread, "Approve")
    assert "no verified email" in after.ephemeral[0]["text"]
    assert slack.approval(approval_id)["status"]["S"] == "pending"


async def test_forged_or_edited_payloads_are_refused(slack: SlackStack) -> None:
    thread, approval_id = await ask(slack, "alice", "alice@example.com")
    # An approval of another thread, its id pasted into this card's button.
    elsewhere = slack.put_approval(
        requester="alice@example.com",
        thread={
            "platform": "slack",
            "team": "T0CENTRAL",
            "channel": "C0OTHER",
            "thread": "1.000001",
            "user": "U0ALICE",
        },
        command="aws ec2 terminate-instances --instance-ids i-1",
        accounts=["production"],
    )
    for forged in (elsewhere, "not-an-approval-id", '{"command": "aws s3 rb s3://acme-prod-data-lake"}'):
        after = await slack.console.click("bob", thread, "Approve", value=forged)
        assert "does not match any pending approval here" in after.ephemeral[0]["text"]
    assert slack.approval(elsewhere)["status"]["S"] == "pending"
    assert slack.approval(approval_id)["status"]["S"] == "pending"
    assert len(slack.runtime.invocations) == 1


async def test_a_second_decision_is_refused(slack: SlackStack) -> None:
    thread, _ = await ask(slack, "alice", "alice@example.com")
    stale_card, _ = thread.button("Approve")
    await slack.console.click("bob", thread, "Approve")
    # The old card is still on someone's screen: its buttons no longer decide anything.
    again = await slack.console.click("bob", thread, "Deny", on=stale_card)
    assert "already approved by bob@example.com" in again.ephemeral[0]["text"]


async def test_a_bot_restart_between_the_card_and_the_click_loses_nothing(slack: SlackStack) -> None:
    thread, approval_id = await ask(slack, "alice", "alice@example.com")
    old_bot = slack.runners[2]
    await old_bot.cleanup()  # the replica that posted the card is gone
    new_url = await slack.add_bot()
    console = SlackConsole(new_url, slack.console.stand_in_url, slack.config.slack_signing_secret or "")
    try:
        after = await console.click("bob", thread, "Approve")
    finally:
        await console.close()
    assert slack.approval(approval_id)["status"]["S"] == "approved"
    assert after.answers()[-1]["text"] == "Done: timeout is 30 s."
