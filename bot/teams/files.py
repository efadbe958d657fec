"""The whole of a long answer as a file, in a 1:1 chat (Teams' file consent flow).

When an answer does not fit in a Teams message, the 1:1 message is cut at a
line and the bot offers the whole answer as a file:

1. a ``FileConsentCard`` attachment (``application/vnd.microsoft.teams.card.file.consent``)
   names the file and its size; the answer itself waits in DynamoDB (the
   idempotency table, compressed, with a TTL), so any replica can serve the click;
2. the person clicks *Allow*: Teams creates the file in their OneDrive and sends
   the bot an ``invoke`` named ``fileConsent/invoke`` with ``value.action``
   ``accept`` and ``value.uploadInfo`` (``uploadUrl``, ``contentUrl``, ``name``,
   ``uniqueId``, ``fileType``);
3. the bot ``PUT`` s the bytes to ``uploadUrl`` (a OneDrive upload session:
   ``Content-Range`` per fragment, no ``Authorization`` header), then posts a
   ``FileInfoCard`` (``application/vnd.microsoft.teams.card.file.info``) the
   person opens, and removes the consent card. *Decline* removes the card too.

Teams offers this only in 1:1 chats (``supportsFiles`` in the manifest);
channels and group chats get the answer split across messages instead
(:mod:`bot.teams.render`).
"""

import base64
import logging
import time
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError
from microsoft_agents.activity import Activity, ActivityTypes, Attachment, InvokeResponse

from bot.chat import Table
from bot.dynamo import DynamoTable, is_conditional_failure
from bot.teams.activities import tenant_of

logger = logging.getLogger(__name__)

CONSENT = "application/vnd.microsoft.teams.card.file.consent"
INFO = "application/vnd.microsoft.teams.card.file.info"
INVOKE = "fileConsent/invoke"
TTL_S = 24 * 3600
"""How long a file waits for the person's click."""
MAX_STORED = 350_000
"""Bytes of compressed answer one DynamoDB item may hold (items are limited to 400 KB)."""
FRAGMENT = 320 * 1024 * 12
"""Upload fragment size: OneDrive asks for multiples of 320 KiB."""

UPLOADED = "Here is the whole answer as a file."
DECLINED = (
    "No file was sent. The answer above stays cut; ask about fewer accounts at once to see all of it here."
)
GONE = "That file is no longer available (answers wait 24 hours for a click). Ask again to get a new one."
NOT_YOURS = "This file was offered to someone else, so nothing was uploaded."
UPLOAD_FAILED = (
    "The file could not be written to your OneDrive, so nothing was sent. Click Allow on the card "
    "again in a minute; the answer waits for 24 hours."
)


def answer_file(text: str, tables: list[Table]) -> bytes:
    """The whole answer as Markdown: the text as the agent wrote it, then each table in full."""
    parts = [text.strip()] if text.strip() else []
    for table in tables:
        head = [f"## {table.title}"] if table.title else []
        cells = [[_md_cell(c) for c in table.columns], *([_md_cell(v) for v in r] for r in table.rows)]
        lines = ["| " + " | ".join(row) + " |" for row in cells]
        lines.insert(1, "|" + "---|" * len(table.columns))
        parts.append("\n".join([*head, *lines]))
    return ("\n\n".join(parts) + "\n").encode("utf-8")


def _md_cell(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def file_name(now: datetime | None = None) -> str:
    """``centralops-answer-YYYYMMDD-HHMMSS.md`` (UTC)."""
    return f"centralops-answer-{(now or datetime.now(UTC)):%Y%m%d-%H%M%S}.md"


def consent_attachment(file_id: str, name: str, size: int, description: str) -> Attachment:
    """The ``FileConsentCard``: what Teams shows before anything is written to OneDrive."""
    context = {"file_id": file_id}
    return Attachment(
        content_type=CONSENT,
        name=name,
        content={
            "description": description,
            "sizeInBytes": size,
            "acceptContext": context,
            "declineContext": context,
        },
    )


def info_attachment(upload: dict[str, Any]) -> Attachment:
    """The ``FileInfoCard`` of an uploaded file (the fields Teams gave in ``uploadInfo``)."""
    return Attachment(
        content_type=INFO,
        name=str(upload.get("name") or ""),
        content_url=str(upload.get("contentUrl") or ""),
        content={
            "uniqueId": str(upload.get("uniqueId") or ""),
            "fileType": str(upload.get("fileType") or ""),
        },
    )


@dataclass(frozen=True)
class StoredFile:
    """An answer waiting for its person's click."""

    name: str
    content: bytes
    tenant: str
    user: str


class AnswerFiles:
    """Long answers waiting for a file consent click, in the idempotency table.

    Args:
        table: The idempotency table (partition key ``key``, TTL attribute ``ttl``).
        ttl_s: How long an answer waits.
    """

    def __init__(self, table: DynamoTable, *, ttl_s: int = TTL_S) -> None:
        self.table = table
        self.ttl_s = ttl_s

    @staticmethod
    def _key(file_id: str) -> dict[str, dict[str, str]]:
        return {"key": {"S": f"teams-file#{file_id}"}}

    async def keep(self, name: str, content: bytes, tenant: str, user: str) -> str | None:
        """Store an answer for ``user``; its id, or ``None`` when it is too large or the store failed."""
        packed = zlib.compress(content, 6)
        if len(packed) > MAX_STORED:
            logger.info("answer too large for a file offer", extra={"bytes": len(content)})
            return None
        file_id = uuid.uuid4().hex
        item = {
            **self._key(file_id),
            "name": {"S": name},
            "body": {"B": packed},
            "tenant": {"S": tenant},
            "user": {"S": user},
            "ttl": {"N": str(int(time.time()) + self.ttl_s)},
        }
        try:
            await self.table.call("put_item", Item=item)
        except (BotoCoreError, ClientError) as e:
            logger.warning("answer file not stored", extra={"error": type(e).__name__})
            return None
        return file_id

    async def get(self, file_id: str) -> StoredFile | None:
        """The stored answer, or ``None`` when it is unknown or expired."""
        out = await self.table.call("get_item", Key=self._key(file_id), ConsistentRead=True)
        item = out.get("Item") or {}
        if not item or int(item.get("ttl", {}).get("N", "0")) < int(time.time()):
            return None
        body = item["body"]["B"]
        raw = base64.b64decode(body) if isinstance(body, str) else bytes(body)
        return StoredFile(item["name"]["S"], zlib.decompress(raw), item["tenant"]["S"], item["user"]["S"])

    async def drop(self, file_id: str) -> bool:
        """Forget an answer once its file was sent or declined; ``False`` when already gone."""
        try:
            await self.table.call(
                "delete_item",
                Key=self._key(file_id),
                ConditionExpression="attribute_exists(#k)",
                ExpressionAttributeNames={"#k": "key"},
            )
        except ClientError as e:
            if is_conditional_failure(e):
                return False
            raise
        return True


class UploadError(Exception):
    """OneDrive refused the upload."""


def allowed_upload_url(url: str, *, allow_http_loopback: bool) -> bool:
    """Only HTTPS (OneDrive's upload sessions); plain HTTP only to loopback, for the local stand-in."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return allow_http_loopback and parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")


async def upload(url: str, content: bytes, *, session: aiohttp.ClientSession | None = None) -> None:
    """PUT ``content`` to a OneDrive upload session, fragment by fragment (no Authorization header).

    Raises:
        UploadError: The session answered anything but 200, 201 or 202.
    """
    own = session is None
    http = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    try:
        total = len(content)
        start = 0
        while True:
            piece = content[start : start + FRAGMENT]
            end = start + len(piece) - 1
            headers = {"Content-Length": str(len(piece)), "Content-Range": f"bytes {start}-{end}/{total}"}
            async with http.put(url, data=piece, headers=headers) as response:
                if response.status not in (200, 201, 202):
                    raise UploadError(f"upload session answered {response.status}")
            start += len(piece)
            if start >= total:
                return
    except aiohttp.ClientError as e:
        raise UploadError(type(e).__name__) from e
    finally:
        if own:
            await http.close()


def invoke_ok() -> Activity:
    """The invoke response Teams expects for ``fileConsent/invoke``."""
    return Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=200))


async def on_consent(context: Any, store: AnswerFiles, *, allow_http_loopback: bool = False) -> None:
    """Handle a ``fileConsent/invoke``: upload on *Allow*, forget on *Decline*; always answer the invoke.

    Args:
        context: The invoke's ``TurnContext``.
        store: Where the answer waits.
        allow_http_loopback: Accept a plain-HTTP loopback ``uploadUrl`` (the local stand-in only).
    """
    activity = context.activity
    value = activity.value if isinstance(activity.value, dict) else {}
    action = value.get("action")
    file_id = str((value.get("context") or {}).get("file_id") or "")
    sender = activity.from_property
    user = (sender.aad_object_id if sender is not None else None) or ""
    try:
        stored = await store.get(file_id) if file_id else None
    except (BotoCoreError, ClientError) as e:
        logger.warning("answer file not read", extra={"error": type(e).__name__})
        await _say(
            context,
            "The file could not be prepared because of a problem on CentralOps' side. "
            "Click the card again in a minute.",
        )
        await context.send_activity(invoke_ok())
        return
    if stored is None:
        await _say(context, GONE)
        await _remove_card(context)
    elif stored.user != user or stored.tenant != tenant_of(activity):
        logger.warning("file consent from another person", extra={"file_id": file_id})
        await _say(context, NOT_YOURS)
    elif action == "decline":
        await store.drop(file_id)
        await _remove_card(context)
        await _say(context, DECLINED)
    elif action == "accept":
        await _accept(context, store, file_id, stored, value.get("uploadInfo"), allow_http_loopback)
    else:
        await _say(
            context, "This file card sent an answer CentralOps does not know, so nothing was uploaded."
        )
    await context.send_activity(invoke_ok())


async def _accept(
    context: Any,
    store: AnswerFiles,
    file_id: str,
    stored: StoredFile,
    info: Any,
    allow_http_loopback: bool,
) -> None:
    info = info if isinstance(info, dict) else {}
    url = str(info.get("uploadUrl") or "")
    if not allowed_upload_url(url, allow_http_loopback=allow_http_loopback):
        logger.warning("file consent without a usable upload url", extra={"file_id": file_id})
        await _say(context, UPLOAD_FAILED)
        return
    try:
        await upload(url, stored.content)
    except UploadError as e:
        logger.warning("answer file upload failed", extra={"file_id": file_id, "error": str(e)})
        await _say(context, UPLOAD_FAILED)
        return
    card = Activity(type=ActivityTypes.message, text=UPLOADED, attachments=[info_attachment(info)])
    await context.send_activity(card)
    logger.info("answer file sent", extra={"file_id": file_id, "bytes": len(stored.content)})
    try:
        await store.drop(file_id)
    except (BotoCoreError, ClientError) as e:  # the item expires by its TTL anyway
        logger.warning("answer file not forgotten", extra={"error": type(e).__name__})
    await _remove_card(context)


async def _say(context: Any, text: str) -> None:
    await context.send_activity(Activity(type=ActivityTypes.message, text=text))


async def _remove_card(context: Any) -> None:
    """The consent card offers one upload; once used (or stale) it goes away."""
    card_id = context.activity.reply_to_id
    if not card_id:
        return
    try:
        await context.delete_activity(card_id)
    except Exception as e:  # connector failures surface as plain exceptions; the card staying is harmless
        logger.warning("file consent card not removed", extra={"error": type(e).__name__})
