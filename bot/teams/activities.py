"""Teams activities → the core's shapes: who asks, where, what they typed.

Identity keys (``bot.identity``): platform ``teams``, team = the Entra tenant
id, user = the person's Entra (AAD) object id, which Teams sends as
``from.aadObjectId``. Places: a channel post's conversation id is
``19:…@thread.tacv2;messageid=<root>``; the part before ``;messageid=`` is the
channel and the root message id is the thread, so a reply in the thread
continues the same agent session. A 1:1 or group chat has no threads: the
chat itself is the thread.
"""

import html
import re
from dataclasses import dataclass
from typing import Any, Literal

from microsoft_agents.activity import Activity, ConversationReference

from bot.chat import ChatPlace, ChatRequest, ChatUser, Source

PLATFORM = "teams"
MESSAGE_ID = ";messageid="

Surface = Literal["personal", "channel", "groupChat"]

_AT_TAG = re.compile(r"<at[^>]*>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Inbound:
    """One activity, reduced to what the edge needs."""

    who: ChatUser
    where: ChatPlace
    surface: Surface


def tenant_of(activity: Activity) -> str:
    """The Entra tenant id: ``channelData.tenant.id``, else ``conversation.tenantId``."""
    data: Any = activity.channel_data
    if isinstance(data, dict):
        tenant = (data.get("tenant") or {}).get("id")
    else:
        tenant = getattr(getattr(data, "tenant", None), "id", None)
    if not tenant and activity.conversation is not None:
        tenant = activity.conversation.tenant_id
    return str(tenant or "")


def surface_of(activity: Activity) -> Surface:
    """``personal``, ``channel`` or ``groupChat`` (Teams' ``conversation.conversationType``)."""
    kind = activity.conversation.conversation_type if activity.conversation else None
    if kind in ("channel", "groupChat"):
        return kind  # type: ignore[return-value]
    return "personal"


def split_conversation(conversation_id: str) -> tuple[str, str | None]:
    """``(channel, root message id)`` of a conversation id; no root outside channel threads."""
    base, sep, root = conversation_id.partition(MESSAGE_ID)
    return base, (root or None) if sep else None


def conversation_id(place: ChatPlace) -> str:
    """The Bot Connector conversation id of a place (the inverse of :func:`inbound`)."""
    if place.thread and place.thread != place.channel:
        return f"{place.channel}{MESSAGE_ID}{place.thread}"
    return place.channel


def inbound(activity: Activity) -> Inbound | None:
    """Who and where, or ``None`` when the activity lacks the Teams fields a person always has."""
    sender = activity.from_property
    aad = getattr(sender, "aad_object_id", None) if sender else None
    tenant = tenant_of(activity)
    if not aad or not tenant or activity.conversation is None or not activity.conversation.id:
        return None
    who = ChatUser(PLATFORM, tenant, str(aad), str(sender.name or "") if sender else "")
    surface = surface_of(activity)
    channel, root = split_conversation(activity.conversation.id)
    if surface == "channel":
        # A top-level post starts its own thread: the post's id is the root.
        thread = root or activity.id or channel
    else:
        thread = channel
    return Inbound(who, ChatPlace(PLATFORM, tenant, channel, thread), surface)


def clean_text(text: str | None, bot_name: str) -> str:
    """What the person typed, without mention markup, HTML or a typed ``@Bot`` prefix.

    The SDK already removed the bot's own ``<at>`` mention; other mentions keep
    their names, and a literal ``@CentralOps`` (typed in a 1:1 chat, where
    Teams does not turn it into a mention) is dropped too.
    """
    raw = _AT_TAG.sub(lambda m: m.group(1), text or "")
    raw = " ".join(html.unescape(_TAGS.sub(" ", raw)).replace("\u00a0", " ").split())
    for name in (f"@{bot_name}", bot_name):
        if raw.lower().startswith(name.lower() + " ") or raw.lower() == name.lower():
            raw = raw[len(name) :].strip()
            break
    return raw


def request_of(
    activity: Activity, bot_name: str, source: Source | None = None
) -> tuple[ChatRequest, Surface] | None:
    """The core's request for a message activity, or ``None`` when it is not from a person."""
    found = inbound(activity)
    if found is None:
        return None
    src: Source = source or ("dm" if found.surface == "personal" else "mention")
    return ChatRequest(found.who, found.where, clean_text(activity.text, bot_name), src), found.surface


def continuation(
    reference: ConversationReference, place: ChatPlace | None = None, channel_data: Any = None
) -> Activity:
    """The activity that opens a proactive turn in the same conversation (and thread).

    Its id is the triggering activity's, so replies go to that message's thread;
    it keeps the triggering activity's ``channelData`` (tenant, team), which
    Teams-specific calls such as the member lookup read.
    """
    activity = reference.get_continuation_activity()
    if reference.activity_id:
        activity.id = reference.activity_id
    if channel_data is not None:
        activity.channel_data = channel_data
    if place is not None and activity.conversation is not None:
        activity.conversation = activity.conversation.model_copy(update={"id": conversation_id(place)})
        if place.thread and place.thread != place.channel:
            activity.id = place.thread  # a channel thread: reply to its root post
    return activity


def _plain(value: Any) -> Any:
    """A pydantic model or plain value as JSON-safe data."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return value


def kept_reference(
    reference: ConversationReference, channel_data: Any, surface: str, identity: Any
) -> dict[str, Any]:
    """What a later proactive turn needs, as JSON-safe data for the outbox (no token: claims only).

    A different bot replica rebuilds the conversation reference from it to write the result of an
    approved run into the right conversation and thread.
    """
    claims = getattr(identity, "claims", None) or {}
    return {
        "reference": _plain(reference),
        "channel_data": _plain(channel_data),
        "surface": surface,
        "claims": {str(k): v for k, v in claims.items() if isinstance(v, str | int | float | bool)},
    }
