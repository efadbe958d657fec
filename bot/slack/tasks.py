"""Per-account progress as Slack's native task cards, in the answer's stream.

The stream starts with ``task_display_mode="plan"``: all calls show together in
one plan block titled with the agent's latest status, one ``task_update`` per
account call (running → ``in_progress``, done → ``complete``, failed →
``error``) naming the account, the command and the time taken. The lines shown
follow the checklist's own bound (:meth:`bot.chat.Checklist.visible`), the rest
is one summary task. Only what changed since the last update is sent.

Account names, commands and statuses are data: each field is escaped as
``markdown_text`` is (:func:`bot.slack.markup.markdown`). Where the streaming
methods are missing, the mrkdwn checklist (:func:`bot.slack.blocks.checklist_text`)
is shown instead.
"""

from typing import Any

from bot.chat import CheckItem, Checklist
from bot.slack.markup import markdown

DISPLAY_MODE = "plan"
FIELD_MAX = 256  # characters of a task's details or output
_STATUS = {"running": "in_progress", "ok": "complete", "failed": "error", "stopped": "error"}
_OUTCOME = {"ok": "done", "failed": "failed", "stopped": "no result"}  # "stopped": it never reported


def _field(text: str, limit: int = FIELD_MAX) -> str:
    """``text`` escaped as ``markdown_text`` is, cut so the escaped form stays within ``limit``."""
    out, keep = markdown(text), len(text)
    while len(out) > limit and keep > 0:
        keep -= max(len(out) - limit, 1)
        out = markdown(text[: max(keep, 0)].rstrip("&") + "…")
    return out


def task(task_id: str, item: CheckItem) -> dict[str, Any]:
    """The ``task_update`` chunk of one account call."""
    chunk: dict[str, Any] = {
        "type": "task_update",
        "id": task_id,
        "title": _field(item.account, 120),
        "status": _STATUS[item.state],
        "details": _field(item.command),
    }
    if item.state != "running":
        took = f" in {item.ms} ms" if item.ms is not None else ""
        chunk["output"] = _OUTCOME[item.state] + took
    return chunk


def _closing_title(checklist: Checklist) -> str:
    """The plan's title once the answer ended: what came of the calls."""
    calls = len(checklist.items)
    answered = sum(1 for i in checklist.items if i.state == "ok")
    return f"Done: {answered} of {calls} calls answered" if calls else "Done"


class TaskCards:
    """What the stream shows of a checklist, to send only the changes."""

    def __init__(self) -> None:
        self._shown: dict[str, dict[str, Any]] = {}
        self._title = ""

    @property
    def started(self) -> bool:
        """Whether any task was sent."""
        return bool(self._shown)

    def chunks(self, checklist: Checklist) -> list[dict[str, Any]]:
        """The ``plan_update`` and ``task_update`` chunks that changed since the last call."""
        out: list[dict[str, Any]] = []
        title = _field(checklist.status, 120) if checklist.status else ""
        if not title and self._title:  # the answer ended: the plan's title no longer says work goes on
            title = _field(_closing_title(checklist), 120)
        if title and title != self._title:
            self._title = title
            out.append({"type": "plan_update", "title": title})
        items, more = checklist.visible()
        wanted = [task(f"call-{i}", item) for i, item in enumerate(items)]
        if more:
            busy = any(i.state == "running" for i in checklist.items[len(items) :])
            wanted.append(
                {
                    "type": "task_update",
                    "id": "more",
                    "title": _field(more, 120),
                    "status": "in_progress" if busy else "complete",
                }
            )
        for chunk in wanted:
            if self._shown.get(chunk["id"]) != chunk:
                self._shown[chunk["id"]] = chunk
                out.append(chunk)
        return out
