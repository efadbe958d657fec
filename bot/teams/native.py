"""Teams' conventions for AI answers: the AI-generated label, citations and the feedback loop.

- **Label.** Every answer carries the schema.org ``Message`` entity with
  ``additionalType: ["AIGeneratedContent"]`` (the SDK's ``add_ai_metadata`` and,
  in a stream, ``set_generated_by_ai_label``).
- **Citations.** Each account call the answer came from is one citation: its
  name is the account, its abstract the command. Teams shows a citation only
  where the text refers to it (``[n]``), so the answer ends with a
  ``Sources: [1] [2] …`` line; Teams documents at most 20 citations per
  message, names of at most 80 and abstracts of at most 160 characters
  (:data:`MAX_CITATIONS`, :data:`NAME_MAX`, :data:`ABSTRACT_MAX`).
- **Feedback.** ``channelData.feedbackLoop`` puts Teams' thumbs up / down under
  the answer; the vote arrives as a ``message/submitAction`` invoke naming the
  message, which :mod:`bot.feedback` maps back to the answer.
"""

from typing import Any

from microsoft_agents.activity import Activity, ClientCitation, ClientCitationAppearance

MAX_CITATIONS = 20
NAME_MAX = 80
ABSTRACT_MAX = 160
FEEDBACK_LOOP = {"type": "default"}


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def citations(sources: list[tuple[str, str]]) -> list[ClientCitation]:
    """One citation per ``(account, command)`` call, numbered from 1 (at most :data:`MAX_CITATIONS`)."""
    return [
        ClientCitation(
            position=i,
            appearance=ClientCitationAppearance(
                name=_clip(account or "account", NAME_MAX), abstract=_clip(command or "—", ABSTRACT_MAX)
            ),
        )
        for i, (account, command) in enumerate(sources[:MAX_CITATIONS], start=1)
    ]


def sources_line(sources: list[tuple[str, str]]) -> str:
    """The markdown line that refers to each citation (empty when the answer ran nothing)."""
    if not sources:
        return ""
    marks = " ".join(f"[{i}]" for i in range(1, min(len(sources), MAX_CITATIONS) + 1))
    more = len(sources) - MAX_CITATIONS
    return f"\n\nSources: {marks}" + (f" and {more} more calls" if more > 0 else "")


def label(activity: Activity, sources: list[tuple[str, str]], *, feedback: bool) -> Activity:
    """Mark a finished answer as AI-generated, with its citations and, when kept, the feedback loop."""
    activity.add_ai_metadata(citations(sources) or None)
    if feedback:
        data: dict[str, Any] = (
            dict(activity.channel_data or {}) if isinstance(activity.channel_data, dict) else {}
        )
        data["feedbackLoop"] = dict(FEEDBACK_LOOP)
        activity.channel_data = data
    return activity


def message_key(conversation_id: str, message_id: str) -> str:
    """How a Teams message is named for feedback: the chat or channel (threads share it) and the id."""
    return f"{conversation_id.split(';', 1)[0]}#{message_id}"
