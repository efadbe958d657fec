"""One checklist rule on every platform: the line cap, the clipped command, the status only while work runs."""

import pytest

from bot.chat import CHECK_COMMAND_MAX, MAX_CHECK_LINES, CheckItem, Checklist
from bot.slack import blocks
from bot.teams import cards

LONG = "aws ec2 describe-instances --filters Name=tag:Team,Values=payments " + "--query x" * 20


def _slack(checklist: Checklist) -> list[str]:
    return blocks.checklist_text(checklist).splitlines()


def _teams(checklist: Checklist) -> list[str]:
    return cards.progress_text(checklist).splitlines()


RENDERERS = [pytest.param(_slack, id="slack"), pytest.param(_teams, id="teams")]


@pytest.mark.parametrize("lines_of", RENDERERS)
def test_fifty_accounts_show_the_cap_and_one_summary_line(lines_of) -> None:  # type: ignore[no-untyped-def]
    checklist = Checklist(items=[CheckItem(f"acct-{n:02}", "aws s3 ls", "ok", 5) for n in range(50)])

    lines = lines_of(checklist)

    assert len(lines) == MAX_CHECK_LINES + 1
    assert lines[-1] == f"…and {50 - MAX_CHECK_LINES} more ({50 - MAX_CHECK_LINES} done)"


@pytest.mark.parametrize("lines_of", RENDERERS)
def test_a_long_command_is_clipped_the_same_way(lines_of) -> None:  # type: ignore[no-untyped-def]
    item = CheckItem("staging", LONG + "\nsecond line")
    (line,) = [x for x in lines_of(Checklist(items=[item])) if "staging" in x]

    assert len(item.shown_command) == CHECK_COMMAND_MAX and item.shown_command.endswith("…")
    assert item.shown_command[:-1] in line and LONG[: CHECK_COMMAND_MAX + 5] not in line
    assert "second line" not in line


@pytest.mark.parametrize("lines_of", RENDERERS)
def test_the_status_shows_while_a_call_runs_and_goes_when_all_ended(lines_of) -> None:  # type: ignore[no-untyped-def]
    checklist = Checklist(status="Querying 2 accounts", items=[CheckItem("staging", "aws s3 ls")])
    assert any("Querying 2 accounts" in line for line in lines_of(checklist))

    checklist.end("staging", "aws s3 ls", ok=True, ms=12)

    assert not any("Querying 2 accounts" in line for line in lines_of(checklist))
    assert Checklist(status="Resolving accounts").status_line() == "Resolving accounts"
