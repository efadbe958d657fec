"""The command grammar and the Block Kit limits, without a network."""

import pytest

from bot.chat import MAX_CHECK_LINES, ApprovalCard, Checklist, cut_at_boundary
from bot.commands import parse
from bot.slack import blocks as b


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "help"),
        ("help", "help"),
        ("  HELP ", "help"),
        ("login", "login"),
        ("link", "login"),
        ("logout", "logout"),
        ("whoami", "whoami"),
        ("accounts", "accounts"),
        ("run s3 ls in staging", "run"),
        ("run aws ec2 describe-instances --account production", "run"),
        ("run s3 ls", "usage"),
        ("run", "usage"),
        ("run s3 ls\ns3 rb s3://x in staging", "multiline_run"),
        ("run s3 ls in staging\r\nrun s3 rb s3://x in staging", "multiline_run"),
        ("  run s3 ls in staging\n", "run"),
        ("list buckets in staging", "ask"),
        ("running instances in prod?", "ask"),
        ("help me find buckets", "ask"),
    ],
)
def test_each_message_parses_to_one_command(text: str, kind: str) -> None:
    assert parse(text).kind == kind


def test_run_keeps_the_cli_and_the_account() -> None:
    cmd = parse("run s3api list-buckets in stage")
    assert (cmd.cli, cmd.account) == ("aws s3api list-buckets", "stage")
    cmd = parse("run aws ec2 describe-instances --account production")
    assert (cmd.cli, cmd.account) == ("aws ec2 describe-instances", "production")


def test_checklist_is_compact_and_bounded() -> None:
    checklist = Checklist(status="Querying 40 accounts…")
    for i in range(40):
        checklist.start(f"acct-{i}", "aws s3 ls")
    for i in range(30):
        checklist.end(f"acct-{i}", "aws s3 ls", ok=i % 7 != 0, ms=i)
    text = b.checklist_text(checklist)
    assert text.startswith("_Querying 40 accounts…_")
    assert len(text.splitlines()) == 1 + MAX_CHECK_LINES + 1
    assert text.endswith("…and 25 more (15 done)")
    for i in range(30, 40):
        checklist.end(f"acct-{i}", "aws s3 ls", ok=True, ms=1)
    assert "Querying" not in b.checklist_text(checklist)  # no status line once every call ended


def test_approval_buttons_carry_only_the_id_and_ask_for_confirmation() -> None:
    card = ApprovalCard(
        "ap-123456", "aws s3 rb s3://x " + "y" * 5000, ["production"], "why", "mutating", "alice"
    )
    blocks = b.approval_blocks(card)
    buttons = [e for blk in blocks if blk["type"] == "actions" for e in blk["elements"]]
    assert {e["value"] for e in buttons} == {"ap-123456"}
    assert all("confirm" in e for e in buttons)
    assert all(len(blk["text"]["text"]) <= b.SECTION_MAX for blk in blocks if blk["type"] == "section")


def test_followup_buttons_respect_slack_limits() -> None:
    items = [{"label": "L" * 200, "prompt": "p" * 5000} for _ in range(8)]
    [block] = b.followup_blocks(items)  # type: ignore[arg-type]
    assert len(block["elements"]) == 5
    assert all(len(e["text"]["text"]) <= 75 and len(e["value"]) <= 2000 for e in block["elements"])


def test_long_answers_stop_at_a_paragraph_else_a_line_never_inside_one() -> None:
    text = "first paragraph\nstill first\n\n" + "| row |\n" * 10
    assert cut_at_boundary(text, 1000) == text
    assert cut_at_boundary(text, 40) == "first paragraph\nstill first\n\n"
    rows = "".join(f"| row {i} |\n" for i in range(100))
    head = cut_at_boundary(rows, 105)
    assert head.endswith("|\n") and len(head) <= 105 and rows.startswith(head)
    assert cut_at_boundary("one line without a break", 5) == ""
