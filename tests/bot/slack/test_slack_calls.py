"""What an answer costs in Slack Web API calls, and that the cheaper calls leave the same thread.

Each answer shape goes through the renderer to the Slack Web API stand-in. Quickly (the answer ends
right after its last part, as a direct answer does), the closing parts ride in the calls that show the
last part: the table that ends an answer is posted once with its buttons and metadata, and text due
when a stream stops goes in ``chat.stopStream``. Paced (each part is in the thread before the next
one arrives, as in a slow answer), every part is shown on its own and the close updates the last one.
The calls differ; what the person finally sees does not.
"""

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bot.chat import ApprovalCard, ChatPlace, ChatRequest, ChatUser, CheckItem, Checklist, Table
from bot.config import BotConfig
from bot.slack import blocks as b
from bot.slack.app import web_client
from bot.slack.delivery import PatientClient
from bot.slack.render import SlackRenderer, StreamingSupport
from centralops.events import Followup
from infra.local.slack_api import STATE_KEY, SlackState
from infra.local.slack_api import build_app as build_stand_in
from tests.fixtures.slack_stack import CHANNEL, TEAM, serve

USER = "U0ALICE"
QUESTION = "list buckets in staging"
RUNNING = CheckItem("staging", "aws s3api list-buckets", "running")
ANSWERED = CheckItem("staging", "aws s3api list-buckets", "ok", 42)
FOLLOWUPS = [Followup(label="Count objects", prompt="count objects in staging")]


def table(title: str = "", rows: int = 3) -> Table:
    return Table(columns=["Bucket", "Region"], rows=[[f"{title}b-{i}", "us-east-1"] for i in range(rows)])


Step = tuple[str, Any]
LEAD: list[Step] = [
    ("progress", Checklist("Running…", [RUNNING])),
    ("progress", Checklist("Running…", [ANSWERED])),
    ("text", "Buckets in staging:\n\n"),
]
DIRECT: list[Step] = [*LEAD, ("table", table())]
SHAPES: dict[str, list[Step]] = {
    "direct": DIRECT,
    "table only": [("progress", Checklist("Running…", [ANSWERED])), ("table", table())],
    "two tables": [*DIRECT, ("text", "And the other region:\n"), ("table", table("west-"))],
    "text, table, text": [*DIRECT, ("text", "3 buckets in all.\n")],
    "text only": [("progress", Checklist("Thinking…")), ("text", "Which account should I look at?\n")],
}


@dataclass
class Peer:
    """The stand-in and a patient client talking to it."""

    state: SlackState
    client: PatientClient

    def thread(self) -> list[dict[str, Any]]:
        """The answer's thread, without what differs between two runs (timestamps, edit counts)."""
        [parent] = [m for m in self.state.messages[CHANNEL] if not m.get("thread_ts")]
        messages = self.state.thread(CHANNEL, parent["ts"])
        return [{k: v for k, v in m.items() if k not in ("ts", "thread_ts", "edits")} for m in messages]

    def calls(self) -> list[str]:
        return [c["method"] for c in self.state.calls]

    def shows(self, needle: str) -> bool:
        return any(needle in str(m) for m in self.state.messages.get(CHANNEL, []))


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    token = "xoxb-" + secrets.token_hex(8)
    app = build_stand_in(token)
    runner, url = await serve(app)
    app[STATE_KEY].base_url = url
    try:
        yield Peer(app[STATE_KEY], PatientClient(token=token, base_url=f"{url}/api/", deadline_s=3))
    finally:
        await runner.cleanup()


async def until(check: Callable[[], bool], within_s: float = 20.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "the renderer never showed it"
        await asyncio.sleep(0.02)


async def answer(
    peer: Peer,
    steps: list[Step],
    *,
    streaming: bool = True,
    paced: bool = False,
    before_end: Callable[[], None] | None = None,
) -> None:
    """One slash command's answer. Paced: each part is waited for in the thread before the next comes."""
    renderer = SlackRenderer(
        peer.client,
        channel=CHANNEL,
        team=TEAM,
        user=USER,
        thread_ts=None,
        streaming=StreamingSupport(streaming),
        pace_s=0.05 if paced else 60.0,  # quick: the paced pump never gets a turn before the end
    )
    who = ChatUser("slack", TEAM, USER, "alice")
    await renderer.open(ChatRequest(who=who, where=ChatPlace("slack", TEAM, CHANNEL), text=QUESTION))
    checklist: Checklist | None = None
    for kind, value in steps:
        if kind == "progress":
            checklist = Checklist(value.status, list(value.items))
            await renderer.progress(checklist)
        elif kind == "text":
            await renderer.text(value)
            if paced:
                shown = value.strip()
                await until(lambda shown=shown: peer.shows(shown))
        elif kind == "table":
            await renderer.table(value)
            if paced:
                await until(lambda v=value.rows[0][0]: peer.shows(f"'text': '{v}'"))
        elif kind == "approval":
            await renderer.approval(value)
        elif kind == "error":
            await renderer.error(value)
    await renderer.followups(FOLLOWUPS)
    renderer.rate("answer-1")
    if checklist is not None:
        checklist.close()
    if before_end is not None:
        before_end()
    await renderer.finish()


# A paced answer also shows parts a quick one never has, whatever the calls: its status as the plan's
# title, text after a table in a stream of its own (which then takes the plan's closing title), text
# before a table in a message of its own rather than in the table's. Those shapes are checked call by
# call below.
SAME_THREAD = [
    ("direct", True),
    ("table only", True),
    ("table only", False),
    ("text only", False),
]


@pytest.mark.parametrize(("shape", "streaming"), SAME_THREAD)
async def test_fewer_calls_leave_the_same_thread(peer: Peer, shape: str, streaming: bool) -> None:
    peer.state.streaming = streaming
    await answer(peer, SHAPES[shape], streaming=streaming, paced=True)
    paced, paced_calls = peer.thread(), peer.calls()
    peer.state.reset()
    peer.state.streaming = streaming
    await answer(peer, SHAPES[shape], streaming=streaming)
    assert peer.thread() == paced
    assert len(peer.calls()) < len(paced_calls)
    assert peer.state.problems == []


async def test_a_direct_answer_takes_five_calls(peer: Peer) -> None:
    await answer(peer, DIRECT)
    assert peer.calls() == [
        "chat.postMessage",  # the question, "Working on it…"
        "chat.startStream",  # the task cards
        "chat.stopStream",  # the text before the table closes the stream
        "chat.update",  # the question without "Working on it…"
        "chat.postMessage",  # the table, with the buttons and the answer metadata
    ]
    parent, cards, last = peer.thread()
    assert cards["text"] == "Buckets in staging:\n\n" and cards["tasks"]["call-0"]["status"] == "complete"
    assert last["blocks"] == [*b.table_blocks(table()), *b.followup_blocks(FOLLOWUPS), *last["blocks"][-1:]]
    assert last["blocks"][-1]["block_id"] == "feedback-answer-1"
    assert last["metadata"] == {
        "event_type": b.ANSWER_EVENT,
        "event_payload": {"status": "done", "file": False},
    }
    assert parent["blocks"] == b.parent_blocks(USER, QUESTION, None)


async def test_without_streaming_methods_a_direct_answer_takes_three_calls(peer: Peer) -> None:
    peer.state.streaming = False
    await answer(peer, DIRECT, streaming=False)
    # The question; its checklist, once the call ended; the text and the table with the closing parts.
    assert peer.calls() == ["chat.postMessage", "chat.update", "chat.postMessage"]
    [_, last] = peer.thread()
    assert [x["type"] for x in last["blocks"]] == ["markdown", "table", "actions", "context_actions"]
    assert last["metadata"]["event_type"] == b.ANSWER_EVENT


async def test_text_after_the_table_posts_the_table_first_and_closes_in_its_own_stream(peer: Peer) -> None:
    await answer(peer, SHAPES["text, table, text"])
    assert peer.calls() == [
        "chat.postMessage",
        "chat.startStream",
        "chat.stopStream",
        "chat.postMessage",  # the table, as it was: something follows it
        "chat.update",
        "chat.startStream",  # the text after it, with the buttons and metadata when it stops
        "chat.stopStream",
    ]
    texts = [m["text"] for m in peer.thread()]
    assert texts[2] == table().summary() and texts[3] == "3 buckets in all.\n"
    assert (
        peer.thread()[2]["metadata"] is None and peer.thread()[3]["metadata"]["event_type"] == b.ANSWER_EVENT
    )


async def test_an_error_after_the_table_closes_in_a_message_of_its_own(peer: Peer) -> None:
    await answer(peer, [*DIRECT, ("error", "One account failed.")])
    assert peer.calls()[-2:] == ["chat.postMessage", "chat.postMessage"]
    *_, shown, closing = peer.thread()
    assert shown["metadata"] is None and any(x["type"] == "table" for x in shown["blocks"])
    assert "One account failed." in closing["blocks"][0]["text"]
    assert closing["metadata"]["event_payload"]["status"] == "error"


async def test_a_clipped_table_is_posted_at_once_its_file_follows_and_the_close_updates_it(
    peer: Peer,
) -> None:
    await answer(peer, [*LEAD, ("table", table(rows=150))])
    calls = peer.calls()
    assert calls[calls.index("files.completeUploadExternal") + 1 :] == ["chat.update", "chat.update"]
    [message] = [m for m in peer.thread() if m["metadata"]]
    assert any(x["type"] == "table" for x in message["blocks"]) and "51 more rows" in str(message["blocks"])


async def test_an_approval_card_is_posted_at_once_after_a_held_table(peer: Peer) -> None:
    card = ApprovalCard(
        approval_id="a1",
        command="aws s3 rb s3://old",
        accounts=["staging"],
        reason="deletes a bucket",
        risk="mutating",
        requester="alice",
    )
    await answer(peer, [*DIRECT, ("approval", card)])
    kinds = [[x["type"] for x in m["blocks"]] for m in peer.thread()]
    assert "table" in kinds[2] and "actions" in kinds[3]  # the table, then the card below it
    assert peer.thread()[3]["metadata"]["event_type"] == b.ANSWER_EVENT  # the card closes the answer


async def test_a_workspace_refusing_the_table_block_still_gets_the_rows_and_the_closing_parts(
    peer: Peer,
) -> None:
    peer.state.refused_blocks = {"table"}
    await answer(peer, DIRECT)
    [refused] = [c for c in peer.state.calls if c.get("error")]
    assert refused["method"] == "chat.postMessage"
    *_, note, upload = peer.thread()
    assert "attached CSV file" in str(note["blocks"]) and note["metadata"]["event_type"] == b.ANSWER_EVENT
    assert upload["files"][0]["name"] == "table.csv"
    assert peer.calls()[-1] == "chat.update"  # the note gets the buttons once the file is below it


async def test_a_close_slack_will_not_take_still_shows_the_held_table(peer: Peer) -> None:
    # The table's one closing post fails for good: the whole answer is posted instead, table included.
    def refuse_the_next_post() -> None:
        peer.state.failures["chat.postMessage"] = [1, "msg_blocks_too_long"]

    await answer(peer, DIRECT, before_end=refuse_the_next_post)
    assert [c.get("error") for c in peer.state.calls if c.get("error")] == ["msg_blocks_too_long"]
    *_, whole = peer.thread()
    assert "b-2" in whole["blocks"][0]["text"] and whole["metadata"]["event_payload"]["status"] == "late"


@pytest.mark.parametrize(("level", "formats"), [(logging.INFO, False), (logging.DEBUG, True)])
def test_the_web_api_client_formats_debug_lines_only_when_logging_prints_them(
    level: int, formats: bool
) -> None:
    # slack-sdk builds a debug line of each request and response whenever its logger's own level
    # allows debug: the bot's client takes its level from the configured logging.
    root, calls = logging.getLogger(), logging.getLogger("bot.slack.web_api")
    before = root.level
    try:
        root.setLevel(level)
        calls.setLevel(logging.NOTSET)
        client = web_client(BotConfig(runtime_url="http://127.0.0.1:9/invocations", slack_bot_token="xoxb-1"))
        assert (client.logger.level <= logging.DEBUG) is formats
    finally:
        root.setLevel(before)
        calls.setLevel(logging.NOTSET)
