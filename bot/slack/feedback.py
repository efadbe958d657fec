"""Thumbs up / down under every Slack answer, and the re-ask buttons of App Home.

The closing message of an answer carries a ``context_actions`` block with
Slack's ``feedback_buttons`` element; each button's value names the vote and
the answer id, nothing else: what was asked and run is read from the table
(:mod:`bot.feedback`), never from the click.
"""

from typing import Any

from bot.feedback import Outcome

FEEDBACK = "centralops_feedback"
REASK = "centralops_reask"
STOP = "centralops_stop"
_UP, _DOWN = "up", "down"

THANKS: dict[Outcome, str] = {
    "recorded": "Thanks: your feedback on this answer is recorded.",
    "changed": "Thanks: your feedback on this answer is updated.",
    "unchanged": "Your feedback on this answer was already recorded.",
    "unknown": "This answer is too old to rate (answers are kept 90 days), so nothing was recorded.",
}


def feedback_block(answer_id: str) -> dict[str, Any]:
    """The feedback buttons of one answer (a fresh block id per answer, as Slack asks)."""
    return {
        "type": "context_actions",
        "block_id": f"feedback-{answer_id[:40]}",
        "elements": [
            {
                "type": "feedback_buttons",
                "action_id": FEEDBACK,
                "positive_button": {
                    "text": {"type": "plain_text", "text": "Good answer"},
                    "accessibility_label": "Mark this answer as helpful",
                    "value": f"{_UP}:{answer_id}",
                },
                "negative_button": {
                    "text": {"type": "plain_text", "text": "Bad answer"},
                    "accessibility_label": "Mark this answer as not helpful",
                    "value": f"{_DOWN}:{answer_id}",
                },
            }
        ],
    }


def parse_vote(value: str) -> tuple[bool, str] | None:
    """``(positive, answer_id)`` of a feedback button's value; ``None`` when it is not one of ours."""
    kind, _, answer_id = value.partition(":")
    if kind not in (_UP, _DOWN) or not answer_id or len(answer_id) > 64 or not answer_id.isalnum():
        return None
    return kind == _UP, answer_id


def stop_blocks(turn_id: str) -> list[dict[str, Any]]:
    """The Stop control of an answer being written (the click is refused to anyone but who asked)."""
    return [
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": "Whoever asked can stop this answer while it is written."}
            ],
        },
        {
            "type": "actions",
            "block_id": "stop",
            "elements": [
                {
                    "type": "button",
                    "action_id": STOP,
                    "text": {"type": "plain_text", "text": "Stop"},
                    "style": "danger",
                    "value": turn_id,
                }
            ],
        },
    ]
