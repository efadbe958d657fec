"""The Teams side of ``make chat``: ask in a 1:1 chat or a channel, rate and stop the newest answer.

Each line goes through :class:`~infra.local.consoles.teams.TeamsConsole`, shaped as
Teams sends it, and what the bot sent is printed as Teams shows it: the
answer, the AI-generated label, the citations and the feedback buttons.

An answer that is still being written after :data:`PATIENCE_S` hands the
prompt back, so the person can type ``:stop``: in a channel that clicks the
answer's Stop card, in a 1:1 chat it presses Teams' own Stop on the streaming
message. Any other line first waits for the answer and prints it.
"""

from dataclasses import dataclass, field
from typing import Any

from infra.local.consoles.teams import TeamsConsole, TeamsConversation

PATIENCE_S = 4.0  # longer than the bot waits before offering Stop (2 s)
STOP_VERB = "stop"
STOP_WAIT_S = 20.0  # how long a 1:1 Stop waits for the bot to say it stopped

HELP = """\
Teams (the same bot, as Microsoft Teams sends it):
  :teams <text>          ask in your 1:1 chat with the bot in Teams
  :teams-channel <text>  @mention the bot in the Teams channel (a new post)
  :good | :bad | :stop   after a Teams question: thumbs up / down on its answer, or stop it while it is written
"""


@dataclass
class TeamsChat:
    """The newest Teams exchange of the console, and what can be done with it."""

    console: TeamsConsole
    patience_s: float = PATIENCE_S
    last: TeamsConversation | None = None
    writing: bool = False  # the newest answer was still being written when the prompt came back
    _seen: set[str] = field(default_factory=set)

    async def ask(self, who: str, text: str, *, channel: bool) -> str:
        """Ask as ``who``; the answer as Teams shows it, or a note that it is still being written."""
        if channel:
            self.last = await self.console.channel(user=who, text=text, wait=False)
            self._seen = set()  # a new post: its conversation holds only the answer
        else:
            conversation = self.console.personal_conversation(who)["id"]
            self._seen = {m["id"] for m in await self.console.messages(conversation)}
            self.last = await self.console.personal(user=who, text=text, wait=False)
        try:
            self.last.messages = await self.console.settle(
                self.last.conversation_id, self._seen, timeout_s=self.patience_s
            )
        except TimeoutError:
            self.writing = True
            return (
                "CentralOps is still writing this answer in Teams. Type :stop to stop it, "
                "or anything else (Enter too) to wait for it."
            )
        self.writing = False
        return self.last.render()

    async def finish(self) -> str:
        """Wait for the answer still being written; it, as Teams shows it (empty when none is)."""
        if self.last is None or not self.writing:
            return ""
        self.writing = False
        self.last.messages = await self.console.settle(self.last.conversation_id, self._seen)
        return self.last.render()

    async def rate(self, who: str, *, positive: bool) -> str:
        """Thumbs up or down on the newest answer, as ``who``; what happened."""
        if self.last is None:
            return "There is no Teams answer yet: ask with :teams or :teams-channel first."
        if self.last.surface == "personal" and who != self.last.user:
            return f"That answer is in {self.last.user}'s 1:1 chat: only {self.last.user} can rate it there."
        rated = [m for m in self.last.messages if (m.get("channelData") or {}).get("feedbackLoop")]
        if not rated:
            return "The newest Teams answer has no feedback buttons (a notice or a card is not rated)."
        turn = await self.console.feedback(who, self.last, rated[-1]["id"], like=positive)
        if turn.status >= 300:
            return f"Teams feedback was refused (HTTP {turn.status})."
        return f"{'👍' if positive else '👎'} sent on the newest Teams answer, as {who}."

    async def stop(self, who: str) -> str:
        """Stop the answer still being written, as ``who``; what happened, then the answer."""
        if self.last is None or not self.writing:
            return "Nothing to stop: the newest Teams answer is complete."
        if self.last.surface == "personal":
            if who != self.last.user:
                return f"That answer is in {self.last.user}'s 1:1 chat: only {self.last.user} sees its Stop."
            conversation = self.last.conversation_id
            await self.console.press_stop(conversation)
            # Teams shows what streamed so far as the message; the bot says it stopped in a new one.
            streamed = {m["id"] for m in await self.console.messages(conversation)}
            self.writing = False
            note = ""
            try:
                await self.console.settle(conversation, streamed, timeout_s=STOP_WAIT_S)
            except TimeoutError:
                note = (
                    f"\n(The bot had not said it stopped within {STOP_WAIT_S:g} s: Teams shows the message "
                    "as it was when Stop was pressed.)"
                )
            self.last.messages = [
                m for m in await self.console.messages(conversation) if m["id"] not in self._seen
            ]
            return "Pressed Teams' Stop on the streaming answer.\n" + self.last.render() + note
        offered = await self._stop_card(self.last.conversation_id)
        if offered is None:
            return "The answer offers no Stop right now; it may be about to finish.\n" + await self.finish()
        message_id, data = offered
        turn, _ = await self.console.click(who, self.last, message_id, STOP_VERB, data, wait=False)
        said = turn.body.get("value") if isinstance(turn.body, dict) else None
        return f"Clicked Stop: {said or turn.status}\n" + await self.finish()

    async def _stop_card(self, conversation_id: str) -> tuple[str, dict[str, Any]] | None:
        for message in await self.console.messages(conversation_id):
            for attachment in message.get("attachments") or []:
                for action in (attachment.get("content") or {}).get("actions") or []:
                    if action.get("verb") == STOP_VERB:
                        return str(message["id"]), dict(action.get("data") or {})
        return None
