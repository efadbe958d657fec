"""A long answer in a 1:1 chat arrives whole, as a file, through Teams' file consent flow.

The Connector stand-in plays Teams and OneDrive: it creates the upload session
when the console clicks *Allow*, takes the bytes as an upload session does
(Content-Range per fragment, no Authorization header), and checks every
consent and file info card (only in 1:1 chats; a file info card only for a
file uploaded in full).
"""

from typing import Any

import httpx
import pytest

from bot.teams import files, render
from centralops import events
from tests.bot.teams.test_rendering import EVIL, problems, with_file_offer
from tests.fixtures.teams_fakes import TeamsStack

LINES = "".join(f"line {i:05d}: é€😀 {'x' * 50}\n" for i in range(1000))


async def stand_in_file(teams: TeamsStack, url: str) -> bytes:
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
        response.raise_for_status()
        return response.content


def attachments_of(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [a for m in messages for a in m["attachments"] if a.get("contentType") == kind]


async def long_answer(teams: TeamsStack, *steps: tuple[float, dict[str, Any]]) -> Any:
    teams.runtime.script("long", *steps, (0, events.done("s")))
    post = await teams.console.personal(user="alice", text="long")
    post.messages = await with_file_offer(teams, post.conversation_id)
    return post


async def test_allow_uploads_the_whole_answer_and_posts_the_file_card(teams: TeamsStack) -> None:
    post = await long_answer(teams, (0, events.text(LINES[:30_000])), (0, events.text(LINES[30_000:])))
    [consent] = attachments_of(post.messages, files.CONSENT)
    assert consent["name"].startswith("centralops-answer-") and consent["name"].endswith(".md")
    assert consent["content"]["sizeInBytes"] == len(LINES.encode())

    turn, after = await teams.console.answer_file("alice", post)
    assert turn.status == 200
    [info] = attachments_of(after.messages, files.INFO)
    assert info["name"] == consent["name"]
    assert (await stand_in_file(teams, info["contentUrl"])).decode() == LINES, (
        "every byte, as the agent wrote it"
    )
    shown = await teams.console.messages(post.conversation_id)
    assert not attachments_of(shown, files.CONSENT), "the used consent card is removed"
    assert await problems(teams) == []

    # The card offered one upload: a second Allow (a stale card, another client) uploads nothing.
    again, late = await teams.console.answer_file("alice", post)
    assert again.status == 200 and files.GONE in "".join(m["text"] for m in late.messages)


async def test_a_table_with_rows_left_out_of_the_card_is_whole_in_the_file(teams: TeamsStack) -> None:
    rows = [[f"bucket-{i:03d}-{'x' * 30}", "us-east-1", EVIL] for i in range(200)]
    post = await long_answer(
        teams, (0, events.text("200 buckets:\n")), (0, events.table(["Bucket", "Region", "Tag"], rows))
    )
    _, after = await teams.console.answer_file("alice", post)
    [info] = attachments_of(after.messages, files.INFO)
    text = (await stand_in_file(teams, info["contentUrl"])).decode()
    assert text.count("\n| bucket-") == 200, "every row"
    assert EVIL in text, "cells as written"
    assert await problems(teams) == []


async def test_decline_sends_nothing_and_says_how_to_see_the_rest(teams: TeamsStack) -> None:
    post = await long_answer(teams, (0, events.text(LINES)))
    turn, after = await teams.console.answer_file("alice", post, accept=False)
    assert turn.status == 200
    assert files.DECLINED in "".join(m["text"] for m in after.messages)
    assert not attachments_of(await teams.console.messages(post.conversation_id), files.CONSENT)
    assert not attachments_of(after.messages, files.INFO)


async def test_someone_elses_click_uploads_nothing(teams: TeamsStack) -> None:
    post = await long_answer(teams, (0, events.text(LINES)))
    # bob replays alice's card context from his own chat.
    bob = await teams.console.personal(user="bob", text="hi", wait=False)
    post.conversation_id = bob.conversation_id
    _, after = await teams.console.answer_file("bob", post)
    assert files.NOT_YOURS in "".join(m["text"] for m in after.messages)
    assert not attachments_of(after.messages, files.INFO)


async def test_a_refused_upload_keeps_the_card_and_says_what_to_do(
    teams: TeamsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    post = await long_answer(teams, (0, events.text(LINES)))
    real_post = teams.console._http.post

    async def no_session(url: str, **kwargs: Any) -> httpx.Response:
        response = await real_post(url, **kwargs)
        if url.endswith("/_stand-in/uploads"):
            body = response.json()
            body["uploadUrl"] = body["uploadUrl"].replace("/upload/", "/upload/missing-")
            return httpx.Response(201, json=body, request=response.request)
        return response

    monkeypatch.setattr(teams.console._http, "post", no_session)
    _, after = await teams.console.answer_file("alice", post)
    assert files.UPLOAD_FAILED in "".join(m["text"] for m in after.messages)
    assert attachments_of(await teams.console.messages(post.conversation_id), files.CONSENT), "the card stays"
    monkeypatch.undo()
    _, retried = await teams.console.answer_file("alice", post)
    assert attachments_of(retried.messages, files.INFO), "Allow again works"


async def test_no_file_is_offered_outside_a_1_1_chat_or_for_an_answer_that_fits(teams: TeamsStack) -> None:
    teams.runtime.script("short", (0, events.text("3 buckets.\n")), (0, events.done("s")))
    chat = await teams.console.personal(user="alice", text="short")
    assert not attachments_of(chat.messages, files.CONSENT)
    teams.runtime.script("long", (0, events.text(LINES)), (0, events.done("s")))
    post = await teams.console.channel(user="alice", text="long")
    assert not attachments_of(post.messages, files.CONSENT)
    assert len(post.messages) <= render.MAX_PARTS


@pytest.mark.parametrize(
    ("url", "loopback", "ok"),
    [
        ("https://contoso-my.sharepoint.com/upload?x=1", False, True),
        ("http://contoso-my.sharepoint.com/upload", False, False),
        ("http://127.0.0.1:5105/_stand-in/upload/a", False, False),
        ("http://127.0.0.1:5105/_stand-in/upload/a", True, True),
        ("http://169.254.169.254/latest", True, False),
        ("file:///etc/passwd", True, False),
    ],
)
def test_only_https_upload_urls_are_used(url: str, loopback: bool, ok: bool) -> None:
    assert files.allowed_upload_url(url, allow_http_loopback=loopback) is ok
