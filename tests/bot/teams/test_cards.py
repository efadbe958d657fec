"""Approval cards: Action.Execute clicks decided through the core's rules, the card replaced for everyone."""

from typing import Any

from centralops import events
from infra.local.consoles.teams import TeamsConversation, card_text
from tests.fixtures.teams_fakes import TeamsStack

PROD = "333333333333"


async def _request_approval(
    teams: TeamsStack, approval_id: str, user: str = "alice"
) -> tuple[TeamsConversation, str]:
    """``user`` asks for a production change in a channel; the agent asks for approval."""
    teams.runtime.script(
        "stop i-0abc in production",
        (0, events.text("Stopping an instance needs an approval.")),
        (
            0,
            {
                "type": "approval",
                "approval_id": approval_id,
                "command": "aws ec2 stop-instances --instance-ids i-0abc",
                "accounts": [PROD],
                "reason": "Stopping an instance changes production.",
                "risk": "mutating",
                "requester": f"{user}@example.com",
            },
        ),
        (0, events.done("s")),
    )
    post = await teams.console.channel(user=user, text="stop i-0abc in production")
    context: dict[str, Any] = teams.runtime.calls[-1]["body"]["context"]
    teams.add_approval(
        approval_id,
        requester=f"{user}@example.com",
        accounts=[PROD],
        thread={k: str(context[k]) for k in ("platform", "team", "channel", "thread", "user", "user_name")},
    )
    # Everyone first gets the card without buttons; Teams refreshes it into each person's view.
    [(card_id, card)] = [(i, c) for i, c in post.cards() if c.get("refresh")]
    assert "actions" not in card and card["refresh"]["action"]["verb"] == "approval_view"
    assert card["refresh"]["userIds"] == [teams.console.person(user)["id"]], "the requester always refreshes"
    return post, card_id


async def _view(
    teams: TeamsStack, user: str, post: TeamsConversation, card_id: str, verb: str, approval_id: str
) -> dict[str, Any]:
    turn, _ = await teams.console.click(user, post, card_id, verb, {"approval_id": approval_id}, wait=False)
    assert turn.body["type"] == "application/vnd.microsoft.card.adaptive", turn.body
    view: dict[str, Any] = turn.body["value"]
    return view


async def test_each_person_sees_the_approval_card_for_what_they_may_do(teams: TeamsStack) -> None:
    post, card_id = await _request_approval(teams, "appr-views-0001")

    approver = await _view(teams, "bob", post, card_id, "approval_view", "appr-views-0001")
    assert [(a["title"], a["verb"]) for a in approver["actions"]] == [
        ("Approve", "approve_review"),
        ("Deny", "deny"),
    ]
    requester = await _view(teams, "alice", post, card_id, "approval_view", "appr-views-0001")
    assert "actions" not in requester and "Waiting for approval" in card_text(requester)
    unlinked = await _view(teams, "carol", post, card_id, "approval_view", "appr-views-0001")
    assert "actions" not in unlinked and "Sign in to CentralOps" in card_text(unlinked)
    # Approve asks to confirm first; nothing is decided until "Approve now".
    confirm = await _view(teams, "bob", post, card_id, "approve_review", "appr-views-0001")
    assert [(a["title"], a["verb"]) for a in confirm["actions"]] == [
        ("Approve now", "approve"),
        ("Back", "approval_view"),
    ]
    assert "aws ec2 stop-instances --instance-ids i-0abc" in str(confirm["body"])
    stored = teams.dynamodb.get_item(
        TableName=teams.approvals_table, Key={"approval_id": {"S": "appr-views-0001"}}
    )
    assert stored["Item"]["status"]["S"] == "pending"
    # A forged review by someone who may not decide shows their own view, never the confirmation.
    forged = await _view(teams, "carol", post, card_id, "approve_review", "appr-views-0001")
    assert "actions" not in forged


async def test_someone_who_is_no_approver_sees_who_may_decide(teams: TeamsStack) -> None:
    post, card_id = await _request_approval(teams, "appr-views-0002", user="bob")
    other = await _view(teams, "alice", post, card_id, "approval_view", "appr-views-0002")
    assert "actions" not in other and "Only members of centralops-approvers" in card_text(other)
    review = await _view(teams, "alice", post, card_id, "approve_review", "appr-views-0002")
    assert "actions" not in review, "no confirmation for someone who may not approve"


async def test_an_approver_approves_and_the_card_is_replaced_for_everyone_then_the_agent_resumes(
    teams: TeamsStack,
) -> None:
    post, card_id = await _request_approval(teams, "appr-allowed-0001")
    teams.runtime.script("resume:approved", (0, events.text("Stopped i-0abc.")), (0, events.done("s")))

    turn, after = await teams.console.click(
        "bob", post, card_id, "approve", {"approval_id": "appr-allowed-0001"}
    )

    assert turn.status == 200
    assert turn.body["statusCode"] == 200 and turn.body["type"] == "application/vnd.microsoft.card.adaptive"
    assert "Approved by bob@example.com" in card_text(turn.body["value"]).splitlines()[0]
    messages = {m["id"]: m for m in await teams.console.messages(post.conversation_id)}
    replaced = messages[card_id]
    assert replaced["versions"] == 2, "the card was updated in place, for everyone"
    content = replaced["attachments"][0]["content"]
    assert "Approved by bob@example.com" in card_text(content).splitlines()[0] and "actions" not in content
    assert teams.runtime.calls[-1]["body"]["resume"] == {
        "approval_id": "appr-allowed-0001",
        "decision": "approved",
    }
    assert teams.runtime.calls[-1]["body"]["context"]["user"] == "aad-alice-0001", "resumed as the requester"
    assert "Stopped i-0abc." in after.text_of_all()
    stored = teams.dynamodb.get_item(
        TableName=teams.approvals_table, Key={"approval_id": {"S": "appr-allowed-0001"}}
    )
    assert stored["Item"]["status"]["S"] == "approved"


async def test_a_deny_by_an_approver_is_recorded_and_resumes_with_the_denial(teams: TeamsStack) -> None:
    post, card_id = await _request_approval(teams, "appr-denied-0001")
    teams.runtime.script("resume:denied", (0, events.text("Not stopped.")), (0, events.done("s")))

    turn, after = await teams.console.click("bob", post, card_id, "deny", {"approval_id": "appr-denied-0001"})

    assert "Denied by bob@example.com" in card_text(turn.body["value"]).splitlines()[0]
    assert "Not stopped." in after.text_of_all()


async def test_someone_outside_the_approver_group_cannot_decide(teams: TeamsStack) -> None:
    post, card_id = await _request_approval(teams, "appr-refused-0001", user="bob")
    calls_before = len(teams.runtime.calls)

    turn, _ = await teams.console.click(
        "alice", post, card_id, "approve", {"approval_id": "appr-refused-0001"}
    )

    assert turn.body["type"] == "application/vnd.microsoft.activity.message"
    assert "centralops-approvers" in turn.body["value"]
    messages = {m["id"]: m for m in await teams.console.messages(post.conversation_id)}
    assert messages[card_id]["versions"] == 1, "the card is untouched"
    stored = teams.dynamodb.get_item(
        TableName=teams.approvals_table, Key={"approval_id": {"S": "appr-refused-0001"}}
    )
    assert stored["Item"]["status"]["S"] == "pending"
    assert len(teams.runtime.calls) == calls_before, "the agent was not resumed"


async def test_an_approver_cannot_approve_their_own_production_change(teams: TeamsStack) -> None:
    post, card_id = await _request_approval(teams, "appr-selfie-0001", user="bob")

    turn, _ = await teams.console.click("bob", post, card_id, "approve", {"approval_id": "appr-selfie-0001"})

    assert "cannot approve your own change" in turn.body["value"]
    stored = teams.dynamodb.get_item(
        TableName=teams.approvals_table, Key={"approval_id": {"S": "appr-selfie-0001"}}
    )
    assert stored["Item"]["status"]["S"] == "pending"


async def test_a_card_from_another_thread_or_a_forged_id_decides_nothing(teams: TeamsStack) -> None:
    post, card_id = await _request_approval(teams, "appr-elsewhere-01")
    elsewhere = await teams.console.channel(user="alice", text="help")

    moved, _ = await teams.console.click(
        "bob", elsewhere, card_id, "approve", {"approval_id": "appr-elsewhere-01"}, wait=False
    )
    forged, _ = await teams.console.click(
        "bob", post, card_id, "approve", {"approval_id": "appr-nope-0000"}, wait=False
    )

    assert "does not match any pending approval" in moved.body["value"]
    assert "does not match any pending approval" in forged.body["value"]
    stored = teams.dynamodb.get_item(
        TableName=teams.approvals_table, Key={"approval_id": {"S": "appr-elsewhere-01"}}
    )
    assert stored["Item"]["status"]["S"] == "pending"


async def test_a_follow_up_click_asks_as_the_person_who_clicks(teams: TeamsStack) -> None:
    teams.runtime.script(
        "list buckets in staging",
        (0, events.text("3 buckets")),
        (
            0,
            events.followups(
                [{"label": "Objects", "prompt": "list objects in acme-staging-assets in staging"}]
            ),
        ),
        (0, events.done("s")),
    )
    teams.runtime.script(
        "list objects in acme-staging-assets in staging", (0, events.text("2 objects")), (0, events.done("s"))
    )
    post = await teams.console.channel(user="alice", text="list buckets in staging")
    [(message_id, card)] = post.cards("followup")

    turn, after = await teams.console.click("bob", post, message_id, "followup", card["actions"][0]["data"])

    assert turn.body["value"] == "Asking: list objects in acme-staging-assets in staging"
    assert teams.runtime.calls[-1]["body"]["context"]["user"] == "aad-bob-0002"
    assert "2 objects" in after.text_of_all()
