"""Talk to the bot as Microsoft Teams does, and show what people would see.

The console posts activities to the bot's ``/api/messages`` shaped exactly as
Teams sends them (``channelId`` ``msteams``, ``serviceUrl`` pointing at the
local Connector stand-in, ``from.aadObjectId``, the tenant in
``channelData``, ``<at>`` mention markup with its mention entity, channel
conversation ids with ``;messageid=``), then reads back from the stand-in
what the bot sent::

    console = TeamsConsole(bot_url, connector_url)
    chat = await console.personal(user="alice", text="list buckets in staging")
    print(chat.render())

Teams gives a bot ``turn_limit_s`` (15 s) to answer each request; the console
enforces it on every post, so a bot that keeps Teams waiting fails loudly.
"""

import argparse
import asyncio
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from infra.local import org
from infra.local.payload_checks import check_teams, record
from infra.local.text_table import render_table

BOT_ID = "28:00000000-0000-4000-8000-0000000b0a55"
BOT_NAME = "CentralOps"
CHANNEL = "19:ops-general@thread.tacv2"
TEAM = "19:acme-operations@thread.tacv2"
GROUP_CHAT = "19:ops-oncall@thread.v2"
WORKING = "⏳"
CARD = "application/vnd.microsoft.card.adaptive"
FILE_CONSENT = "application/vnd.microsoft.teams.card.file.consent"
FILE_INFO = "application/vnd.microsoft.teams.card.file.info"


class TeamsTurnTooSlow(RuntimeError):
    """The bot did not answer one request within Teams' turn limit."""


@dataclass
class Turn:
    """The bot's HTTP answer to one activity."""

    status: int
    body: Any
    elapsed_s: float


@dataclass
class TeamsConversation:
    """One exchange: what was sent, the bot's HTTP answer, and the messages people see."""

    surface: str
    conversation_id: str
    user: str
    text: str
    activity_id: str
    turn: Turn
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def thread(self) -> str:
        """The conversation id replies in the same thread use."""
        return self.conversation_id

    def bot_messages(self) -> list[dict[str, Any]]:
        """The messages the bot posted in this exchange."""
        return self.messages

    def text_of_all(self) -> str:
        """Every message's text and card text, for searching."""
        parts = []
        for message in self.messages:
            parts.append(message.get("text") or "")
            parts.extend(_card_text(a) for a in message.get("attachments") or [])
        return "\n".join(parts)

    def cards(self, verb: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """``(message id, card)`` of every Adaptive Card, optionally only those with a button (or refresh) of ``verb``."""
        found = []
        for message in self.messages:
            for attachment in message.get("attachments") or []:
                content = attachment.get("content") or {}
                verbs = {a.get("verb") for a in content.get("actions") or []}
                verbs.add(((content.get("refresh") or {}).get("action") or {}).get("verb"))
                if verb is None or verb in verbs:
                    found.append((message["id"], content))
        return found

    def render(self) -> str:
        """What Teams would show, as text."""
        where = {"personal": "1:1 chat", "channel": f"channel {CHANNEL}", "groupChat": "group chat"}[
            self.surface
        ]
        lines = [f"── Teams · {where} ──", f"{self.user}: {self.text}"]
        for message in self.messages:
            private = f" (only {self.user} sees this)" if message.get("targeted_to") else ""
            edited = f" [updated {message['versions'] - 1} times]" if message.get("versions", 1) > 1 else ""
            streamed = " [streamed]" if message.get("streamed") else ""
            text = (message.get("text") or "").strip()
            lines.append(f"{BOT_NAME}{private}{streamed}{edited}:")
            lines.extend(f"  {line}" for line in text.splitlines() if text)
            for attachment in message.get("attachments") or []:
                lines.extend(f"  │ {line}" for line in _card_text(attachment).splitlines())
            for entity in message.get("entities") or []:
                if "AIGeneratedContent" in (entity.get("additionalType") or []):
                    lines.append("  AI generated")
                for c in sorted(entity.get("citation") or [], key=lambda c: c.get("position", 0)):
                    look = c.get("appearance") or {}
                    lines.append(f"  [{c.get('position')}] {look.get('name')}: {look.get('abstract')}")
            if (message.get("channelData") or {}).get("feedbackLoop"):
                lines.append("  [👍] [👎]")
        return "\n".join(lines)


def _element_text(element: dict[str, Any]) -> str:
    kind = element.get("type")
    if kind == "TextBlock":
        return str(element.get("text", ""))
    if kind == "RichTextBlock":
        return "".join(str(r.get("text", "")) for r in element.get("inlines") or [] if isinstance(r, dict))
    if kind == "FactSet":
        return "\n".join(f"{f.get('title')}: {f.get('value')}" for f in element.get("facts") or [])
    if kind == "Table":
        return render_table(
            [
                [" ".join(_element_text(i) for i in c.get("items") or []) for c in r.get("cells") or []]
                for r in element.get("rows") or []
            ],
            header=bool(element.get("firstRowAsHeader", True)),
        )
    if kind in ("Container", "Column"):
        return "\n".join(_element_text(i) for i in element.get("items") or [])
    if kind == "ColumnSet":
        return "  ".join(_element_text(c) for c in element.get("columns") or [])
    return ""


def card_text(content: dict[str, Any]) -> str:
    """What an Adaptive Card shows, as text: text blocks, rich text, tables and buttons."""
    lines = [t for t in (_element_text(e) for e in content.get("body") or []) if t]
    buttons = [f"[{a.get('title')}]" for a in content.get("actions") or []]
    if buttons:
        lines.append(" ".join(buttons))
    return "\n".join(lines)


def _card_text(attachment: dict[str, Any]) -> str:
    content = attachment.get("content") or {}
    if attachment.get("contentType") == FILE_CONSENT:
        size = content.get("sizeInBytes")
        return f"📎 {attachment.get('name')} ({size} bytes): {content.get('description')}\n[Allow]  [Decline]"
    if attachment.get("contentType") == FILE_INFO:
        return f"📎 {attachment.get('name')} (in OneDrive: {attachment.get('contentUrl')})"
    return card_text(content)


class TeamsConsole:
    """Sends Teams-shaped activities to the bot and reads the Connector stand-in.

    Args:
        bot_url: The bot's base URL (``/api/messages`` is appended).
        connector_url: The Connector stand-in's base URL (the activities' ``serviceUrl``).
        tenant_id: The Entra tenant of the demo organisation.
        turn_limit_s: How long Teams waits for the bot's HTTP answer.
        quiet_s: How long the conversation must stay unchanged to count as answered.
        http: An HTTP client; created when omitted.
    """

    def __init__(
        self,
        bot_url: str,
        connector_url: str,
        *,
        tenant_id: str = org.TEAMS_TENANT_ID,
        turn_limit_s: float = 15.0,
        quiet_s: float = 0.6,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.bot_url = bot_url.rstrip("/")
        self.connector_url = connector_url.rstrip("/")
        self.tenant_id = tenant_id
        self.turn_limit_s = turn_limit_s
        self.quiet_s = quiet_s
        self._http = http or httpx.AsyncClient()
        self._ids = itertools.count(int(time.time() * 1000))

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    # --- shapes --------------------------------------------------------------------------------

    def person(self, user: str) -> dict[str, Any]:
        """The ``from`` of a demo person (by their short name, e.g. ``alice``)."""
        p = org.person(user)
        if not p.teams_aad_id:
            raise ValueError(f"{user} has no Teams identity in infra/local/org.py")
        return {
            "id": f"29:{p.teams_aad_id}",
            "name": p.slack_name.capitalize(),
            "aadObjectId": p.teams_aad_id,
        }

    def _base(self, user: str, conversation: dict[str, Any], channel_data: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return {
            "id": str(next(self._ids)),
            "timestamp": now,
            "localTimestamp": now,
            "serviceUrl": self.connector_url + "/",
            "channelId": "msteams",
            "from": self.person(user),
            "conversation": {"tenantId": self.tenant_id, **conversation},
            "recipient": {"id": BOT_ID, "name": BOT_NAME},
            "locale": "en-US",
            "channelData": {"tenant": {"id": self.tenant_id}, **channel_data},
        }

    def message_activity(
        self,
        user: str,
        text: str,
        conversation: dict[str, Any],
        channel_data: dict[str, Any],
        *,
        mention: bool,
    ) -> dict[str, Any]:
        """A ``message`` activity from a demo person, as Teams delivers it (``mention``: the bot is @-mentioned)."""
        activity = self._base(user, conversation, channel_data)
        entities: list[dict[str, Any]] = [
            {"type": "clientInfo", "locale": "en-US", "country": "US", "platform": "Web", "timezone": "UTC"}
        ]
        if mention:
            tag = f"<at>{BOT_NAME}</at>"
            text = f"{tag} {text}"
            entities.append({"type": "mention", "text": tag, "mentioned": {"id": BOT_ID, "name": BOT_NAME}})
        activity.update({"type": "message", "textFormat": "plain", "text": text, "entities": entities})
        return activity

    def personal_conversation(self, user: str) -> dict[str, Any]:
        """The ``conversation`` of a demo person's 1:1 chat with the bot."""
        aad = self.person(user)["aadObjectId"]
        return {"id": f"a:1on1-{aad}", "conversationType": "personal"}

    # --- sending -------------------------------------------------------------------------------

    async def post(self, activity: dict[str, Any]) -> Turn:
        """Post one activity within Teams' turn limit.

        Raises:
            TeamsTurnTooSlow: The bot kept Teams waiting longer than the limit.
        """
        started = time.monotonic()
        try:
            response = await self._http.post(
                f"{self.bot_url}/api/messages", json=activity, timeout=self.turn_limit_s
            )
        except httpx.TimeoutException as e:
            raise TeamsTurnTooSlow(
                f"The bot did not answer within Teams' {self.turn_limit_s:g} s turn limit; Teams would retry."
            ) from e
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = response.text
        return Turn(response.status_code, body, time.monotonic() - started)

    async def personal(self, user: str, text: str, *, wait: bool = True) -> TeamsConversation:
        """A 1:1 message from ``user``."""
        conversation = self.personal_conversation(user)
        activity = self.message_activity(user, text, conversation, {}, mention=False)
        return await self._exchange("personal", activity, user, text, wait)

    async def channel(
        self,
        user: str,
        text: str,
        *,
        thread: str | None = None,
        channel: str = CHANNEL,
        wait: bool = True,
        mention: bool = True,
    ) -> TeamsConversation:
        """An @mention in a channel: a new post, or a reply in ``thread`` (a conversation id with ``;messageid=``).

        ``mention=False`` sends what Teams delivers with ``ChannelMessage.Read.Group``: a message
        that does not @mention the bot.
        """
        channel_data = {
            "teamsChannelId": channel,
            "teamsTeamId": TEAM,
            "channel": {"id": channel},
            "team": {"id": TEAM},
        }
        activity = self.message_activity(user, text, {}, channel_data, mention=mention)
        conversation_id = thread or f"{channel};messageid={activity['id']}"
        activity["conversation"] = {
            "id": conversation_id,
            "conversationType": "channel",
            "isGroup": True,
            "tenantId": self.tenant_id,
        }
        if thread:
            activity["replyToId"] = thread.partition(";messageid=")[2]
        return await self._exchange("channel", activity, user, text, wait)

    async def group(
        self, user: str, text: str, *, chat: str = GROUP_CHAT, wait: bool = True
    ) -> TeamsConversation:
        """An @mention in a group chat."""
        conversation = {"id": chat, "conversationType": "groupChat", "isGroup": True}
        activity = self.message_activity(user, text, conversation, {}, mention=True)
        return await self._exchange("groupChat", activity, user, text, wait)

    async def click(
        self,
        user: str,
        on: TeamsConversation,
        message_id: str,
        verb: str,
        data: dict[str, Any],
        *,
        wait: bool = True,
    ) -> tuple[Turn, TeamsConversation]:
        """Click an ``Action.Execute`` button on a card the bot posted in ``on``'s conversation."""
        base = on.conversation_id
        conversation = (
            self.personal_conversation(user)
            if on.surface == "personal"
            else {
                "id": base,
                "conversationType": on.surface,
                "isGroup": True,
            }
        )
        activity = self._base(user, conversation, {})
        activity.update(
            {
                "type": "invoke",
                "name": "adaptiveCard/action",
                "id": f"f:{uuid.uuid4().hex}",
                "replyToId": message_id,
                "value": {
                    "action": {"type": "Action.Execute", "verb": verb, "data": data},
                    "trigger": "manual",
                },
            }
        )
        seen = await self._message_ids(base)
        turn = await self.post(activity)
        if isinstance(turn.body, dict) and turn.body.get("type") == CARD:
            # The card an invoke response puts in place is checked like every card the bot sends.
            shown = {
                "type": "message",
                "attachments": [{"contentType": CARD, "content": turn.body.get("value")}],
            }
            record("teams", "invoke response card", check_teams(shown))
        follow = TeamsConversation(on.surface, base, user, f"[clicked {verb}]", activity["id"], turn)
        if wait:
            # Only a recorded decision (a card in the invoke response) or a follow-up starts new work.
            body = turn.body if isinstance(turn.body, dict) else {}
            resumes = body.get("type") == CARD or verb == "followup"
            follow.messages = await self.settle(base, seen, require_new=resumes)
        return turn, follow

    async def feedback(
        self, user: str, on: TeamsConversation, message_id: str, *, like: bool, comment: str = ""
    ) -> Turn:
        """Click Teams' thumbs up or down under a bot message (and optionally type a comment)."""
        conversation = (
            self.personal_conversation(user)
            if on.surface == "personal"
            else {"id": on.conversation_id, "conversationType": on.surface, "isGroup": True}
        )
        activity = self._base(user, conversation, {})
        activity.update(
            {
                "type": "invoke",
                "name": "message/submitAction",
                "id": f"f:{uuid.uuid4().hex}",
                "replyToId": message_id,
                "value": {
                    "actionName": "feedback",
                    "actionValue": {
                        "reaction": "like" if like else "dislike",
                        "feedback": json.dumps({"feedbackText": comment}),
                    },
                },
            }
        )
        return await self.post(activity)

    async def press_stop(self, conversation_id: str) -> None:
        """Press Teams' own Stop on the message streaming in a 1:1 chat (Teams refuses the stream's next update)."""
        response = await self._http.post(
            f"{self.connector_url}/_stand-in/config", json={"stop_stream": conversation_id}
        )
        response.raise_for_status()

    async def answer_file(
        self, user: str, on: TeamsConversation, *, accept: bool = True
    ) -> tuple[Turn, TeamsConversation]:
        """Click *Allow* (or *Decline*) on the file consent card the bot posted in ``on``'s 1:1 chat.

        As Teams does: on *Allow*, a OneDrive upload session is created first (at the stand-in), and
        the invoke carries its ``uploadInfo``.

        Raises:
            LookupError: ``on`` holds no file consent card.
        """
        found = [
            (m["id"], a)
            for m in on.messages
            for a in m.get("attachments") or []
            if a.get("contentType") == FILE_CONSENT
        ]
        if not found:
            raise LookupError("The bot offered no file in this exchange.")
        message_id, consent = found[-1]
        content = consent.get("content") or {}
        value: dict[str, Any] = {"type": "fileUpload", "action": "accept" if accept else "decline"}
        if accept:
            response = await self._http.post(
                f"{self.connector_url}/_stand-in/uploads",
                json={"conversation": on.conversation_id, "name": consent.get("name")},
            )
            response.raise_for_status()
            value.update(context=content.get("acceptContext"), uploadInfo=response.json())
        else:
            value["context"] = content.get("declineContext")
        activity = self._base(user, self.personal_conversation(user), {})
        activity.update(
            {
                "type": "invoke",
                "name": "fileConsent/invoke",
                "id": f"f:{uuid.uuid4().hex}",
                "replyToId": message_id,
                "value": value,
            }
        )
        seen = await self._message_ids(on.conversation_id)
        turn = await self.post(activity)
        follow = TeamsConversation(
            "personal",
            on.conversation_id,
            user,
            "[clicked Allow]" if accept else "[clicked Decline]",
            activity["id"],
            turn,
        )
        follow.messages = await self.settle(on.conversation_id, seen, require_new=False)
        return turn, follow

    async def install(self, user: str) -> TeamsConversation:
        """``user`` adds the app in a 1:1 chat: Teams sends ``conversationUpdate`` with the bot as a new member."""
        conversation = self.personal_conversation(user)
        activity = self._base(user, conversation, {})
        activity.update({"type": "conversationUpdate", "membersAdded": [{"id": BOT_ID}]})
        return await self._exchange("personal", activity, user, "[installed the app]", True)

    async def _exchange(
        self, surface: str, activity: dict[str, Any], user: str, text: str, wait: bool
    ) -> TeamsConversation:
        conversation_id = activity["conversation"]["id"]
        seen = await self._message_ids(conversation_id)
        turn = await self.post(activity)
        exchange = TeamsConversation(surface, conversation_id, user, text, activity["id"], turn)
        if wait:
            exchange.messages = await self.settle(conversation_id, seen)
        return exchange

    # --- reading -------------------------------------------------------------------------------

    async def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        """What people see in a conversation now."""
        response = await self._http.get(
            f"{self.connector_url}/_stand-in/messages", params={"conversation": conversation_id}
        )
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()["messages"]
        return found

    async def activities(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        """Every call the bot made to the Connector."""
        params = {"conversation": conversation_id} if conversation_id else {}
        response = await self._http.get(f"{self.connector_url}/_stand-in/activities", params=params)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()["activities"]
        return found

    async def reset(self) -> None:
        """Forget what the stand-in recorded."""
        (await self._http.delete(f"{self.connector_url}/_stand-in/activities")).raise_for_status()

    async def _message_ids(self, conversation_id: str) -> set[str]:
        return {m["id"] for m in await self.messages(conversation_id)}

    async def settle(
        self, conversation_id: str, seen: set[str], *, require_new: bool = True, timeout_s: float = 120.0
    ) -> list[dict[str, Any]]:
        """Wait until the bot has answered: new messages, no open stream, no ⏳, unchanged for ``quiet_s``."""
        deadline = time.monotonic() + timeout_s
        last: list[dict[str, Any]] | None = None
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            current = [m for m in await self.messages(conversation_id) if m["id"] not in seen]
            if current != last:
                last, stable_since = current, time.monotonic()
            done = (bool(current) or not require_new) and all(
                m["final"] and not (m["text"] or "").startswith(WORKING) for m in current
            )
            if done and time.monotonic() - stable_since >= self.quiet_s:
                return current
            await asyncio.sleep(0.1)
        raise TimeoutError(f"The bot did not finish answering in {conversation_id} within {timeout_s:g} s.")


async def demo(bot_url: str, connector_url: str) -> list[TeamsConversation]:
    """The Teams part of ``make demo``: a 1:1 question and a channel mention, as alice and bob."""
    console = TeamsConsole(bot_url, connector_url)
    try:
        return [
            await console.personal(user="alice", text="list buckets in staging"),
            await console.channel(user="bob", text="how many lambda functions in production?"),
        ]
    finally:
        await console.close()


def main(argv: list[str] | None = None) -> None:
    """``python -m infra.local.consoles.teams [--channel] USER TEXT``: one exchange, printed as Teams shows it."""
    parser = argparse.ArgumentParser(description="Talk to the bot as Microsoft Teams does.")
    parser.add_argument("--bot", default="http://127.0.0.1:3000")
    parser.add_argument("--connector", default="http://127.0.0.1:5105")
    parser.add_argument(
        "--channel", action="store_true", help="mention the bot in a channel instead of a 1:1 chat"
    )
    parser.add_argument("user", help="a demo person: alice, bob, carol")
    parser.add_argument("text")
    args = parser.parse_args(argv)

    async def run() -> None:
        console = TeamsConsole(args.bot, args.connector)
        try:
            send = console.channel if args.channel else console.personal
            print((await send(user=args.user, text=args.text)).render())
        finally:
            await console.close()

    asyncio.run(run())


if __name__ == "__main__":
    main()
