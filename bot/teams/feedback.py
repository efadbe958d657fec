"""Teams' feedback loop: a thumbs up or down on an answer, recorded like Slack's.

Teams sends the vote as an ``invoke`` named ``message/submitAction`` with
``value.actionName == "feedback"``, ``value.actionValue.reaction`` (``like`` /
``dislike``), the person's optional comment as JSON in
``value.actionValue.feedback``, and ``replyToId`` naming the answer's message.
The message is mapped back to the answer (:meth:`bot.feedback.FeedbackStore.resolve`);
nothing in the click says what was asked or run.
"""

import json
import logging
from http import HTTPStatus
from typing import Any

from microsoft_agents.activity import Activity, ActivityTypes, InvokeResponse
from microsoft_agents.hosting.core import TurnContext, TurnState

from bot.feedback import FeedbackStore
from bot.teams import native
from bot.teams.activities import inbound
from centralops.errors import CentralOpsError

logger = logging.getLogger(__name__)

FEEDBACK_INVOKE = "message/submitAction"


def _comment(raw: Any) -> str:
    """The person's typed feedback, if any (Teams sends it as a JSON string)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return raw
    return str(raw.get("feedbackText") or "") if isinstance(raw, dict) else ""


class TeamsFeedback:
    """Links answers to their Teams messages and records votes on them.

    Args:
        store: Where answers and votes are kept; ``None`` disables feedback.
    """

    def __init__(self, store: FeedbackStore | None) -> None:
        self.store = store

    async def link(self, message_key: str, answer_id: str) -> None:
        """Remember which answer a Teams message shows (best effort: only the vote would be lost)."""
        if self.store is None:
            return
        try:
            await self.store.alias("teams", message_key, answer_id)
        except CentralOpsError as e:
            logger.warning("answer not linked to its Teams message", extra={"code": e.code})

    async def on_submit(self, context: TurnContext, _state: TurnState) -> None:
        """The ``message/submitAction`` invoke: record a feedback vote, then answer 200."""
        activity = context.activity
        value: dict[str, Any] = activity.value if isinstance(activity.value, dict) else {}
        raw = value.get("actionValue")
        action: dict[str, Any] = raw if isinstance(raw, dict) else {}
        reaction = str(action.get("reaction") or "")
        found = inbound(activity)
        status = HTTPStatus.OK
        if value.get("actionName") != "feedback" or reaction not in ("like", "dislike") or found is None:
            logger.warning("teams submit action ignored", extra={"action": str(value.get("actionName"))[:40]})
            status = HTTPStatus.BAD_REQUEST
        elif self.store is not None and activity.reply_to_id and activity.conversation is not None:
            key = native.message_key(activity.conversation.id, activity.reply_to_id)
            try:
                answer_id = await self.store.resolve("teams", key)
                outcome = (
                    await self.store.vote(
                        answer_id,
                        found.who,
                        positive=reaction == "like",
                        comment=_comment(action.get("feedback")),
                    )
                    if answer_id
                    else "unknown"
                )
            except CentralOpsError as e:
                logger.warning("teams feedback not recorded", extra={"code": e.code})
                status = HTTPStatus.SERVICE_UNAVAILABLE
            else:
                logger.info("teams feedback", extra={"outcome": outcome})
        await context.send_activity(
            Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=int(status)))
        )
