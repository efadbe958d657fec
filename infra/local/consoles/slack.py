"""Talk to the bot as Slack does: signed slash commands, events and button clicks.

Requests are signed with slack-sdk's ``SignatureVerifier`` and the bot's signing
secret, so they pass through Bolt's real verification. What the bot posts is
read back from the Web API stand-in (:mod:`infra.local.slack_api`), and a
:class:`Thread` waits until the answer's closing message (its metadata
``centralops_answer``) or a private reply has arrived::

    console = SlackConsole(bot_url, stand_in_url, signing_secret)
    thread = await console.slash(user="alice", text="list buckets in staging", channel="C0OPS")
    print(thread.render())
"""

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from infra.local import org
from infra.local.slack_api import BOT_USER_ID, render_thread

ANSWER_EVENT = "centralops_answer"
APP_ID = "A0CENTRALOPS"


def _ts_key(ts: str) -> tuple[int, int]:
    whole, _, frac = ts.partition(".")
    return int(whole), int(frac or 0)


def user_id(user: str) -> str:
    """A Slack user id from a demo name (``alice``) or an id (``U0ALICE``)."""
    if user.startswith(("U", "W")) and user.upper() == user:
        return user
    return org.person(user).slack_user_id


def user_name(uid: str) -> str:
    """The demo name of a Slack user id."""
    return next((p.slack_name for p in org.PEOPLE if p.slack_user_id == uid), uid)


@dataclass
class Thread:
    """A conversation as the stand-in recorded it: a thread and the private replies to one person."""

    console: "SlackConsole"
    channel: str
    ts: str | None
    user: str
    since: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    ephemeral: list[dict[str, Any]] = field(default_factory=list)

    async def refresh(self) -> "Thread":
        """Read the thread and the person's new private messages again."""
        if self.ts:
            self.messages = await self.console.thread_messages(self.channel, self.ts)
        self.ephemeral = [
            e for e in await self.console.ephemeral(self.user) if _ts_key(e["ts"]) > _ts_key(self.since)
        ]
        return self

    def answers(self) -> list[dict[str, Any]]:
        """Closed answers (messages carrying the answer metadata) newer than the last action."""
        return [
            m
            for m in self.messages
            if (
                (m.get("metadata") or {}).get("event_type") == ANSWER_EVENT
                or any(b.get("block_id") == ANSWER_EVENT for b in m.get("blocks") or [])
            )
            and _ts_key(m["ts"]) > _ts_key(self.since)
        ]

    @property
    def finished(self) -> bool:
        """An answer closed, or a private reply arrived."""
        return bool(self.answers() or self.ephemeral)

    @property
    def text(self) -> str:
        """Everything shown, as plain text (thread and private replies)."""
        return self.render()

    def buttons(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Every button in the thread and the private replies: ``(message, element)``."""
        out: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for m in [*self.messages, *self.ephemeral]:
            for block in m.get("blocks") or []:
                if block.get("type") == "actions":
                    out.extend((m, e) for e in block.get("elements", []))
        return out

    def button(self, label_or_action: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The newest button with this label or action id (prefix match on the action id)."""
        for m, e in reversed(self.buttons()):
            label = (e.get("text") or {}).get("text", "")
            if label == label_or_action or str(e.get("action_id", "")).startswith(label_or_action):
                return m, e
        raise LookupError(f"no button {label_or_action!r} in the thread")

    def render(self) -> str:
        """What Slack would show."""
        return render_thread(self.messages, ephemeral=self.ephemeral)


class SlackConsole:
    """Sends signed Slack requests to the bot and reads the results from the stand-in.

    Args:
        bot_url: The bot's base URL (``/slack/events`` is appended).
        stand_in_url: The Web API stand-in's base URL (with or without ``/api/``).
        signing_secret: The Slack signing secret the bot verifies with.
        team: The workspace id.
        socket_mode: Deliver through the stand-in's Socket Mode connection instead of HTTP.
    """

    def __init__(
        self,
        bot_url: str,
        stand_in_url: str,
        signing_secret: str,
        *,
        team: str = org.SLACK_TEAM_ID,
        socket_mode: bool = False,
    ) -> None:
        self.socket_mode = socket_mode
        self.bot_url = bot_url.rstrip("/")
        self.stand_in_url = stand_in_url.rstrip("/").removesuffix("/api")
        self.verifier = SignatureVerifier(signing_secret)
        self.team = team
        self.http = httpx.AsyncClient(timeout=30.0)

    @classmethod
    def from_stack(cls, info: org.StackInfo) -> "SlackConsole":
        """A console for a started local stack."""
        return cls(info.bot_url, info.slack_api_url, info.slack_signing_secret)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    # -- raw requests -------------------------------------------------------------

    def sign(self, body: str, *, timestamp: int | None = None) -> dict[str, str]:
        """Slack's signature headers for ``body``."""
        ts = str(timestamp if timestamp is not None else int(time.time()))
        return {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": str(self.verifier.generate_signature(timestamp=ts, body=body)),
        }

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        retry_num: int | None = None,
        timestamp: int | None = None,
        bot_url: str | None = None,
    ) -> httpx.Response:
        """POST a signed body to ``/slack/events`` (of another bot replica when ``bot_url`` is given)."""
        headers = {"Content-Type": content_type, **self.sign(body, timestamp=timestamp)}
        if retry_num is not None:
            headers.update({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"})
        return await self.http.post(
            f"{bot_url or self.bot_url}/slack/events", content=body.encode(), headers=headers
        )

    async def _deliver(self, kind: str, body: str, content_type: str) -> None:
        """Send a body over HTTP (signed) or as a Socket Mode envelope of ``kind``."""
        if not self.socket_mode:
            (await self.post(body, content_type)).raise_for_status()
            return
        if content_type == "application/json":
            payload: Any = json.loads(body)
        else:
            fields = dict(parse_qsl(body))
            payload = json.loads(fields["payload"]) if set(fields) == {"payload"} else fields
        r = await self.http.post(
            f"{self.stand_in_url}/_stand-in/socket/send", json={"type": kind, "payload": payload}
        )
        r.raise_for_status()

    def slash_body(self, user: str, text: str, channel: str) -> str:
        """The form body of ``/aws <text>``."""
        uid = user_id(user)
        return urlencode(
            {
                "token": "unused-verification-token",
                "team_id": self.team,
                "team_domain": "centralops-local",
                "channel_id": channel,
                "channel_name": channel.lower(),
                "user_id": uid,
                "user_name": user_name(uid),
                "command": "/aws",
                "text": text,
                "api_app_id": APP_ID,
                "response_url": f"{self.stand_in_url}/_response/{channel}/{user_id(user)}/{uuid.uuid4().hex}",
                "trigger_id": f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:16]}",
            }
        )

    def event_body(self, event: dict[str, Any], *, event_id: str | None = None) -> str:
        """The JSON body of an Events API callback."""
        return json.dumps(
            {
                "token": "unused-verification-token",
                "team_id": self.team,
                "api_app_id": APP_ID,
                "type": "event_callback",
                "event_id": event_id or f"Ev{uuid.uuid4().hex[:12].upper()}",
                "event_time": int(time.time()),
                "authorizations": [{"team_id": self.team, "user_id": BOT_USER_ID, "is_bot": True}],
                "event": event,
            }
        )

    # -- stand-in reads -------------------------------------------------------------

    async def _get(self, path: str, **params: str) -> dict[str, Any]:
        r = await self.http.get(f"{self.stand_in_url}{path}", params=params)
        r.raise_for_status()
        data: dict[str, Any] = r.json()
        return data

    async def now(self) -> str:
        """A stand-in timestamp that orders before anything recorded later."""
        return str((await self._get("/_stand-in/now"))["ts"])

    async def thread_messages(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """A thread as recorded."""
        return list((await self._get("/_stand-in/thread", channel=channel, ts=ts))["messages"])

    async def channel_messages(self, channel: str) -> list[dict[str, Any]]:
        """Every message of a channel."""
        return list((await self._get("/_stand-in/messages", channel=channel))["messages"])

    async def ephemeral(self, user: str) -> list[dict[str, Any]]:
        """Private messages shown to a person."""
        return list((await self._get("/_stand-in/ephemeral", user=user_id(user)))["messages"])

    async def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """Recorded Web API calls."""
        return list((await self._get("/_stand-in/calls", **({"method": method} if method else {})))["calls"])

    async def configure(self, **body: Any) -> None:
        """Switch the stand-in (``streaming=False``, ``rate_limit={...}``, ``reset=True``)."""
        (await self.http.post(f"{self.stand_in_url}/_stand-in/config", json=body)).raise_for_status()

    async def say(self, user: str, channel: str, text: str, thread_ts: str | None = None) -> str:
        """Record what a person types, so the thread shows it; returns its ts."""
        r = await self.http.post(
            f"{self.stand_in_url}/_stand-in/user_message",
            json={"channel": channel, "user": user_id(user), "text": text, "thread_ts": thread_ts},
        )
        r.raise_for_status()
        return str(r.json()["ts"])

    # -- what people do ------------------------------------------------------------

    async def slash(
        self, user: str, text: str, channel: str = "C0OPS", *, wait: bool = True, wait_s: float = 60
    ) -> Thread:
        """``/aws <text>`` in ``channel``; the thread the bot opened (or its private reply)."""
        since = await self.now()
        body = self.slash_body(user, text, channel)
        await self._deliver("slash_commands", body, "application/x-www-form-urlencoded")
        thread = Thread(self, channel, None, user_id(user), since)
        if wait:
            await self._wait(thread, wait_s, find_parent=True)
        return thread

    async def mention(
        self,
        user: str,
        text: str,
        channel: str = "C0OPS",
        *,
        thread: "Thread | str | None" = None,
        event_id: str | None = None,
        wait: bool = True,
        wait_s: float = 60,
    ) -> Thread:
        """``@CentralOps <text>`` in a channel, or in a thread to continue a conversation."""
        thread_ts = thread.ts if isinstance(thread, Thread) else thread
        full = f"<@{BOT_USER_ID}> {text}"
        ts = await self.say(user, channel, full, thread_ts)
        event = {
            "type": "app_mention",
            "user": user_id(user),
            "text": full,
            "ts": ts,
            "event_ts": ts,
            "channel": channel,
            "team": self.team,
            **({"thread_ts": thread_ts} if thread_ts else {}),
        }
        return await self._event(event, user, channel, thread_ts or ts, ts, event_id, wait, wait_s)

    async def reply(
        self,
        user: str,
        text: str,
        thread: "Thread | str",
        channel: str = "C0OPS",
        *,
        mention: bool = False,
        wait: bool = True,
        wait_s: float = 60,
    ) -> Thread:
        """A reply in a thread with no @mention needed: the ``message`` event Slack sends for it.

        Like Slack, the event carries ``thread_ts`` and the thread's ``parent_user_id``; a reply
        that mentions the bot (``mention``) also sends the ``app_mention`` event.
        """
        thread_ts = thread.ts if isinstance(thread, Thread) else thread
        if not thread_ts:
            raise ValueError("a reply needs the thread's ts")
        uid = user_id(user)
        full = f"<@{BOT_USER_ID}> {text}" if mention else text
        ts = await self.say(user, channel, full, thread_ts)
        root = [m for m in await self.thread_messages(channel, thread_ts) if m.get("ts") == thread_ts]
        event = {
            "type": "message",
            "channel_type": "channel",
            "user": uid,
            "text": full,
            "ts": ts,
            "event_ts": ts,
            "thread_ts": thread_ts,
            "channel": channel,
            "team": self.team,
            **({"parent_user_id": root[0]["user"]} if root and root[0].get("user") else {}),
        }
        if mention:
            mentioned = {k: v for k, v in event.items() if k not in ("channel_type", "parent_user_id")}
            await self._deliver(
                "events_api", self.event_body({**mentioned, "type": "app_mention"}), "application/json"
            )
        return await self._event(event, user, channel, thread_ts, ts, None, wait, wait_s)

    async def dm(
        self, user: str, text: str, *, event_id: str | None = None, wait: bool = True, wait_s: float = 60
    ) -> Thread:
        """A direct message to the bot."""
        uid = user_id(user)
        channel = f"D{uid[1:]}"
        ts = await self.say(user, channel, text)
        event = {
            "type": "message",
            "channel_type": "im",
            "user": uid,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "channel": channel,
            "team": self.team,
        }
        return await self._event(event, user, channel, ts, ts, event_id, wait, wait_s)

    async def assistant_thread(self, user: str, *, viewing: str | None = None) -> str:
        """Open the assistant view as ``user`` (while viewing channel ``viewing``); the thread's ts."""
        uid = user_id(user)
        channel = f"D{uid[1:]}"
        ts = await self.say(user, channel, "")  # the thread Slack starts in the app's DM
        await self._assistant_event("assistant_thread_started", uid, channel, ts, viewing)
        return ts

    async def assistant_viewing(self, user: str, thread_ts: str, viewing: str) -> None:
        """The person switches to channel ``viewing`` with the assistant thread open."""
        uid = user_id(user)
        await self._assistant_event(
            "assistant_thread_context_changed", uid, f"D{uid[1:]}", thread_ts, viewing
        )

    async def _assistant_event(self, kind: str, uid: str, channel: str, ts: str, viewing: str | None) -> None:
        context = {"channel_id": viewing, "team_id": self.team} if viewing else {}
        event = {
            "type": kind,
            "assistant_thread": {"user_id": uid, "context": context, "channel_id": channel, "thread_ts": ts},
            "event_ts": f"{time.time():.6f}",
        }
        await self._deliver("events_api", self.event_body(event), "application/json")

    async def assistant_ask(self, user: str, thread_ts: str, text: str, *, wait_s: float = 60) -> Thread:
        """A question typed in an assistant thread (a DM thread, as Slack delivers it)."""
        uid = user_id(user)
        channel = f"D{uid[1:]}"
        ts = await self.say(user, channel, text, thread_ts)
        event = {
            "type": "message",
            "channel_type": "im",
            "user": uid,
            "text": text,
            "ts": ts,
            "thread_ts": thread_ts,
            "event_ts": ts,
            "channel": channel,
            "team": self.team,
        }
        return await self._event(event, user, channel, thread_ts, ts, None, True, wait_s)

    async def assistant(self) -> dict[str, Any]:
        """Loading states, prompts and titles of assistant threads, by ``channel:thread_ts``."""
        return dict((await self._get("/_stand-in/assistant"))["threads"])

    async def rate(self, user: str, thread: Thread, *, positive: bool, value: str | None = None) -> None:
        """Click the thumbs up or down of the newest answer in ``thread``."""
        await thread.refresh()
        for m in reversed(thread.messages):
            for block in m.get("blocks") or []:
                for e in block.get("elements") or [] if block.get("type") == "context_actions" else []:
                    if e.get("type") == "feedback_buttons":
                        button = e["positive_button" if positive else "negative_button"]
                        action = {
                            "type": "feedback_buttons",
                            "action_id": e["action_id"],
                            "block_id": block.get("block_id", ""),
                            "value": button["value"] if value is None else value,
                            "action_ts": f"{time.time():.6f}",
                        }
                        await self._block_action(user, action, message=m)
                        return
        raise LookupError("no feedback buttons in the thread")

    async def home_click(self, user: str, label: str) -> None:
        """Click a button of the App Home view the bot published for ``user``."""
        uid = user_id(user)
        view = (await self._get("/_stand-in/views"))["views"][uid]["view"]
        for block in view.get("blocks") or []:
            button = block.get("accessory") or {}
            if button.get("type") == "button" and (button.get("text") or {}).get("text") == label:
                action = {
                    "type": "button",
                    "action_id": button["action_id"],
                    "block_id": block.get("block_id", ""),
                    "value": button.get("value", ""),
                    "action_ts": f"{time.time():.6f}",
                }
                await self._block_action(user, action, view=view)
                return
        raise LookupError(f"no {label!r} button in the App Home view")

    async def _block_action(
        self,
        user: str,
        action: dict[str, Any],
        *,
        message: dict[str, Any] | None = None,
        view: dict[str, Any] | None = None,
    ) -> None:
        uid = user_id(user)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": uid, "username": user_name(uid), "name": user_name(uid), "team_id": self.team},
            "api_app_id": APP_ID,
            "token": "unused-verification-token",
            "trigger_id": f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:16]}",
            "team": {"id": self.team, "domain": "centralops-local"},
            "actions": [action],
        }
        if message is not None:
            payload["container"] = {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": message["channel"],
                "is_ephemeral": False,
            }
            payload["channel"] = {"id": message["channel"], "name": message["channel"].lower()}
            payload["message"] = message
            payload["response_url"] = f"{self.stand_in_url}/_response/{uuid.uuid4().hex}"
        else:
            payload["container"] = {"type": "view", "view_id": "VHOME"}
            payload["view"] = {**(view or {}), "id": "VHOME"}
        body = urlencode({"payload": json.dumps(payload)})
        await self._deliver("interactive", body, "application/x-www-form-urlencoded")

    async def _event(
        self,
        event: dict[str, Any],
        user: str,
        channel: str,
        thread_ts: str,
        since: str,
        event_id: str | None,
        wait: bool,
        wait_s: float,
    ) -> Thread:
        await self._deliver("events_api", self.event_body(event, event_id=event_id), "application/json")
        thread = Thread(self, channel, thread_ts, user_id(user), since)
        if wait:
            await self._wait(thread, wait_s)
        return thread

    async def click(
        self,
        user: str,
        thread: Thread,
        button: str,
        *,
        value: str | None = None,
        on: dict[str, Any] | None = None,
        wait: bool = True,
        wait_s: float = 60,
    ) -> Thread:
        """Click a button of ``thread`` (by label or action id) as ``user``.

        Args:
            user: Who clicks.
            thread: Where the button is (read again first, unless ``on`` is given).
            button: Label or action id of the button.
            value: A forged payload value instead of the button's own.
            on: A snapshot of a message as someone's screen still shows it (a stale card).
            wait: Wait for the outcome.
            wait_s: How long to wait.
        """
        if on is None:
            await thread.refresh()
            message, element = thread.button(button)
        else:
            message, element = Thread(self, thread.channel, thread.ts, thread.user, "", [on]).button(button)
        since = await self.now()
        uid = user_id(user)
        action = {
            "type": "button",
            "action_id": element["action_id"],
            "block_id": next(
                (
                    b.get("block_id", "")
                    for b in message.get("blocks", [])
                    if element in b.get("elements", [])
                ),
                "",
            ),
            "text": element.get("text"),
            "value": element.get("value", "") if value is None else value,
            "action_ts": f"{time.time():.6f}",
        }
        payload = {
            "type": "block_actions",
            "user": {"id": uid, "username": user_name(uid), "name": user_name(uid), "team_id": self.team},
            "api_app_id": APP_ID,
            "token": "unused-verification-token",
            "container": {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": message["channel"],
                "is_ephemeral": False,
            },
            "trigger_id": f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:16]}",
            "team": {"id": self.team, "domain": "centralops-local"},
            "channel": {"id": message["channel"], "name": message["channel"].lower()},
            "message": message,
            # A click's own response_url, bound to the clicked message (replace_original replaces it).
            "response_url": (
                f"{self.stand_in_url}/_response/{message['channel']}/{uid}/{uuid.uuid4().hex}"
                f"?source={message['ts']}"
            ),
            "actions": [action],
        }
        body = urlencode({"payload": json.dumps(payload)})
        await self._deliver("interactive", body, "application/x-www-form-urlencoded")
        after = Thread(self, thread.channel, thread.ts, uid, since)
        if wait:
            await self._wait(after, wait_s)
        return after

    async def open_home(self, user: str, *, wait_s: float = 30) -> dict[str, Any]:
        """Open the App Home tab; the view the bot published."""
        uid = user_id(user)
        body = self.event_body(
            {"type": "app_home_opened", "user": uid, "channel": f"D{uid[1:]}", "tab": "home"}
        )
        (await self.post(body, "application/json")).raise_for_status()
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            views = (await self._get("/_stand-in/views"))["views"]
            if uid in views:
                return dict(views[uid]["view"])
            await asyncio.sleep(0.05)
        raise TimeoutError("the bot did not publish an App Home view")

    async def _wait(self, thread: Thread, wait_s: float, *, find_parent: bool = False) -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if find_parent and thread.ts is None:
                for m in await self.channel_messages(thread.channel):
                    if (
                        not m.get("thread_ts")
                        and m.get("bot_id")
                        and _ts_key(m["ts"]) > _ts_key(thread.since)
                        and (
                            f"<@{thread.user}>" in m.get("text", "")
                            or (
                                m.get("via") == "response_url"
                                and m.get("response_to") == thread.user
                                and any(b.get("block_id") == ANSWER_EVENT for b in m.get("blocks") or [])
                            )
                        )
                    ):
                        thread.ts = m["ts"]
                        break
            await thread.refresh()
            if thread.finished:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no answer within {wait_s:.0f} s:\n{thread.render()}")
