"""Approval cards that show each person what they may do (Universal Actions' user-specific views).

The card posted in the thread has no buttons: it states the change and carries
a ``refresh`` action. Teams asks the bot for each viewer's card
(``adaptiveCard/action`` with the verb :data:`VIEW`; automatically for everyone
in chats and channels of up to 60 people, and always for the users named in
``refresh.userIds``, here the requester; in bigger channels others pick
"Refresh card"). The bot answers per person:

- an approver sees **Approve** and **Deny**; Approve first shows a confirmation
  card (:func:`confirm`) whose **Approve now** records the decision;
- the requester sees "waiting for approval", without buttons;
- anyone else sees who may decide; someone not linked is asked to sign in.

The card is only what people see: the core decides every click again
(:meth:`bot.conversation.Conversation.decide`) and the bridge enforces the
approval whatever any card showed.
"""

from typing import Any

from microsoft_agents.activity import Activity, ChannelAccount

from bot.chat import ApprovalCard
from bot.conversation import ViewerRole
from bot.teams import cards

VIEW = "approval_view"
REVIEW = "approve_review"  # the Approve button: shows the confirmation
BACK = VIEW


def _refresh(approval_id: str, user_ids: list[str] | None = None) -> dict[str, Any]:
    refresh: dict[str, Any] = {
        "action": {
            "type": "Action.Execute",
            "title": "Refresh",
            "verb": VIEW,
            "data": {"approval_id": approval_id},
        }
    }
    if user_ids:
        refresh["userIds"] = user_ids[:60]
    return refresh


def _with_refresh(doc: dict[str, Any], approval_id: str, user_ids: list[str] | None = None) -> dict[str, Any]:
    doc["refresh"] = _refresh(approval_id, user_ids)
    return doc


def _body(approval: ApprovalCard, note: str, *, color: str = "Warning") -> list[dict[str, Any]]:
    return [
        {
            "type": "TextBlock",
            "text": "Approval needed",
            "weight": "Bolder",
            "size": "Medium",
            "color": color,
        },
        cards.runs(approval.reason or "This command changes something and needs a second person."),
        cards._approval_facts(approval),
        {"type": "TextBlock", "text": note, "wrap": True, "isSubtle": True, "size": "Small"},
    ]


def base(approval: ApprovalCard) -> dict[str, Any]:
    """The card everyone gets first: the change, no buttons, refreshed into each person's view."""
    return _with_refresh(
        cards.card(_body(approval, "Waiting for an approver. Approvers see Approve and Deny here.")),
        approval.approval_id,
    )


def for_viewer(approval: ApprovalCard, role: ViewerRole, approver_group: str) -> dict[str, Any]:
    """The card one person sees, by what they may do."""
    data = {"approval_id": approval.approval_id}
    if role == "decided":
        return cards.decided(approval)
    if role == "approver":
        doc = cards.card(
            _body(approval, "You can decide this change. Approve asks you to confirm."),
            [
                cards._execute("Approve", REVIEW, data, style="positive"),
                cards._execute("Deny", cards.DENY, data, style="destructive"),
            ],
        )
    elif role == "requester":
        doc = cards.card(
            _body(
                approval,
                f"Waiting for approval by a member of {approver_group}. You cannot approve your own change.",
            )
        )
    elif role == "unlinked":
        doc = cards.card(
            _body(approval, "Sign in to CentralOps (send login to the bot) to see what you can do.")
        )
    else:
        doc = cards.card(
            _body(approval, f"Only members of {approver_group} can approve or deny this change.")
        )
    return _with_refresh(doc, approval.approval_id)


def confirm(approval: ApprovalCard) -> dict[str, Any]:
    """The approver's second step: the exact change again, then Approve now or Back."""
    data = {"approval_id": approval.approval_id}
    return cards.card(
        [
            {
                "type": "TextBlock",
                "text": "Approve this change?",
                "weight": "Bolder",
                "size": "Medium",
                "color": "Attention",
            },
            cards.runs("It runs as soon as you approve, in every account listed:"),
            cards._approval_facts(approval),
        ],
        [
            cards._execute("Approve now", cards.APPROVE, data, style="positive"),
            cards._execute("Back", BACK, data),
        ],
    )


def address(activity: Activity, requester: ChannelAccount | None) -> None:
    """Name the requester in ``refresh.userIds`` of an approval card, so their view always refreshes."""
    if requester is None or not requester.id:
        return
    for attachment in activity.attachments or []:
        content = attachment.content if isinstance(attachment.content, dict) else {}
        refresh = content.get("refresh")
        if isinstance(refresh, dict) and refresh.get("action", {}).get("verb") == VIEW:
            refresh["userIds"] = [requester.id]
