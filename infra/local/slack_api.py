"""A local Slack Web API stand-in: the methods the bot calls, recorded and renderable.

``python -m infra.local.slack_api --port 5103`` serves ``/api/<method>`` the way
slack.com does (``{"ok": ...}`` bodies, bot-token check, ``429`` with
``Retry-After`` when told to), keeps every message, ephemeral message, view and
file, and exposes them under ``/_stand-in/...`` for the console, the demo and
the tests. The streaming methods can be switched off to exercise the fallback.

It is as strict as Slack where the bot could get it wrong:

- every payload is checked (:mod:`infra.local.payload_checks`): Block Kit
  models, documented limits, and text where data could become markup;
- a method needs its OAuth scope, and the token holds the bot scopes of the
  app manifest (``manifest.yml``), so a scope missing there fails here;
- channels can be private, group DMs, or public without the bot as a member
  (``POST /_stand-in/config {"channel": {...}}``): posting answers
  ``channel_not_found`` or ``not_in_channel`` as Slack does, unless the
  public channel is reachable with ``chat:write.public``;
- a slash command's ``response_url`` (``/_response/<channel>/<user>/<id>``)
  takes up to five messages, in the channel or only for the person.
"""

import argparse
import functools
import itertools
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml
from aiohttp import WSMsgType, web

from centralops import logs, settings
from infra.local import org
from infra.local.payload_checks import check_slack
from infra.local.payload_checks import record as record_check
from infra.local.text_table import render_table

logger = logging.getLogger("infra.local.slack_api")

BOT_USER_ID = "U0CENTRALOPS"
BOT_ID = "B0CENTRALOPS"
STREAM_METHODS = frozenset({"chat.startStream", "chat.appendStream", "chat.stopStream"})
STATE_KEY: web.AppKey["SlackState"] = web.AppKey("slack_state")
MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"
RESPONSE_URL_USES = 5

METHOD_SCOPES: dict[str, str | None] = {
    "auth.test": None,
    "apps.connections.open": None,
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.startStream": "chat:write",
    "chat.appendStream": "chat:write",
    "chat.stopStream": "chat:write",
    "views.publish": None,
    "views.open": None,
    "users.info": "users:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "conversations.replies": "channels:history",
    "conversations.open": "im:write",
    "assistant.threads.setStatus": "assistant:write",
    "assistant.threads.setSuggestedPrompts": "assistant:write",
    "assistant.threads.setTitle": "assistant:write",
}
"""The bot-token scope each Web API method needs (Slack's method reference, "Scopes")."""


def manifest_scopes(path: Path = MANIFEST) -> frozenset[str]:
    """The bot scopes the app manifest asks for."""
    manifest = yaml.safe_load(path.read_text())
    return frozenset(manifest["oauth_config"]["scopes"]["bot"])


@dataclass
class SlackState:
    """Everything the stand-in has been told, plus its switches.

    Attributes:
        token: The bot token every call must carry.
        streaming: Whether ``chat.*Stream`` methods exist.
        rate_limits: ``method -> [calls left to refuse, retry_after seconds, refuse until (epoch s)]``.
        failures: ``method -> [calls left to fail, error]`` (``ok: false`` with that error, nothing applied).
    """

    token: str
    app_token: str = ""
    team: str = org.SLACK_TEAM_ID
    streaming: bool = True
    base_url: str = ""
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ephemeral: list[dict[str, Any]] = field(default_factory=list)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    rate_limits: dict[str, list[float]] = field(default_factory=dict)
    failures: dict[str, list[Any]] = field(default_factory=dict)
    scopes: frozenset[str] = field(default_factory=manifest_scopes)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused_blocks: set[str] = field(default_factory=set)
    responses: dict[str, int] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    socket_acks: dict[str, Any] = field(default_factory=dict)
    assistant: dict[str, dict[str, Any]] = field(default_factory=dict)
    _seq: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))
    _epoch: int = field(default_factory=lambda: int(time.time()))

    def next_ts(self) -> str:
        """A new message timestamp, unique and increasing."""
        return f"{self._epoch}.{next(self._seq):06d}"

    def find(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The message ``ts`` in ``channel``."""
        return next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """A parent and its replies, oldest first."""
        return [m for m in self.messages.get(channel, []) if m["ts"] == ts or m.get("thread_ts") == ts]

    def reset(self) -> None:
        """Forget everything recorded."""
        self.messages.clear()
        self.ephemeral.clear()
        self.views.clear()
        self.files.clear()
        self.calls.clear()
        self.rate_limits.clear()
        self.failures.clear()
        self.channels.clear()
        self.responses.clear()
        self.problems.clear()
        self.assistant.clear()

    def check(self, where: str, method: str, args: dict[str, Any]) -> None:
        """Check one payload; keep and report what is wrong with it."""
        problems = check_slack(method, args)
        record_check("slack", f"{where} {method}", problems)
        if problems:
            logger.error("invalid payload", extra={"method": method, "problems": problems})
            self.problems.append({"method": method, "problems": problems})

    def reachable(self, channel: str) -> None:
        """Raise Slack's error when the bot cannot post in ``channel``."""
        info = self.channels.get(channel)
        if info is None or info.get("member", False):
            return
        if info.get("private") or info.get("mpim"):
            raise _Fail("channel_not_found")
        if "chat:write.public" not in self.scopes:
            raise _Fail("not_in_channel")


def _people() -> dict[str, org.Person]:
    return {p.slack_user_id: p for p in org.PEOPLE}


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


async def _args(request: web.Request) -> dict[str, Any]:
    args: dict[str, Any] = {k: v for k, v in request.query.items()}
    body = await request.read()
    if body:
        if request.content_type == "application/json":
            args.update(json.loads(body))
        else:
            args.update({k: v[-1] for k, v in parse_qs(body.decode()).items()})
    return {k: _maybe_json(v) for k, v in args.items()}


def _chunk_text(args: dict[str, Any]) -> str:
    text = str(args.get("markdown_text") or "")
    for chunk in args.get("chunks") or []:
        if isinstance(chunk, dict) and chunk.get("type") == "markdown_text":
            text += str(chunk.get("text", ""))
    return text


def _keep_tasks(message: dict[str, Any], args: dict[str, Any]) -> None:
    """Task cards and the plan title as Slack keeps them: the latest update of each task id."""
    chunks = _maybe_json(args.get("chunks")) or []
    for chunk in chunks if isinstance(chunks, list) else []:
        if not isinstance(chunk, dict):
            continue
        if chunk.get("type") == "plan_update":
            _need(chunk, "title")
            message["plan"] = str(chunk["title"])
        elif chunk.get("type") == "task_update":
            _need(chunk, "id", "title", "status")
            if chunk["status"] not in ("pending", "in_progress", "complete", "error"):
                raise _Fail("invalid_chunks")
            message.setdefault("tasks", {})[str(chunk["id"])] = chunk


class _Fail(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _need(args: dict[str, Any], *names: str) -> None:
    for name in names:
        if not args.get(name):
            raise _Fail(f"missing_{name}" if name != "channel" else "channel_not_found")


def _refuse_blocks(state: SlackState, args: dict[str, Any]) -> None:
    kinds = {b.get("type") for b in args.get("blocks") or [] if isinstance(b, dict)}
    if kinds & state.refused_blocks:
        raise _Fail("invalid_blocks")


def _post(state: SlackState, args: dict[str, Any], **extra: Any) -> dict[str, Any]:
    _need(args, "channel")
    channel = str(args["channel"])
    state.reachable(channel)
    _refuse_blocks(state, args)
    thread_ts = args.get("thread_ts") or None
    if thread_ts and state.find(channel, str(thread_ts)) is None:
        raise _Fail("thread_not_found")
    message = {
        "type": "message",
        "ts": state.next_ts(),
        "channel": channel,
        "thread_ts": str(thread_ts) if thread_ts else None,
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
        "text": str(args.get("text") or ""),
        "blocks": args.get("blocks") or [],
        "metadata": args.get("metadata"),
        "files": [],
        "edits": 0,
        **extra,
    }
    state.messages.setdefault(channel, []).append(message)
    return message


def _auth_test(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "url": "https://centralops-local.slack.com/",
        "team": "CentralOps local",
        "user": "centralops",
        "team_id": state.team,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": False,
    }


def _post_message(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    m = _post(state, args)
    return {"channel": m["channel"], "ts": m["ts"], "message": m}


def _update(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    _need(args, "channel", "ts")
    found = state.find(str(args["channel"]), str(args["ts"]))
    if found is None:
        raise _Fail("message_not_found")
    _refuse_blocks(state, args)
    m = found
    if m.get("stream") not in (None, "in_progress") and "blocks" in args:
        m.pop("stream")  # a finished or expired stream rewritten whole is a plain message now
    for key in ("text", "blocks", "metadata"):
        if key in args:
            m[key] = args[key]
    m["edits"] += 1
    return {"channel": m["channel"], "ts": m["ts"], "text": m["text"]}


def _delete(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    _need(args, "channel", "ts")
    gone = state.find(str(args["channel"]), str(args["ts"]))
    if gone is None:
        raise _Fail("message_not_found")
    state.messages[gone["channel"]].remove(gone)
    return {"channel": gone["channel"], "ts": gone["ts"]}


def _post_ephemeral(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    _need(args, "channel", "user")
    state.reachable(str(args["channel"]))
    e = {
        "ts": state.next_ts(),
        "channel": str(args["channel"]),
        "user": str(args["user"]),
        "thread_ts": args.get("thread_ts") or None,
        "text": str(args.get("text") or ""),
        "blocks": args.get("blocks") or [],
    }
    state.ephemeral.append(e)
    return {"message_ts": e["ts"]}


def _start_stream(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    _need(args, "channel", "thread_ts")
    if str(args["channel"])[:1] in "CG":
        _need(args, "recipient_team_id", "recipient_user_id")
    if args.get("task_display_mode") not in (None, "timeline", "plan"):
        raise _Fail("invalid_arguments")
    m = _post(state, args, stream="in_progress", text=_chunk_text(args))
    m["task_display_mode"] = args.get("task_display_mode") or "timeline"
    _keep_tasks(m, args)
    return {"channel": m["channel"], "ts": m["ts"]}


def _stream_chunk(state: SlackState, args: dict[str, Any], *, stop: bool) -> dict[str, Any]:
    _need(args, "channel", "ts")
    found = state.find(str(args["channel"]), str(args["ts"]))
    if found is None:
        raise _Fail("message_not_found")
    m = found
    if m.get("stream") != "in_progress":
        raise _Fail("message_not_in_streaming_state")
    m["text"] += _chunk_text(args)
    _keep_tasks(m, args)
    m["edits"] += 1
    if stop:
        m["stream"] = "completed"
        m["blocks"] = args.get("blocks") or m["blocks"]
        m["metadata"] = args.get("metadata") or m["metadata"]
    return {"channel": m["channel"], "ts": m["ts"]}


def _view(state: SlackState, args: dict[str, Any], *, method: str) -> dict[str, Any]:
    _need(args, "view")
    key = str(args.get("user_id") or args.get("trigger_id") or "")
    state.views[key] = {"view": args["view"], "method": method}
    return {"view": {"id": "V" + uuid.uuid4().hex[:10].upper(), **args["view"]}}


def _users_info(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    _need(args, "user")
    person = _people().get(str(args["user"]))
    if person is None:
        raise _Fail("user_not_found")
    profile = {"display_name": person.slack_name}
    if "users:read.email" in state.scopes:
        profile["email"] = person.email
    return {
        "user": {
            "id": person.slack_user_id,
            "team_id": state.team,
            "name": person.slack_name,
            "real_name": person.slack_name.capitalize(),
            "profile": profile,
        }
    }


def _upload_url(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    _need(args, "filename", "length")
    file_id = "F" + uuid.uuid4().hex[:10].upper()
    state.files[file_id] = {"id": file_id, "name": str(args["filename"]), "content": None}
    return {"upload_url": f"{state.base_url}/_upload/{file_id}", "file_id": file_id}


def _complete_upload(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    _need(args, "files")
    done = []
    for f in args["files"]:
        stored = state.files.get(str(f.get("id")))
        if stored is None or stored["content"] is None:
            raise _Fail("file_not_found")
        stored["title"] = f.get("title") or stored["name"]
        done.append({k: v for k, v in stored.items() if k != "content"})
    if args.get("channel_id"):
        _post(
            state,
            {
                "channel": args["channel_id"],
                "thread_ts": args.get("thread_ts"),
                "text": args.get("initial_comment"),
            },
            files=done,
        )
    return {"files": done}


def _open_conversation(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    _need(args, "users")
    users = str(args["users"]).split(",")
    if len(users) != 1 or _people().get(users[0]) is None:
        raise _Fail("user_not_found")
    return {"channel": {"id": "D" + users[0][1:], "is_im": True}}


def _assistant_thread(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    """An assistant thread's record as Slack keeps it: loading states, suggested prompts and title."""
    _need(args, "channel_id", "thread_ts")
    return state.assistant.setdefault(f"{args['channel_id']}:{args['thread_ts']}", {"statuses": []})


def _set_status(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    thread = _assistant_thread(state, args)
    if "status" not in args:
        raise _Fail("missing_status")
    thread["statuses"].append(str(args["status"]))
    return {}


def _set_suggested_prompts(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    thread = _assistant_thread(state, args)
    prompts = _maybe_json(args.get("prompts")) or []
    if not prompts or len(prompts) > 4 or any(not p.get("title") or not p.get("message") for p in prompts):
        raise _Fail("invalid_prompts")
    thread["prompts"], thread["prompts_title"] = prompts, args.get("title")
    return {}


def _set_title(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    thread = _assistant_thread(state, args)
    _need(args, "title")
    thread["title"] = str(args["title"])
    return {}


def _replies(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    _need(args, "channel", "ts")
    return {"messages": state.thread(str(args["channel"]), str(args["ts"])), "has_more": False}


Handler = Callable[[SlackState, dict[str, Any]], dict[str, Any]]
"""One Web API method: its arguments in, the fields of its ``ok`` answer out (``_Fail`` for an error)."""

HANDLERS: dict[str, Handler] = {
    "auth.test": _auth_test,
    "chat.postMessage": _post_message,
    "chat.update": _update,
    "chat.delete": _delete,
    "chat.postEphemeral": _post_ephemeral,
    "chat.startStream": _start_stream,
    "chat.appendStream": functools.partial(_stream_chunk, stop=False),
    "chat.stopStream": functools.partial(_stream_chunk, stop=True),
    "views.publish": functools.partial(_view, method="views.publish"),
    "views.open": functools.partial(_view, method="views.open"),
    "users.info": _users_info,
    "files.getUploadURLExternal": _upload_url,
    "files.completeUploadExternal": _complete_upload,
    "conversations.replies": _replies,
    "conversations.open": _open_conversation,
    "assistant.threads.setStatus": _set_status,
    "assistant.threads.setSuggestedPrompts": _set_suggested_prompts,
    "assistant.threads.setTitle": _set_title,
}
"""The Web API methods the stand-in answers, by name."""


def _method(state: SlackState, method: str, args: dict[str, Any]) -> dict[str, Any]:
    handler = HANDLERS.get(method)
    if handler is None or (method in STREAM_METHODS and not state.streaming):
        raise _Fail("unknown_method")
    return handler(state, args)


def _authorized(state: SlackState, request: web.Request, args: dict[str, Any], expected: str) -> bool:
    header = request.headers.get("Authorization", "")
    token = (
        header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else str(args.get("token", ""))
    )
    return bool(token) and token == expected


async def api(request: web.Request) -> web.Response:
    """``/api/<method>``: check the token, maybe rate-limit, run the method, record the call."""
    state = request.app[STATE_KEY]
    method = request.match_info["method"]
    args = await _args(request)
    record: dict[str, Any] = {
        "method": method,
        "time": time.time(),
        "channel": args.get("channel") or args.get("channel_id"),
    }
    state.calls.append(record)
    limit = state.rate_limits.get(method)
    if limit and (limit[0] > 0 or time.time() < limit[2]):
        limit[0] -= 1
        record.update(status=429, ok=False)
        return web.json_response(
            {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(int(limit[1]))}
        )
    failure = state.failures.get(method)
    if failure and failure[0] > 0:
        failure[0] -= 1
        record.update(status=200, ok=False, error=failure[1])
        return web.json_response({"ok": False, "error": failure[1]})
    if method == "apps.connections.open":
        if not state.app_token or not _authorized(state, request, args, state.app_token):
            record.update(status=200, ok=False, error="invalid_auth")
            return web.json_response({"ok": False, "error": "invalid_auth"})
        record.update(status=200, ok=True)
        return web.json_response({"ok": True, "url": state.base_url.replace("http", "ws", 1) + "/_socket"})
    if not _authorized(state, request, args, state.token):
        record.update(status=200, ok=False, error="invalid_auth")
        return web.json_response({"ok": False, "error": "invalid_auth"})
    needed = METHOD_SCOPES.get(method, "")
    if needed is None or needed in state.scopes:
        state.check("api", method, args)
    else:
        error = "unknown_method" if needed == "" else "missing_scope"
        record.update(status=200, ok=False, error=error, needed=needed)
        return web.json_response({"ok": False, "error": error, "needed": needed})
    try:
        result = _method(state, method, args)
    except _Fail as f:
        record.update(status=200, ok=False, error=f.error)
        return web.json_response({"ok": False, "error": f.error})
    record.update(status=200, ok=True, ts=result.get("ts"))
    return web.json_response({"ok": True, **result})


async def response_url(request: web.Request) -> web.Response:
    """A slash command's or a click's ``response_url``: up to five messages, in the channel or for the
    person only; a click's (``?source=<clicked ts>``) may also replace or delete the clicked message."""
    state = request.app[STATE_KEY]
    channel, user, key = (request.match_info[k] for k in ("channel", "user", "key"))
    body = await request.json()
    state.calls.append({"method": "response_url", "time": time.time(), "channel": channel, "ok": True})
    uses = state.responses.get(key, 0)
    if uses >= RESPONSE_URL_USES:
        return web.Response(status=404, text="used_url")
    state.responses[key] = uses + 1
    state.check("response_url", "response_url", body)
    source = request.query.get("source")  # a click's response_url knows the clicked message
    if source and (body.get("replace_original") or body.get("delete_original")):
        shown = state.messages.get(channel, [])
        original = next((m for m in shown if m["ts"] == source), None)
        if original is None:
            return web.Response(status=404, text="message_not_found")
        if body.get("delete_original"):
            shown.remove(original)
        else:
            original.update(text=str(body.get("text") or ""), blocks=body.get("blocks") or [])
            original["edits"] = original.get("edits", 0) + 1
        return web.Response(text="ok")
    message = {
        "ts": state.next_ts(),
        "channel": channel,
        "thread_ts": None,
        "text": str(body.get("text") or ""),
        "blocks": body.get("blocks") or [],
        "via": "response_url",
        "response_to": user,
    }
    if body.get("response_type") == "in_channel":
        message.update(type="message", user=BOT_USER_ID, bot_id=BOT_ID, metadata=None, files=[], edits=0)
        state.messages.setdefault(channel, []).append(message)
    else:
        state.ephemeral.append({**message, "user": user})
    return web.Response(text="ok")


async def upload(request: web.Request) -> web.Response:
    """The upload URL handed out by ``files.getUploadURLExternal``."""
    state = request.app[STATE_KEY]
    stored = state.files.get(request.match_info["file_id"])
    if stored is None:
        return web.Response(status=404, text="unknown upload")
    stored["content"] = (await request.read()).decode("utf-8", "replace")
    state.calls.append({"method": "files.upload", "time": time.time(), "status": 200, "ok": True})
    return web.Response(text=f"OK - {len(stored['content'])}")


async def inspect_messages(request: web.Request) -> web.Response:
    """``GET /_stand-in/messages?channel=C``: every message of a channel (all channels when omitted)."""
    state = request.app[STATE_KEY]
    channel = request.query.get("channel")
    msgs = state.messages.get(channel, []) if channel else [m for ms in state.messages.values() for m in ms]
    return web.json_response({"messages": msgs})


async def inspect_thread(request: web.Request) -> web.Response:
    """``GET /_stand-in/thread?channel=C&ts=T``: a parent and its replies."""
    state = request.app[STATE_KEY]
    return web.json_response({"messages": state.thread(request.query["channel"], request.query["ts"])})


async def inspect_ephemeral(request: web.Request) -> web.Response:
    """``GET /_stand-in/ephemeral?user=U``: private messages shown to one person."""
    state = request.app[STATE_KEY]
    user = request.query.get("user")
    return web.json_response({"messages": [e for e in state.ephemeral if not user or e["user"] == user]})


async def inspect_assistant(request: web.Request) -> web.Response:
    """Loading states, suggested prompts and titles of assistant threads (``channel:thread_ts`` keys)."""
    return web.json_response({"threads": request.app[STATE_KEY].assistant})


async def inspect_views(request: web.Request) -> web.Response:
    """``GET /_stand-in/views``: published App Home views by user."""
    return web.json_response({"views": request.app[STATE_KEY].views})


async def inspect_files(request: web.Request) -> web.Response:
    """``GET /_stand-in/files``: uploaded files with their content."""
    return web.json_response({"files": list(request.app[STATE_KEY].files.values())})


async def inspect_calls(request: web.Request) -> web.Response:
    """``GET /_stand-in/calls?method=M``: recorded API calls with timestamps, and counts per method."""
    state = request.app[STATE_KEY]
    method = request.query.get("method")
    calls = [c for c in state.calls if not method or c["method"] == method]
    counts: dict[str, int] = {}
    for c in state.calls:
        counts[c["method"]] = counts.get(c["method"], 0) + 1
    return web.json_response({"calls": calls, "counts": counts})


async def inspect_problems(request: web.Request) -> web.Response:
    """``GET /_stand-in/problems``: payloads that failed the checks."""
    return web.json_response({"problems": request.app[STATE_KEY].problems})


async def configure(request: web.Request) -> web.Response:
    """``POST /_stand-in/config``.

    Body: ``{"streaming": bool, "rate_limit": {"method", "count", "retry_after", "seconds"},
    "fail": {"method", "count", "error"}, "expire_streams": bool, "reset": bool,
    "channel": {"id", "private", "mpim", "member"}, "scopes": [...], "refuse_blocks": [block types]}``.
    """
    state = request.app[STATE_KEY]
    body = await request.json()
    if body.get("reset"):
        state.reset()
    if "streaming" in body:
        state.streaming = bool(body["streaming"])
    if ch := body.get("channel"):
        state.channels[str(ch["id"])] = {k: bool(ch.get(k)) for k in ("private", "mpim", "member")}
    if "scopes" in body:
        state.scopes = frozenset(body["scopes"])
    if "refuse_blocks" in body:
        state.refused_blocks = set(body["refuse_blocks"])
    if rl := body.get("rate_limit"):
        # ``count`` refusals, or every call for ``seconds`` from now (a sustained limit).
        until = time.time() + float(rl.get("seconds", 0))
        count = int(rl.get("count", 0 if "seconds" in rl else 1))
        state.rate_limits[str(rl["method"])] = [count, int(rl.get("retry_after", 1)), until]
    if body.get("expire_streams"):
        # As Slack does with a stream left open too long: later stream calls on it fail.
        for messages in state.messages.values():
            for m in messages:
                if m.get("stream") == "in_progress":
                    m["stream"] = "expired"
    if fail := body.get("fail"):
        state.failures[str(fail["method"])] = [
            int(fail.get("count", 1)),
            str(fail.get("error", "internal_error")),
        ]
    return web.json_response({"ok": True, "streaming": state.streaming})


async def user_message(request: web.Request) -> web.Response:
    """``POST /_stand-in/user_message``: a person's message (``channel``, ``user``, ``text``, ``thread_ts``?).

    The console records what a person "types" here, so the rendered thread shows it
    and the event it sends carries the same ``ts``.
    """
    state = request.app[STATE_KEY]
    body = await request.json()
    channel = str(body["channel"])
    message: dict[str, Any] = {
        "type": "message",
        "ts": state.next_ts(),
        "channel": channel,
        "thread_ts": body.get("thread_ts") or None,
        "user": str(body["user"]),
        "text": str(body.get("text", "")),
        "blocks": [],
        "metadata": None,
        "files": [],
        "edits": 0,
    }
    state.messages.setdefault(channel, []).append(message)
    return web.json_response({"ok": True, "ts": message["ts"], "message": message})


async def socket(request: web.Request) -> web.WebSocketResponse:
    """The Socket Mode WebSocket handed out by ``apps.connections.open``: hello, envelopes out, acks in."""
    state = request.app[STATE_KEY]
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    state.sockets.append(ws)
    await ws.send_json(
        {"type": "hello", "num_connections": len(state.sockets), "connection_info": {"app_id": "A0"}}
    )
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                data = json.loads(message.data)
                if "envelope_id" in data:
                    state.socket_acks[str(data["envelope_id"])] = {
                        "payload": data.get("payload"),
                        "time": time.time(),
                    }
    finally:
        state.sockets.remove(ws)
    return ws


async def socket_send(request: web.Request) -> web.Response:
    """``POST /_stand-in/socket/send``: ``{"type": "slash_commands"|"events_api"|"interactive", "payload"}``."""
    state = request.app[STATE_KEY]
    body = await request.json()
    if not state.sockets:
        return web.json_response({"ok": False, "error": "no socket mode connection"}, status=409)
    envelope_id = uuid.uuid4().hex
    await state.sockets[-1].send_json(
        {
            "envelope_id": envelope_id,
            "type": body["type"],
            "payload": body["payload"],
            "accepts_response_payload": body["type"] != "events_api",
            "retry_attempt": int(body.get("retry_attempt", 0)),
            "retry_reason": "",
        }
    )
    return web.json_response({"ok": True, "envelope_id": envelope_id})


async def socket_acks(request: web.Request) -> web.Response:
    """``GET /_stand-in/socket/acks``: acknowledged envelopes and what came back with them."""
    state = request.app[STATE_KEY]
    return web.json_response({"acks": state.socket_acks, "connections": len(state.sockets)})


async def now(request: web.Request) -> web.Response:
    """``GET /_stand-in/now``: a fresh timestamp; everything recorded later sorts after it."""
    return web.json_response({"ts": request.app[STATE_KEY].next_ts()})


async def health(_: web.Request) -> web.Response:
    """``GET /health``."""
    return web.json_response({"status": "ok"})


_EMOJI = {
    ":rotating_light:": "🚨",
    ":white_check_mark:": "✓",
    ":x:": "✗",
    ":hourglass_flowing_sand:": "…",
    ":warning:": "⚠",
    ":no_entry:": "⛔",
}
_MENTION_RE = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL_RE = re.compile(r"<#([CG][A-Z0-9]+)(?:\|[^>]*)?>")


def _plain(text: str) -> str:
    names = {p.slack_user_id: p.slack_name for p in org.PEOPLE}
    text = _MENTION_RE.sub(
        lambda m: "@" + names.get(m.group(1), "centralops" if m.group(1) == BOT_USER_ID else m.group(1)), text
    )
    text = _CHANNEL_RE.sub(lambda m: "#" + m.group(1), text)
    for code, glyph in _EMOJI.items():
        text = text.replace(code, glyph)
    # What Slack shows for the escaped control characters (and nothing else is decoded).
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _block_lines(block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind in ("section", "header"):
        lines = str((block.get("text") or {}).get("text", "")).splitlines() or [""]
        button = block.get("accessory") or {}
        if button.get("type") == "button":
            lines[-1] += f"  [{(button.get('text') or {}).get('text', '?')}]"
        return lines
    if kind == "markdown":
        return str(block.get("text", "")).splitlines()
    if kind == "context":
        return [" ".join(str(e.get("text", "")) for e in block.get("elements", []))]
    if kind == "actions":
        return ["  ".join(f"[{(e.get('text') or {}).get('text', '?')}]" for e in block.get("elements", []))]
    if kind == "context_actions":
        return [
            "  ".join(
                "[👍] [👎]" if e.get("type") == "feedback_buttons" else "[…]"
                for e in block.get("elements", [])
            )
        ]
    if kind == "divider":
        return ["─" * 20]
    if kind == "rich_text":
        return [_cell_text(block)]
    if kind == "table":
        # Slack draws the table block as a grid; the first row is the header.
        rows = [[_cell_text(c) for c in row] for row in block.get("rows") or []]
        return render_table(rows).splitlines()
    return []


def _cell_text(cell: dict[str, Any]) -> str:
    if cell.get("type") == "rich_text":
        return "".join(
            str(e.get("text", ""))
            for section in cell.get("elements") or []
            for e in section.get("elements") or []
        )
    return str(cell.get("text", ""))


def render_message(message: dict[str, Any]) -> list[str]:
    """The lines Slack would show for one message."""
    names = {p.slack_user_id: p.slack_name for p in org.PEOPLE}
    who = (
        "CentralOps"
        if message.get("bot_id")
        else names.get(str(message.get("user")), str(message.get("user")))
    )
    lines: list[str] = []
    if message.get("plan"):
        lines.append(f"▸ {message['plan']}")
    for t in (message.get("tasks") or {}).values():
        icon = {"complete": "✓", "error": "✗"}.get(t["status"], "⏳")
        parts = [t["title"], t.get("details"), t.get("output")]
        lines.append(f"{icon} " + " · ".join(str(p) for p in parts if p))
    if message.get("stream") or not message.get("blocks"):
        lines.extend(str(message.get("text") or "").splitlines())
        tail = [
            ln
            for b in message.get("blocks") or []
            if b.get("type") in ("actions", "context_actions")
            for ln in _block_lines(b)
        ]
        lines.extend(tail)
    body = [part for ln in lines for part in _plain(ln).split("\n")]
    if not message.get("stream") and message.get("blocks"):
        for block in message["blocks"]:
            if block.get("type") == "table":
                body.extend(_block_lines(block))  # raw_text and rich text cells: shown as written
            else:
                body.extend(part for ln in _block_lines(block) for part in _plain(ln).split("\n"))
    for f in message.get("files") or []:
        body.append(_plain(f"📎 {f.get('title') or f.get('name')} ({f.get('name')})"))
    if message.get("stream") == "in_progress":
        body.append("▍ (still streaming)")
    body = body or [""]
    return [f"{who}: {body[0]}", *(f"    {ln}" for ln in body[1:])]


def render_thread(messages: list[dict[str, Any]], *, ephemeral: list[dict[str, Any]] | None = None) -> str:
    """What Slack would show for a thread (parent first, replies indented), then private messages.

    Args:
        messages: A parent and its replies, as ``/_stand-in/thread`` returns them.
        ephemeral: Private messages to show after the thread ("only visible to you").
    """
    out: list[str] = []
    for i, message in enumerate(messages):
        lines = render_message(message)
        prefix = "" if i == 0 and not message.get("thread_ts") else "  └ " if i else ""
        out.append(prefix + lines[0])
        out.extend(("    " if prefix else "") + ln for ln in lines[1:])
    for e in ephemeral or []:
        lines = render_message({**e, "bot_id": BOT_ID})
        out.append("(only visible to you) " + lines[0])
        out.extend(lines[1:])
    return "\n".join(out)


def build_app(
    token: str, *, streaming: bool = True, base_url: str = "", app_token: str = ""
) -> web.Application:
    """The stand-in as an aiohttp application.

    Args:
        token: The bot token calls must carry.
        app_token: The app-level token ``apps.connections.open`` accepts (Socket Mode); none when empty.
        streaming: Whether the ``chat.*Stream`` methods exist at start.
        base_url: This server's own URL (for upload URLs); set later when unknown.
    """
    app = web.Application()
    app[STATE_KEY] = SlackState(token=token, app_token=app_token, streaming=streaming, base_url=base_url)
    app.router.add_route("*", "/api/{method}", api)
    app.router.add_post("/_upload/{file_id}", upload)
    app.router.add_post("/_response/{channel}/{user}/{key}", response_url)
    app.router.add_get("/_stand-in/problems", inspect_problems)
    app.router.add_get("/_stand-in/messages", inspect_messages)
    app.router.add_get("/_stand-in/thread", inspect_thread)
    app.router.add_get("/_stand-in/ephemeral", inspect_ephemeral)
    app.router.add_get("/_stand-in/views", inspect_views)
    app.router.add_get("/_stand-in/assistant", inspect_assistant)
    app.router.add_get("/_stand-in/files", inspect_files)
    app.router.add_get("/_stand-in/calls", inspect_calls)
    app.router.add_post("/_stand-in/config", configure)
    app.router.add_post("/_stand-in/user_message", user_message)
    app.router.add_get("/_stand-in/now", now)
    app.router.add_get("/_socket", socket)
    app.router.add_post("/_stand-in/socket/send", socket_send)
    app.router.add_get("/_stand-in/socket/acks", socket_acks)
    app.router.add_get("/health", health)
    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the stand-in on loopback."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5103)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token", default=None, help=f"bot token (default: ${settings.SLACK_BOT_TOKEN})")
    parser.add_argument(
        "--app-token", default=None, help=f"app-level token (default: ${settings.SLACK_APP_TOKEN})"
    )
    parser.add_argument("--no-streaming", action="store_true", help="answer chat.*Stream with unknown_method")
    args = parser.parse_args(argv)
    logs.configure()
    token = args.token or os.environ.get(settings.SLACK_BOT_TOKEN, "")
    if not token:
        parser.error(f"give --token or set {settings.SLACK_BOT_TOKEN}")
    app_token = args.app_token or os.environ.get(settings.SLACK_APP_TOKEN, "")
    base_url = f"http://{args.host}:{args.port}"
    app = build_app(token, streaming=not args.no_streaming, base_url=base_url, app_token=app_token)
    logger.info(
        "slack web api stand-in listening", extra={"port": args.port, "streaming": not args.no_streaming}
    )
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
