"""The OneDrive side of the Teams stand-in takes uploads as an upload session does, and checks file cards."""

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from infra.local import onedrive


async def test_an_upload_session_takes_ordered_fragments_without_authorization() -> None:
    app = web.Application()
    onedrive.add_routes(app)
    async with TestClient(TestServer(app)) as client:
        info = await (
            await client.post("/_stand-in/uploads", json={"conversation": "a:1", "name": "a.md"})
        ).json()
        url = info["uploadUrl"].split(str(client.server.port), 1)[1]
        body = b"0123456789"
        refused = await client.put(
            url, data=body[:5], headers={"Content-Range": "bytes 0-4/10", "Authorization": "Bearer x"}
        )
        assert refused.status == 401
        out_of_order = await client.put(url, data=body[5:], headers={"Content-Range": "bytes 5-9/10"})
        assert out_of_order.status == 416
        first = await client.put(url, data=body[:5], headers={"Content-Range": "bytes 0-4/10"})
        assert first.status == 202 and (await first.json())["nextExpectedRanges"] == ["5-"]
        last = await client.put(url, data=body[5:], headers={"Content-Range": "bytes 5-9/10"})
        assert last.status == 201
        path = info["contentUrl"].split(str(client.server.port), 1)[1]
        assert await (await client.get(path)).read() == body
        drive = app[onedrive.DRIVE]
        card = {
            "contentType": onedrive.INFO,
            "name": "a.md",
            "contentUrl": info["contentUrl"],
            "content": {"uniqueId": info["uniqueId"], "fileType": "md"},
        }
        assert onedrive.check_file_cards(drive, "a:1", {"attachments": [card]}) == []
        unknown = {**card, "content": {"uniqueId": "nope", "fileType": "md"}}
        assert onedrive.check_file_cards(drive, "a:1", {"attachments": [unknown]})


def test_a_consent_card_is_only_for_a_1_1_chat_and_complete() -> None:
    drive = onedrive.Drive()
    card = {
        "contentType": onedrive.CONSENT,
        "name": "a.md",
        "content": {"description": "d", "sizeInBytes": 1, "acceptContext": {}, "declineContext": {}},
    }
    assert onedrive.check_file_cards(drive, "a:1on1-x", {"attachments": [card]}) == []
    assert onedrive.check_file_cards(drive, "19:ops@thread.tacv2", {"attachments": [card]})
    partial = {**card, "content": {"description": "d"}}
    assert onedrive.check_file_cards(drive, "a:1on1-x", {"attachments": [partial]})
