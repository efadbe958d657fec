"""The OneDrive side of Teams' file consent flow, in the Connector stand-in.

When a person clicks *Allow* on a ``FileConsentCard``, Teams creates the file
in their OneDrive and hands the bot an upload session (``uploadInfo``). The
stand-in does the same:

- ``POST /_stand-in/uploads`` ``{"conversation", "name"}`` creates a session and
  returns the ``uploadInfo`` Teams would put in ``fileConsent/invoke``
  (``name``, ``uploadUrl``, ``contentUrl``, ``uniqueId``, ``fileType``); the
  console calls it when it clicks *Allow*;
- ``PUT /_stand-in/upload/{id}`` takes the bytes as a OneDrive upload session
  does: each fragment with ``Content-Range: bytes a-b/total`` and a matching
  ``Content-Length``, in order; ``202`` with ``nextExpectedRanges`` until the
  last byte, then ``201`` with the drive item. An ``Authorization`` header is
  refused (401), as OneDrive documents for upload URLs;
- ``GET /_stand-in/files/{id}`` serves what was uploaded.

:func:`check_file_cards` is what the stand-in checks in every activity: a
consent card only in a 1:1 chat (Teams offers none elsewhere) with a
description, a size and both contexts; a file info card only for a file whose
upload completed.
"""

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

CONSENT = "application/vnd.microsoft.teams.card.file.consent"
INFO = "application/vnd.microsoft.teams.card.file.info"
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


@dataclass
class Upload:
    """One upload session and the file it fills."""

    id: str
    conversation: str
    name: str
    data: bytearray = field(default_factory=bytearray)
    total: int | None = None
    puts: int = 0

    @property
    def complete(self) -> bool:
        """Every byte arrived."""
        return self.total is not None and len(self.data) == self.total


@dataclass
class Drive:
    """The sessions and files of the stand-in."""

    uploads: dict[str, Upload] = field(default_factory=dict)

    def by_unique_id(self, unique_id: str) -> Upload | None:
        """The upload a ``FileInfoCard`` names."""
        return self.uploads.get(unique_id)


DRIVE: web.AppKey[Drive] = web.AppKey("drive", Drive)


def check_file_cards(drive: Drive, conversation: str, activity: dict[str, Any]) -> list[str]:
    """Problems with the file cards of one activity (see the module's docstring)."""
    problems = []
    for attachment in activity.get("attachments") or []:
        kind = attachment.get("contentType")
        content = attachment.get("content") or {}
        if kind == CONSENT:
            if not conversation.startswith("a:"):
                problems.append("file consent card outside a 1:1 chat (Teams offers file upload only there)")
            missing = [
                k
                for k in ("description", "sizeInBytes", "acceptContext", "declineContext")
                if k not in content
            ]
            if missing or not attachment.get("name"):
                problems.append(f"file consent card without {', '.join(missing) or 'name'}")
        elif kind == INFO:
            upload = drive.by_unique_id(str(content.get("uniqueId") or ""))
            if upload is None or not upload.complete:
                problems.append("file info card for a file that was not uploaded in full")
            elif attachment.get("name") != upload.name or not attachment.get("contentUrl"):
                problems.append("file info card whose name or contentUrl differs from the upload")
    return problems


async def create(request: web.Request) -> web.Response:
    """``POST /_stand-in/uploads``: what Teams does when a person clicks *Allow*."""
    body = await request.json()
    name = str(body.get("name") or "file.txt")
    upload = Upload(uuid.uuid4().hex, str(body.get("conversation") or ""), name)
    request.app[DRIVE].uploads[upload.id] = upload
    base = f"{request.scheme}://{request.host}"
    return web.json_response(
        {
            "name": name,
            "uploadUrl": f"{base}/_stand-in/upload/{upload.id}",
            "contentUrl": f"{base}/_stand-in/files/{upload.id}",
            "uniqueId": upload.id,
            "fileType": name.rpartition(".")[2] if "." in name else "",
        },
        status=201,
    )


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def put(request: web.Request) -> web.Response:
    """``PUT /_stand-in/upload/{id}``: one fragment of the file, as a OneDrive upload session takes it."""
    upload = request.app[DRIVE].uploads.get(request.match_info["id"])
    if upload is None:
        return _error(404, "itemNotFound", "The upload session does not exist.")
    if "Authorization" in request.headers:
        return _error(401, "unauthenticated", "Upload URLs take no Authorization header.")
    match = _RANGE.match(request.headers.get("Content-Range", ""))
    data = await request.read()
    if match is None:
        return _error(400, "invalidRequest", "Content-Range bytes a-b/total is required.")
    start, end, total = (int(g) for g in match.groups())
    if start != len(upload.data) or end - start + 1 != len(data) or end >= total:
        return _error(416, "invalidRange", "The fragment does not continue the upload.")
    if request.headers.get("Content-Length") != str(len(data)):
        return _error(400, "invalidRequest", "Content-Length must match the fragment.")
    if upload.total is not None and upload.total != total:
        return _error(400, "invalidRequest", "The total size changed.")
    upload.total = total
    upload.data.extend(data)
    upload.puts += 1
    if not upload.complete:
        return web.json_response({"nextExpectedRanges": [f"{len(upload.data)}-"]}, status=202)
    return web.json_response({"id": upload.id, "name": upload.name, "size": total}, status=201)


async def file(request: web.Request) -> web.Response:
    """``GET /_stand-in/files/{id}``: the uploaded file."""
    upload = request.app[DRIVE].uploads.get(request.match_info["id"])
    if upload is None or not upload.complete:
        return _error(404, "itemNotFound", "No such file.")
    return web.Response(body=bytes(upload.data), content_type="application/octet-stream")


def add_routes(app: web.Application) -> None:
    """Serve the drive on the Connector stand-in's application."""
    app[DRIVE] = Drive()
    app.router.add_post("/_stand-in/uploads", create)
    app.router.add_put("/_stand-in/upload/{id}", put)
    app.router.add_get("/_stand-in/files/{id}", file)
