"""What a person sees in Teams, whatever the AWS data says, at any size, for any length of answer.

The Connector stand-in checks each activity (Adaptive Card 1.5 schema, UTF-16
size, no data in a TextBlock or Fact); these tests check what Teams shows.
"""

import asyncio
import json
from typing import Any

import httpx
import pytest

from bot.chat import CheckItem
from bot.teams import files, render
from centralops import events
from infra.local.consoles.teams import card_text
from infra.local.payload_checks import TEAMS_MESSAGE_BYTES, check_teams
from tests.fixtures.teams_fakes import TeamsStack

EVIL = "[click](https://evil.example) *x* _y_ `z` <at>Bob</at> <!channel> # h &amp; **bold** @here"


def utf16(message: dict[str, Any]) -> int:
    return len(json.dumps(message, ensure_ascii=False).encode("utf-16-le"))


async def with_file_offer(teams: TeamsStack, conversation: str) -> list[dict[str, Any]]:
    """The chat's messages once the file consent card arrived (it follows the stream's final message)."""
    for _ in range(100):
        messages = await teams.console.messages(conversation)
        if any(a.get("contentType") == files.CONSENT for m in messages for a in m["attachments"]):
            return messages
        await asyncio.sleep(0.1)
    raise AssertionError("no file consent card")


async def problems(teams: TeamsStack) -> list[Any]:
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{teams.console.connector_url}/_stand-in/problems")
        return list(r.json()["problems"])


def text_runs(node: Any) -> list[str]:
    """Every TextRun text: what Teams shows exactly as written."""
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "TextRun" else []
        return own + [t for v in node.values() for t in text_runs(v)]
    if isinstance(node, list):
        return [t for v in node for t in text_runs(v)]
    return []


def text_blocks(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "TextBlock" else []
        return own + [t for v in node.values() for t in text_blocks(v)]
    if isinstance(node, list):
        return [t for v in node for t in text_blocks(v)]
    return []


async def test_hostile_data_in_an_approval_card_is_shown_as_written(teams: TeamsStack) -> None:
    teams.runtime.script(
        "change it",
        (
            0,
            {
                "type": "approval",
                "approval_id": "appr-hostile-0001",
                "command": f"aws s3 rb s3://{EVIL}",
                "accounts": [EVIL],
                "reason": EVIL,
                "risk": "mutating",
                "requester": EVIL,
            },
        ),
        (0, events.done("s")),
    )
    post = await teams.console.channel(user="alice", text="change it")
    [(_, card)] = post.cards("approval_view")
    assert not any(EVIL in t for t in text_blocks(card)), "data never lands in a TextBlock"
    runs = text_runs(card)
    assert f"aws s3 rb s3://{EVIL}" in runs
    assert runs.count(EVIL) == 3, "reason, accounts and requester, each as written"
    assert "Command" in card_text(card)
    assert await problems(teams) == []


async def test_an_answer_that_is_only_an_approval_shows_only_the_card(teams: TeamsStack) -> None:
    teams.runtime.script(
        "stop it",
        (
            0,
            {
                "type": "approval",
                "approval_id": "appr-only-0001",
                "command": "aws ec2 stop-instances --instance-ids i-0abc",
                "accounts": ["production"],
                "reason": "Stopping an instance changes production.",
                "risk": "mutating",
            },
        ),
        (0, events.done("s")),
    )
    post = await teams.console.channel(user="alice", text="stop it")
    assert len(post.messages) == 1 and post.cards("approval_view")
    assert not (post.messages[0]["text"] or "").strip(), "no placeholder line next to the card"
    chat = await teams.console.personal(user="alice", text="stop it")
    assert len(chat.messages) == 1 and chat.cards("approval_view")
    assert not chat.messages[0]["text"].strip()


@pytest.mark.parametrize("surface", ["personal", "channel"])
async def test_a_200_row_table_is_an_adaptive_card_table_within_the_size_limit(
    teams: TeamsStack, surface: str
) -> None:
    rows = [[f"bucket-{i:03d}-{'x' * 30}", "us-east-1", EVIL] for i in range(200)]
    teams.runtime.script(
        "big",
        (0, events.text("200 buckets:\n")),
        (0, events.table(["Bucket", "Region", "Tag"], rows)),
        (0, events.done("s")),
    )
    send = teams.console.personal if surface == "personal" else teams.console.channel
    post = await send(user="alice", text="big")
    [answer] = post.messages
    [table] = [
        a["content"] for a in answer["attachments"] if any(e["type"] == "Table" for e in a["content"]["body"])
    ]
    runs = text_runs(table)
    assert runs[:3] == ["Bucket", "Region", "Tag"]
    assert runs[3:6] == rows[0], "every cell as written"
    assert "of 200 rows" in card_text(table), "the card says how much it shows"
    assert utf16(answer) <= TEAMS_MESSAGE_BYTES
    assert await problems(teams) == []


async def test_a_60_kb_answer_is_cut_at_a_line_within_teams_size(teams: TeamsStack) -> None:
    """1:1: cut at a line, the whole answer offered as a file. Channel: the answer across messages."""
    lines = [f"line {i:05d}: é€😀 " + "x" * 50 + "\n" for i in range(1000)]
    full = "".join(lines)
    teams.runtime.script(
        "long", (0, events.text(full[:30_000])), (0, events.text(full[30_000:])), (0, events.done("s"))
    )
    post = await teams.console.personal(user="alice", text="long")
    post.messages = await with_file_offer(teams, post.conversation_id)
    answer, offer = post.messages
    assert check_teams({"type": "message", "text": answer["text"]}) == []
    head = answer["text"].split(render.FILE_NOTE)[0]
    assert full.startswith(head.rstrip("\n")) and head.rstrip("\n").endswith("x"), "cut after a whole line"
    assert len(answer["text"].encode("utf-16-le")) <= render.MESSAGE_BYTES
    assert [a["contentType"] for a in offer["attachments"]] == [files.CONSENT]

    post = await teams.console.channel(user="alice", text="long")
    assert 1 < len(post.messages) <= render.MAX_PARTS
    texts = [m["text"] for m in post.messages]
    assert all(len(t.encode("utf-16-le")) <= render.MESSAGE_BYTES for t in texts)
    assert all(t.endswith(render.CONTINUES.strip()) for t in texts[:-1])
    shown = "\n".join(t.removesuffix(render.CONTINUES.strip()).strip() for t in texts)
    assert shown.strip() == full.strip(), "every line, in order, nothing cut mid-line"
    assert await problems(teams) == []


async def test_a_stream_leaves_before_teams_ends_it_and_the_answer_arrives_in_full(
    teams: TeamsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scaled-down Teams: streams end after 5 s; the renderer leaves them after 0.4 s.

    The agent holds the rest of its answer until the stream was left, so the rest arrives after it
    however slowly a loaded machine runs the start.
    """
    monkeypatch.setattr(render, "STREAM_GUARD_S", 0.4)
    async with httpx.AsyncClient() as http:
        await http.post(f"{teams.console.connector_url}/_stand-in/config", json={"stream_limit_s": 5.0})
    pieces = [f"part {i}\n" for i in range(8)]
    left = asyncio.Event()
    teams.runtime.script(
        "slow",
        *((0.05, events.text(p)) for p in pieces[:2]),
        *((left if i == 2 else 0.05, events.text(p)) for i, p in enumerate(pieces) if i >= 2),
        (0, events.done("s")),
    )
    chat = await teams.console.personal(user="alice", text="slow", wait=False)
    for _ in range(300):  # the renderer leaves the stream at its guard time, before Teams ends it
        if any(m["streamed"] and m["final"] for m in await teams.console.messages(chat.conversation_id)):
            break
        await asyncio.sleep(0.1)
    left.set()
    shown = ""
    for _ in range(300):
        messages = await teams.console.messages(chat.conversation_id)
        shown = "\n".join(m["text"] or "" for m in messages)
        if "part 7" in shown and not any((m["text"] or "").startswith(render.WORKING) for m in messages):
            break
        await asyncio.sleep(0.1)
    first, rest = messages
    assert first["streamed"] and first["final"] and render.CONTINUED in first["text"]
    assert not rest["streamed"], "the rest is an ordinary message"
    assert all(p.strip() in shown for p in pieces), shown
    calls = await teams.console.activities(chat.conversation_id)
    assert not [c for c in calls if c["op"] == "refused"], "nothing was sent to an expired stream"
    assert [c for c in calls if c["op"] == "update"], "the rest came as an ordinary message update"


def test_every_card_keeps_data_out_of_markdown() -> None:
    from datetime import UTC, datetime

    from bot.chat import ApprovalCard, Table
    from bot.teams import cards

    card = ApprovalCard("a1", EVIL, [EVIL], EVIL, "mutating", EVIL, "approved", EVIL, datetime.now(UTC))
    docs = {
        "approval": cards.approval(card),
        "decided": cards.decided(card),
        "sign-in": cards.sign_in("https://centralops.example.com/auth/start", EVIL),
        "followups": cards.followups([{"label": EVIL, "prompt": EVIL}]),
        "table": cards.card(cards.table_body(Table([EVIL], [[EVIL]], EVIL))),
    }
    for name, doc in docs.items():
        message = {"type": "message", "attachments": [{"contentType": cards.CONTENT_TYPE, "content": doc}]}
        assert check_teams(message) == [], name
        assert EVIL in text_runs(doc) or name == "followups", name


async def test_hostile_checklist_lines_in_a_channel_are_code(teams: TeamsStack) -> None:
    teams.runtime.script(
        "q",
        (0, events.tool_start(EVIL, f"aws s3 ls {EVIL}")),
        (0, events.tool_end(EVIL, f"aws s3 ls {EVIL}", ok=False, ms=3)),
        (0, events.text("One account failed.")),
        (0, events.done("s")),
    )
    post = await teams.console.channel(user="alice", text="q")
    [answer] = post.messages
    command = CheckItem(EVIL, f"aws s3 ls {EVIL}").shown_command  # clipped as on every platform
    assert f"❌ `{EVIL.replace('`', "'")}` — `{command.replace('`', "'")}`" in answer["text"]
    assert await problems(teams) == []


async def test_a_50_account_fan_out_with_errors_in_a_channel(teams: TeamsStack) -> None:
    names = [f"acct-{i:02d}" for i in range(50)]
    steps: list[Any] = [(0, events.tool_start(n, "aws s3api list-buckets")) for n in names]
    steps += [
        (0, events.tool_end(n, "aws s3api list-buckets", ok=i % 7 != 0, ms=i)) for i, n in enumerate(names)
    ]
    steps += [(0, events.text("**180** buckets across 43 accounts:\n\n"))]
    steps += [(0, events.table(["Account", "Bucket"], [[n, f"{n}-b{j}"] for n in names for j in range(4)]))]
    steps += [
        (0, events.text(f"\n**{n}** — failed: AccessDenied [x](https://evil.example)\n")) for n in names[::7]
    ]
    teams.runtime.script("fan", *steps, (0, events.done("s")))
    post = await teams.console.channel(user="alice", text="fan")
    [answer] = post.messages
    failed_lines = [line for line in answer["text"].splitlines() if line.startswith("❌")]
    assert len(failed_lines) == 8, "the final message lists the failed accounts only"
    assert utf16(answer) <= TEAMS_MESSAGE_BYTES
    [table] = [
        a["content"] for a in answer["attachments"] if any(e["type"] == "Table" for e in a["content"]["body"])
    ]
    assert text_runs(table)[:2] == ["Account", "Bucket"]
    assert await problems(teams) == []
