"""A local stand-in for the Bot Framework Connector that Teams runs at an activity's ``serviceUrl``.

It implements the REST endpoints the Microsoft 365 Agents SDK calls when the
bot answers — send, reply, update, create conversation — with Teams'
streaming protocol (``typing`` activities carrying a ``streaminfo`` entity,
one stream id, a final ``message``; refused outside 1:1 chats, as Teams does)
and targeted messages (``?isTargetedActivity=true``). It records everything
and shows it back:

- ``GET /_stand-in/activities?conversation=…`` every call, in order;
- ``GET /_stand-in/messages?conversation=…`` what people see now (updates
  applied, streams collapsed into their final message).

A fault switch (``POST /_stand-in/config`` with ``rate_limit``) refuses a method
(``send``, ``update`` or ``delete``) with HTTP 429 (or 503) and ``Retry-After``
for a number of calls or seconds, as the Connector does under load.

Members (``GET …/members/{id}``) are the people of ``infra/local/org.py``.

Every activity the bot sends or updates is checked
(:mod:`infra.local.payload_checks`: the Adaptive Card 1.5 schema, Teams'
UTF-16 message size, no markdown-readable data in card text, a plain-text
notification summary on every message); problems are
listed at ``GET /_stand-in/problems``.

Run: ``python -m infra.local.teams_connector --port 5105`` (``GET /health``).
"""

import argparse
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from infra.local import onedrive, org
from infra.local.payload_checks import check_teams, record, teams_notification

logger = logging.getLogger("infra.local.teams_connector")

STREAM_LIMIT_S = 120.0
"""Teams ends a stream two minutes after it started."""
STREAM_TIMED_OUT = {
    "error": {
        "code": "ContentStreamNotAllowed",
        "message": "Content stream finished due to exceeded streaming time.",
    }
}
STREAM_STOPPED = {
    "error": {"code": "ContentStreamNotAllowed", "message": "Content stream was cancelled by user."}
}
STREAMING_REFUSED = {
    "error": {"code": "BadArgument", "message": "Streaming api is not enabled for this conversation."}
}


def _stream_info(activity: dict[str, Any]) -> dict[str, Any] | None:
    for entity in activity.get("entities") or []:
        if isinstance(entity, dict) and str(entity.get("type", "")).lower() == "streaminfo":
            return entity
    return None


def is_personal(conversation_id: str) -> bool:
    """Teams' 1:1 conversation ids start with ``a:``; channels and group chats with ``19:``."""
    return conversation_id.startswith("a:")


@dataclass
class Message:
    """One message as people see it."""

    id: str
    conversation: str
    activity: dict[str, Any]
    reply_to: str | None = None
    targeted_to: str | None = None
    versions: int = 1
    streamed: bool = False
    final: bool = True

    def view(self) -> dict[str, Any]:
        """The JSON shape of ``/_stand-in/messages``."""
        return {
            "id": self.id,
            "conversation": self.conversation,
            "reply_to": self.reply_to,
            "targeted_to": self.targeted_to,
            "versions": self.versions,
            "streamed": self.streamed,
            "final": self.final,
            "text": self.activity.get("text") or "",
            "summary": self.activity.get("summary") or "",
            "attachments": self.activity.get("attachments") or [],
            "entities": [e for e in self.activity.get("entities") or [] if e.get("type") != "streaminfo"],
            "channelData": self.activity.get("channelData") or {},
        }


@dataclass
class Connector:
    """What the stand-in holds: every call and the resulting messages."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    messages: dict[str, Message] = field(default_factory=dict)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    stream_limit_s: float = STREAM_LIMIT_S
    stopped: set[str] = field(default_factory=set)  # 1:1 chats whose person pressed Teams' Stop
    stream_started: dict[str, float] = field(default_factory=dict)
    rate_limits: dict[str, dict[str, float]] = field(default_factory=dict)
    """method -> ``{"count": calls left to refuse, "until": monotonic end, "retry_after": s, "status": 429}``."""
    started: float = field(default_factory=time.monotonic)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def check(self, op: str, activity: dict[str, Any], files: list[str] | None = None) -> None:
        """Check one activity (and the problems of its file cards); keep and report what is wrong."""
        problems = check_teams(activity) + teams_notification(activity) + (files or [])
        record("teams", f"{op} {activity.get('type')}", problems)
        if problems:
            logger.error("invalid activity", extra={"op": op, "problems": problems})
            self.problems.append({"op": op, "problems": problems})

    def refusal(self, method: str, conversation: str, activity: dict[str, Any]) -> web.Response | None:
        """The fault switch: a 429 (or 503) with ``Retry-After`` while ``method`` is being refused."""
        limit = self.rate_limits.get(method)
        if limit is None:
            return None
        counted, timed = limit["count"] > 0, time.monotonic() < limit["until"]
        if not (counted or timed):
            del self.rate_limits[method]
            return None
        if counted:
            limit["count"] -= 1
        status = int(limit["status"])
        self.record("refused", conversation, activity, method=method, status=status, reason="rate limited")
        return web.json_response(
            {
                "error": {
                    "code": "Throttled" if status == 429 else "ServiceUnavailable",
                    "message": "Try later.",
                }
            },
            status=status,
            headers={"Retry-After": str(int(limit["retry_after"]))},
        )

    def new_id(self) -> str:
        """A message id shaped like Teams' (epoch milliseconds)."""
        return str(1_700_000_000_000 + next(self._ids))

    def record(self, op: str, conversation: str, activity: dict[str, Any], **extra: Any) -> None:
        """Keep one call, with the time it arrived."""
        self.calls.append(
            {
                "op": op,
                "conversation": conversation,
                "at": round(time.monotonic() - self.started, 4),
                "type": activity.get("type"),
                "activity": activity,
                **extra,
            }
        )

    def post(self, conversation: str, activity: dict[str, Any], reply_to: str | None, targeted: bool) -> str:
        """A new activity from the bot; returns the id Teams would give it."""
        info = _stream_info(activity)
        recipient = (activity.get("recipient") or {}).get("id")
        if info is not None:
            stream_id = info.get("streamId") or activity.get("id")
            if stream_id and stream_id in self.messages:
                message = self.messages[stream_id]
                message.activity = activity
                message.versions += 1
                message.final = info.get("streamType") == "final" or activity.get("type") == "message"
                return stream_id
            new = self.new_id()
            self.messages[new] = Message(
                new, conversation, activity, reply_to, streamed=True, final=activity.get("type") == "message"
            )
            self.stream_started[new] = time.monotonic()
            return new
        if activity.get("type") != "message":
            return self.new_id()  # plain typing indicators and the like are not messages
        new = self.new_id()
        self.messages[new] = Message(new, conversation, activity, reply_to, recipient if targeted else None)
        return new


CONNECTOR: web.AppKey[Connector] = web.AppKey("connector", Connector)


async def _activity_body(request: web.Request) -> dict[str, Any]:
    body = await request.json()
    if not isinstance(body, dict) or "type" not in body:
        raise web.HTTPBadRequest(text='{"error": {"code": "BadSyntax", "message": "activity expected"}}')
    return body


async def send(request: web.Request) -> web.Response:
    """``POST /v3/conversations/{id}/activities`` and ``…/activities/{activityId}`` (reply)."""
    connector = request.app[CONNECTOR]
    conversation = request.match_info["conversation"]
    reply_to = request.match_info.get("activity")
    activity = await _activity_body(request)
    if (refusal := connector.refusal("send", conversation, activity)) is not None:
        return refusal
    targeted = request.query.get("isTargetedActivity") == "true"
    if (
        _stream_info(activity) is not None
        and activity.get("type") == "typing"
        and not is_personal(conversation)
    ):
        connector.record("refused", conversation, activity, reason="streaming outside a 1:1 chat")
        return web.json_response(STREAMING_REFUSED, status=400)
    info = _stream_info(activity)
    stream_id = (info or {}).get("streamId") or activity.get("id")
    started = connector.stream_started.get(str(stream_id)) if info is not None else None
    if info is not None and conversation in connector.stopped:
        # The person pressed Stop on the streaming message: Teams refuses the rest of that stream.
        connector.record("refused", conversation, activity, reason="stream stopped by the person")
        return web.json_response(STREAM_STOPPED, status=403)
    if info is None:
        connector.stopped.discard(conversation)  # the next answer streams again
    if started is not None and time.monotonic() - started > connector.stream_limit_s:
        connector.record("refused", conversation, activity, reason="stream older than the two-minute limit")
        return web.json_response(STREAM_TIMED_OUT, status=403)
    connector.check(
        "send", activity, onedrive.check_file_cards(request.app[onedrive.DRIVE], conversation, activity)
    )
    new = connector.post(conversation, activity, reply_to, targeted)
    connector.record(
        "reply" if reply_to else "send",
        conversation,
        activity,
        id=new,
        reply_to=reply_to,
        targeted=targeted,
        authorized=bool(request.headers.get("Authorization")),
    )
    return web.json_response({"id": new}, status=201)


async def update(request: web.Request) -> web.Response:
    """``PUT /v3/conversations/{id}/activities/{activityId}``: replace a message."""
    connector = request.app[CONNECTOR]
    conversation = request.match_info["conversation"]
    activity_id = request.match_info["activity"]
    activity = await _activity_body(request)
    if (refusal := connector.refusal("update", conversation, activity)) is not None:
        return refusal
    message = connector.messages.get(activity_id)
    if message is None or message.conversation.split(";")[0] != conversation.split(";")[0]:
        connector.record("refused", conversation, activity, reason="unknown activity", id=activity_id)
        return web.json_response(
            {"error": {"code": "NotFound", "message": "The activity does not exist."}}, status=404
        )
    connector.check("update", activity)
    message.activity = activity
    message.versions += 1
    connector.record("update", conversation, activity, id=activity_id)
    return web.json_response({"id": activity_id})


async def delete(request: web.Request) -> web.Response:
    """``DELETE /v3/conversations/{id}/activities/{activityId}``: remove a message."""
    connector = request.app[CONNECTOR]
    conversation = request.match_info["conversation"]
    activity_id = request.match_info["activity"]
    if (refusal := connector.refusal("delete", conversation, {})) is not None:
        return refusal
    message = connector.messages.get(activity_id)
    if message is None or message.conversation.split(";")[0] != conversation.split(";")[0]:
        return web.json_response(
            {"error": {"code": "NotFound", "message": "The activity does not exist."}}, status=404
        )
    del connector.messages[activity_id]
    connector.record("delete", conversation, {}, id=activity_id)
    return web.Response(status=200)


async def configure(request: web.Request) -> web.Response:
    """``POST /_stand-in/config``: ``{"stream_limit_s": seconds}`` (a scaled-down Teams),
    ``{"stop_stream": conversation id}`` (the person presses Stop on the message streaming there), or
    ``{"rate_limit": {"method": "send"|"update"|"delete", "count": n, "seconds": s, "retry_after": s,
    "status": 429|503}}`` (refuse the method's next ``n`` calls, or all of them for ``s`` seconds)."""
    body = await request.json()
    if rl := body.get("rate_limit"):
        request.app[CONNECTOR].rate_limits[str(rl["method"])] = {
            "count": float(rl.get("count", 0)),
            "until": time.monotonic() + float(rl.get("seconds", 0)),
            "retry_after": float(rl.get("retry_after", 1)),
            "status": float(rl.get("status", 429)),
        }
    if "stop_stream" in body:
        connector = request.app[CONNECTOR]
        connector.stopped.add(str(body["stop_stream"]))
        for message in connector.messages.values():
            if message.conversation == body["stop_stream"] and message.streamed and not message.final:
                message.final = True  # Teams shows what streamed so far as the message, stopped
    if "stream_limit_s" in body:
        request.app[CONNECTOR].stream_limit_s = float(body["stream_limit_s"])
    return web.json_response({"ok": True})


async def problems(request: web.Request) -> web.Response:
    """Activities that failed the checks."""
    return web.json_response({"problems": request.app[CONNECTOR].problems})


async def create_conversation(request: web.Request) -> web.Response:
    """``POST /v3/conversations``: a new 1:1 chat with a member."""
    connector = request.app[CONNECTOR]
    body = await request.json()
    members = body.get("members") or [{}]
    conversation = f"a:1on1-{members[0].get('id', 'unknown')}"
    connector.conversations.append(body)
    connector.record("create", conversation, body.get("activity") or {})
    return web.json_response({"id": conversation, "activityId": connector.new_id()}, status=201)


async def member(request: web.Request) -> web.Response:
    """``GET /v3/conversations/{id}/members/{memberId}``: a person of the demo organisation."""
    connector = request.app[CONNECTOR]
    member_id = request.match_info["member"]
    connector.record("member", request.match_info["conversation"], {}, member=member_id)
    for person in org.PEOPLE:
        if person.teams_aad_id and member_id in (f"29:{person.teams_aad_id}", person.teams_aad_id):
            return web.json_response(
                {
                    "id": f"29:{person.teams_aad_id}",
                    "name": person.slack_name.capitalize(),
                    "aadObjectId": person.teams_aad_id,
                    "email": person.email,
                    "userPrincipalName": person.email,
                    "tenantId": org.TEAMS_TENANT_ID,
                    "userRole": "user",
                }
            )
    return web.json_response(
        {
            "error": {
                "code": "MemberNotFoundInConversation",
                "message": "The member is not in the conversation.",
            }
        },
        status=404,
    )


def _conversation_filter(request: web.Request) -> str | None:
    return request.query.get("conversation")


def _matches(conversation: str, wanted: str | None) -> bool:
    return wanted is None or conversation == wanted or conversation.split(";")[0] == wanted


async def activities(request: web.Request) -> web.Response:
    """Every recorded call, optionally of one conversation (a channel matches all its threads)."""
    wanted = _conversation_filter(request)
    calls = [c for c in request.app[CONNECTOR].calls if _matches(c["conversation"], wanted)]
    return web.json_response({"activities": calls})


async def messages(request: web.Request) -> web.Response:
    """The messages as they look now, in the order they were first posted."""
    wanted = _conversation_filter(request)
    views = [m.view() for m in request.app[CONNECTOR].messages.values() if _matches(m.conversation, wanted)]
    return web.json_response({"messages": views})


async def reset(request: web.Request) -> web.Response:
    """Forget everything (between demo scenes and tests)."""
    connector = request.app[CONNECTOR]
    connector.calls.clear()
    connector.messages.clear()
    connector.conversations.clear()
    connector.problems.clear()
    connector.rate_limits.clear()
    return web.json_response({"ok": True})


async def health(_request: web.Request) -> web.Response:
    """Liveness for the supervisor."""
    return web.json_response({"status": "ok"})


def create_app() -> web.Application:
    """The stand-in's aiohttp application."""
    app = web.Application()
    app[CONNECTOR] = Connector()
    app.router.add_get("/health", health)
    app.router.add_post("/v3/conversations", create_conversation)
    app.router.add_post("/v3/conversations/{conversation}/activities", send)
    app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", send)
    app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", update)
    app.router.add_delete("/v3/conversations/{conversation}/activities/{activity}", delete)
    app.router.add_get("/_stand-in/problems", problems)
    app.router.add_post("/_stand-in/config", configure)
    app.router.add_get("/v3/conversations/{conversation}/members/{member}", member)
    app.router.add_get("/_stand-in/activities", activities)
    app.router.add_get("/_stand-in/messages", messages)
    app.router.add_delete("/_stand-in/activities", reset)
    onedrive.add_routes(app)  # the uploads of Teams' file consent flow
    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m infra.local.teams_connector --port 5105``."""
    parser = argparse.ArgumentParser(description="Local Bot Framework Connector stand-in for Teams.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5105)
    args = parser.parse_args(argv)
    web.run_app(create_app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
