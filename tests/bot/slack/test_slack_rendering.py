"""What a person sees on the real Slack client, whatever the AWS data says.

Hostile values (broadcasts, mentions, links, HTML entities, markdown) go
through every field that shows AWS data; the stand-in checks each payload
(Block Kit models, limits, control characters) and the tests check what Slack
would display. Big answers: 200-row tables, 50-account fan-outs with errors,
60 kB of text. Channels the bot is not in.
"""

import html
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.chat import ApprovalCard, CheckItem, Checklist, Table
from bot.conversation import HomeView
from bot.slack import blocks as b
from bot.slack import markup
from bot.slack.render import INLINE_CAP, SlackRenderer, StreamingSupport
from centralops import events
from centralops.accounts import AccountItem
from infra.local.payload_checks import check_blocks, check_slack, slack_markup
from tests.fixtures.slack_stack import CHANNEL, SlackStack
from tests.fixtures.slack_stack import slack as slack
from tests.fixtures.slack_stack import slack_cognito as slack_cognito

HOSTILE = [
    "<!channel>",
    "<!here|here>",
    "<!subteam^S0OPS|@ops>",
    "<@U0BOB>",
    "<#C0GENERAL>",
    "<https://evil.example|click here>",
    "[click](https://evil.example)",
    "https://evil.example/login",
    "www.evil.example",
    "@here @channel @everyone",
    "mallory@evil.example",
    "&lt;!channel&gt; &amp; AT&T",
    "*bold* _italic_ ~strike~ `code` ```fence```",
    "# heading\n- item\n> quote",
]
EVIL = " ".join(HOSTILE)


def shown_mrkdwn(text: str) -> str:
    """What Slack shows for an escaped mrkdwn text: the three entities decoded, nothing else."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def all_texts(payload: Any) -> list[str]:
    """Texts Slack parses for control sequences (raw_text, rich text and plain_text are shown as written)."""
    out: list[str] = []
    if isinstance(payload, dict) and payload.get("type") in ("raw_text", "text", "plain_text"):
        return out
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key in ("text", "markdown_text") and isinstance(value, str):
                out.append(value)
            else:
                out.extend(all_texts(value))
    elif isinstance(payload, list):
        for item in payload:
            out.extend(all_texts(item))
    return out


def assert_inert(payload: Any) -> None:
    """No Slack control sequence in any text but the requester mention the bot writes itself."""
    for text in all_texts(payload):
        for bad in ("<!", "<#", "<http", "<mailto", "<@U0BOB"):
            assert bad not in text, text


@pytest.mark.parametrize("value", HOSTILE)
def test_mrkdwn_fields_show_data_as_written_and_never_as_a_control_sequence(value: str) -> None:
    escaped = markup.mrkdwn(value)
    assert "<" not in escaped and ">" not in escaped
    assert shown_mrkdwn(escaped) == value


@pytest.mark.parametrize("value", HOSTILE)
def test_markdown_fields_cannot_form_a_mention_a_broadcast_or_a_link(value: str) -> None:
    safe = markup.markdown(value)
    assert slack_markup(safe, "markdown") == []
    # Only invisible word joiners were added: the reader sees the same words.
    assert shown_mrkdwn(safe.replace(markup.WORD_JOINER, "")) == value


def test_notification_text_is_a_short_plain_summary() -> None:
    text = markup.notification("**Total: 7** buckets\n| a | b |\n" + EVIL + "x" * 500)
    assert len(text) <= 150 and "\n" not in text and "**" not in text and "|" not in text
    assert slack_markup(text, "mrkdwn") == []


def test_every_block_with_aws_data_is_valid_and_inert() -> None:
    card = ApprovalCard(
        approval_id="a1",
        command=f"aws s3 rb s3://{EVIL}",
        accounts=[EVIL, "production"],
        reason=EVIL,
        risk="mutating",
        requester=EVIL,
    )
    decided = ApprovalCard(
        **{**card.__dict__, "status": "approved", "decided_by": EVIL, "decided_at": datetime.now(UTC)}
    )
    checklist = Checklist(status=EVIL, items=[CheckItem(EVIL, EVIL, "failed", 3)] * 20)
    home = HomeView(
        accounts=[
            AccountItem(
                account_id="123",
                name=EVIL,
                environment=EVIL,
                aliases=(EVIL,),
                enabled=True,
                allowed_groups=(),
            )
        ],
        recent=[EVIL],
        problem=EVIL,
    )
    table = Table(columns=[EVIL] * 3, rows=[[EVIL] * 3] * 5, title=EVIL)
    surfaces = {
        "approval": b.approval_blocks(card),
        "decided": b.approval_blocks(decided),
        "checklist": [b.context(b.checklist_text(checklist))],
        "parent": b.parent_blocks("U0ALICE", EVIL, b.checklist_text(checklist)),
        "home": b.home_view(home, "https://centralops.example.com/auth/start?state=x")["blocks"],
        "table": b.table_blocks(table),
        "answer": [b.markdown(EVIL)],
        "login": b.login_blocks("https://centralops.example.com/auth/start", EVIL),
    }
    for name, blocks in surfaces.items():
        assert check_blocks(blocks, view=name == "home") == [], name
        assert_inert(blocks)
    # The confirm dialog of each button shows the command as written.
    confirm = surfaces["approval"][-1]["elements"][0]["confirm"]["text"]["text"]
    assert "<" not in confirm and "s3://" in shown_mrkdwn(confirm)
    # Table cells are raw text: shown exactly as written.
    cells = surfaces["table"][1]["rows"][1]
    assert {c["type"] for c in cells} == {"raw_text"} and cells[0]["text"] == " ".join(EVIL.split())


class RecordingClient:
    """Records Web API calls the way the stand-in would receive them (the renderer's other peer)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._ts = 0

    def __getattr__(self, name: str) -> Any:
        async def call(**kwargs: Any) -> dict[str, Any]:
            self._ts += 1
            method = name.replace("_", ".", 1)
            self.calls.append((method, kwargs))
            return {"ok": True, "ts": f"1.{self._ts:06d}", "channel": kwargs.get("channel")}

        return call


async def test_late_errors_and_notices_are_escaped() -> None:
    client = RecordingClient()
    renderer = SlackRenderer(
        client,  # type: ignore[arg-type]
        channel=CHANNEL,
        team="T0",
        user="U0ALICE",
        thread_ts="1.000001",
        streaming=StreamingSupport(False),
        pace_s=0,
    )
    await renderer.notice(f"You are linked to {EVIL}")
    await renderer.text(f"Bucket {EVIL}\n")
    await renderer.finish()
    await renderer.error(f"The chat post failed after the command ran: {EVIL}")
    await renderer.finish()  # the late error: a message of its own
    for method, args in client.calls:
        assert check_slack(method, args) == [], method
        assert_inert(args)
    late = client.calls[-1][1]["text"]
    assert "The chat post failed" in late and "<!channel>" in shown_mrkdwn(late)


async def test_a_hostile_answer_streams_valid_and_inert(slack: SlackStack) -> None:
    table = events.table(["Account", "Bucket", "Tag"], [[EVIL, f"b-{i}", EVIL] for i in range(3)])
    question = "show the hostile answer"
    slack.runtime.script(
        question,
        [
            events.status(EVIL),
            events.tool_start(EVIL, f"aws s3 ls {EVIL}"),
            events.tool_end(EVIL, f"aws s3 ls {EVIL}", ok=False, ms=5),
            events.text(f"Buckets of **{EVIL}**:\n\n"),
            table,
            events.text(f"\nAfter the table: {EVIL}\n"),
            events.error("x", f"One account failed: {EVIL}"),
            events.done("s"),
        ],
    )
    thread = await slack.console.slash("alice", question, CHANNEL)
    assert slack.stand_in.problems == [], thread.render()
    for message in thread.messages:
        assert_inert({k: message[k] for k in ("blocks",)})
    shown = thread.render()
    assert "<!channel>" in shown and "https:\u2060//evil.example/login" in shown
    [table_message] = [m for m in thread.messages if any(x["type"] == "table" for x in m["blocks"])]
    texts = [m["text"] for m in thread.messages]
    assert texts.index(table_message["text"]) < len(texts) - 1, "text after the table comes below it"


async def test_a_200_row_table_shows_a_page_and_the_whole_table_as_csv(slack: SlackStack) -> None:
    rows = [[f"bucket-{i:03d}", "us-east-1", f"<!here> {i}"] for i in range(200)]
    slack.runtime.script(
        "big",
        [events.text("200 buckets:\n"), events.table(["Bucket", "Region", "Tag"], rows), events.done("s")],
    )
    thread = await slack.console.slash("alice", "big", CHANNEL)
    [message] = [m for m in thread.messages if any(x["type"] == "table" for x in m["blocks"])]
    [block] = [x for x in message["blocks"] if x["type"] == "table"]
    assert len(block["rows"]) == 100, "header and 99 rows"
    assert "101 more rows" in thread.render()
    [upload] = [m for m in thread.messages if m.get("files")]
    [stored] = [f for f in slack.stand_in.files.values() if f["id"] == upload["files"][0]["id"]]
    assert len(stored["content"].splitlines()) == 201
    assert "bucket-199" in stored["content"]
    assert slack.stand_in.problems == []


async def test_a_50_account_fan_out_with_errors(slack: SlackStack) -> None:
    names = [f"acct-{i:02d}" for i in range(50)]
    script: list[Any] = [events.status("Querying 50 accounts…")]
    script += [events.tool_start(n, "aws s3api list-buckets") for n in names]
    script += [events.tool_end(n, "aws s3api list-buckets", ok=i % 7 != 0, ms=i) for i, n in enumerate(names)]
    script += [events.text("**180** buckets across 43 accounts:\n\n")]
    script += [events.table(["Account", "Bucket"], [[n, f"{n}-b{j}"] for n in names for j in range(4)])]
    script += [
        events.text("".join(f"\n**{n}** — failed: AccessDenied <!channel> for {n}\n" for n in names[::7]))
    ]
    script += [events.done("s")]
    slack.runtime.script("fan", script)
    thread = await slack.console.slash("alice", "fan", CHANNEL)
    shown = thread.render()
    assert "…and 35 more (35 done)" in shown
    assert "failed: AccessDenied <!channel> for acct-49" in shown
    assert slack.stand_in.problems == []


async def test_a_60_kb_answer_stops_at_a_line_and_the_whole_answer_is_a_file(slack: SlackStack) -> None:
    lines = [f"line {i:05d}: " + "x" * 50 + "\n" for i in range(1000)]
    full = "".join(lines)
    assert len(full) > 60_000
    slack.runtime.script("long", [events.text(full[:30_000]), events.text(full[30_000:]), events.done("s")])
    thread = await slack.console.slash("alice", "long", CHANNEL)
    [answer] = thread.answers()
    inline = answer["text"] if answer.get("stream") else answer["blocks"][0]["text"]
    head = inline.split("\n\n_That is the first part")[0]
    assert len(head) <= INLINE_CAP and full.startswith(head) and head.endswith("\n")
    assert "1000 lines" in inline
    [upload] = [m for m in thread.messages if m.get("files")]
    [stored] = [f for f in slack.stand_in.files.values() if f["id"] == upload["files"][0]["id"]]
    assert stored["content"] == full
    assert slack.stand_in.problems == []


async def test_an_answer_that_runs_nothing_leaves_no_progress_line(slack: SlackStack) -> None:
    slack.runtime.script("hi", [events.text("Which account should I look at?"), events.done("s")])
    thread = await slack.console.slash("alice", "hi", CHANNEL)
    parent = thread.messages[0]
    assert [x["type"] for x in parent["blocks"]] == ["section"]
    assert "Done" not in thread.render() and "Working" not in thread.render()


async def test_a_public_channel_the_bot_has_not_joined_gets_a_thread(slack: SlackStack) -> None:
    await slack.console.configure(channel={"id": "C0PUBLIC", "member": False})
    thread = await slack.console.slash("alice", "list buckets in staging", "C0PUBLIC")
    assert thread.answers() and thread.ts


async def test_without_chat_write_public_the_answer_comes_through_the_response_url(slack: SlackStack) -> None:
    scopes = sorted(slack.stand_in.scopes - {"chat:write.public"})
    await slack.console.configure(channel={"id": "C0PUBLIC", "member": False}, scopes=scopes)
    thread = await slack.console.slash("alice", "list buckets in staging", "C0PUBLIC")
    assert [c["error"] for c in slack.stand_in.calls if c.get("error")] == ["not_in_channel"]
    [answer] = thread.answers()
    assert answer["via"] == "response_url"


async def test_a_private_channel_without_the_bot_is_answered_through_the_response_url(
    slack: SlackStack,
) -> None:
    await slack.console.configure(channel={"id": "G0SECRET", "private": True, "member": False})
    slack.runtime.script(
        "q",
        [events.text("Buckets:\n"), events.table(["Bucket"], [["acme-staging-logs"]]), events.done("s")],
    )
    thread = await slack.console.slash("alice", "q", "G0SECRET")
    [answer] = thread.answers()
    assert answer["via"] == "response_url"
    shown = html.unescape(thread.render())
    assert "Invite it with `/invite @CentralOps`" in shown
    assert "Buckets:" in shown
    posted = [m for m in slack.stand_in.messages["G0SECRET"] if m.get("via") == "response_url"]
    assert any(x["type"] == "table" for m in posted for x in m["blocks"])
    assert slack.stand_in.problems == []


@pytest.mark.parametrize("group_dm", ["G0GROUPDM", "C0GROUPDM"])  # older and newer group DM ids
async def test_a_group_dm_without_the_bot_is_answered_through_the_response_url_with_an_invite_hint(
    slack: SlackStack, group_dm: str
) -> None:
    await slack.console.configure(channel={"id": group_dm, "mpim": True, "member": False})
    slack.runtime.script("q", [events.text(f"Buckets: {HOSTILE[0]} {HOSTILE[5]}\n"), events.done("s")])
    thread = await slack.console.slash("alice", "q", group_dm)
    refused = [c for c in slack.stand_in.calls if c.get("channel") == group_dm and c.get("error")]
    assert refused and {c["error"] for c in refused} == {"channel_not_found"}
    [answer] = thread.answers()
    assert answer["via"] == "response_url" and answer["blocks"]
    posted = [m for m in slack.stand_in.messages[group_dm] if m.get("via") == "response_url"]
    assert posted == [answer] == slack.stand_in.messages[group_dm], (
        "one message, for everyone in the group DM"
    )
    hints = [
        e["text"]
        for x in answer["blocks"]
        if x["type"] == "context"
        for e in x["elements"]
        if "/invite @CentralOps" in e.get("text", "")
    ]
    assert len(hints) == 1 and "\n" not in hints[0], "one line saying how to invite the bot"
    shown = thread.render()
    assert shown.count("Invite it with `/invite @CentralOps`") == 1
    assert "Buckets:" in shown and "<!channel>" not in str(answer), "the data stays inert"
    assert slack.stand_in.problems == []


async def test_a_workspace_that_refuses_the_table_block_still_gets_the_rows_as_a_file(
    slack: SlackStack,
) -> None:
    await slack.console.configure(refuse_blocks=["table"])
    rows = [[f"bucket-{i}", "us-east-1"] for i in range(3)]
    slack.runtime.script(
        "t", [events.text("3 buckets:\n"), events.table(["Bucket", "Region"], rows), events.done("s")]
    )
    thread = await slack.console.slash("alice", "t", CHANNEL)
    assert [c["error"] for c in slack.stand_in.calls if c.get("error")] == ["invalid_blocks"]
    assert "The table (3 rows) is in the attached CSV file." in thread.render()
    [upload] = [m for m in thread.messages if m.get("files")]
    [stored] = [f for f in slack.stand_in.files.values() if f["id"] == upload["files"][0]["id"]]
    assert stored["content"].splitlines() == ["Bucket,Region", *(",".join(r) for r in rows)]
