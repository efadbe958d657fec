"""The consoles (``make demo``) draw an answer's table the way each client draws it: an aligned grid.

The Slack stand-in's console renders the bot's ``table`` block, the Teams
console the Adaptive Card ``Table``, both built by the bot's own renderers.
Hostile cell data is shown exactly as written (a table cell reads no markup)
and cannot break the grid.
"""

import re

import pytest

from bot.chat import Table
from bot.slack import blocks as slack_blocks
from bot.teams import cards
from infra.local.consoles.teams import card_text
from infra.local.slack_api import render_message, render_thread
from infra.local.text_table import CELL_COLUMNS, columns, render_table

HOSTILE = [
    "<!channel>",
    "<@U0BOB>",
    "<https://evil.example|click>",
    "&lt;b&gt;x&lt;/b&gt;",
    "**bold** _it_ [y](https://evil.example)",
    "<at>Bob</at>",
]
COLUMNS = ["Bucket", "Region", "Tag"]
ROWS = [
    ["acme-staging-logs", "us-east-1", HOSTILE[0]],
    ["データ-バケット", "ap-northeast-1", HOSTILE[1]],  # wide characters take two columns
    ["✅ ok", "eu-west-1", HOSTILE[2]],
    ["two\nlines\tand a tab", "eu-west-2", HOSTILE[3]],
    ["x" * 60, "us-west-2", HOSTILE[4]],
    ["\u202eevil", "sa-east-1", HOSTILE[5]],
]
TABLE = Table(COLUMNS, ROWS, "Buckets")


def grid(lines: list[str]) -> list[str]:
    """The lines of the (one) table grid in ``lines``, with what comes before them on the line dropped."""
    return [re.sub(r"^[^│├]*", "", ln) for ln in lines if re.search(r"│ |├─", ln)]


def assert_aligned(table: list[str], rows: int) -> None:
    assert len(table) == rows + 2, table  # header, rule, rows
    widths = {columns(ln) for ln in table}
    assert len(widths) == 1, table
    # Every separator sits at the same column on every line.
    seps = []
    for ln in table:
        at, col = [], 0
        for ch in ln:
            if ch in "│├┼┤":
                at.append(col)
            col += columns(ch)
        seps.append(at)
    assert all(s == seps[0] for s in seps), table
    assert len(seps[0]) == len(COLUMNS) + 1


def assert_cells_as_written(text: str) -> None:
    for value in HOSTILE:
        assert value in text, value
    assert "@bob" not in text.lower(), "a mention in a cell stays as written"
    assert "<b>x</b>" not in text, "an entity in a cell stays as written"
    assert "\u202e" not in text and "two lines and a tab" in text
    assert "x" * (CELL_COLUMNS - 1) + "…" in text, "a long cell ends in …"


def test_the_slack_console_draws_the_table_block_as_an_aligned_grid() -> None:
    message = {"bot_id": "B0CENTRALOPS", "blocks": slack_blocks.table_blocks(TABLE), "text": "Buckets"}
    lines = render_message(message)
    table = grid(lines)
    assert_aligned(table, len(ROWS))
    assert [c.strip() for c in table[0].strip("│").split("│")] == COLUMNS
    assert_cells_as_written("\n".join(table))
    assert lines[0] == "CentralOps: *Buckets*"  # the title is mrkdwn, shown as Slack decodes it


def test_a_thread_with_a_table_and_text_shows_both_and_decodes_only_the_text() -> None:
    table = {"bot_id": "B0CENTRALOPS", "thread_ts": "1.0", "blocks": slack_blocks.table_blocks(TABLE)}
    text = {"bot_id": "B0CENTRALOPS", "thread_ts": "1.0", "blocks": [slack_blocks.section("AT&amp;T &lt;3")]}
    shown = render_thread([{"user": "U0ALICE", "text": "/aws q"}, table, text])
    assert "AT&T <3" in shown
    assert_cells_as_written(shown)
    assert_aligned(grid(shown.splitlines()), len(ROWS))


def test_the_teams_console_draws_the_card_table_as_an_aligned_grid() -> None:
    doc = cards.card(cards.table_body(TABLE))
    text = card_text(doc)
    table = grid(text.splitlines())
    assert_aligned(table, len(ROWS))
    assert [c.strip() for c in table[0].strip("│").split("│")] == COLUMNS
    assert_cells_as_written("\n".join(table))
    assert text.splitlines()[0] == "Buckets"


@pytest.mark.parametrize("header", [True, False])
def test_render_table_pads_short_rows_and_rules_off_only_a_header(header: bool) -> None:
    shown = render_table([["a", "b"], ["only one"], ["c", "dd", "extra"]], header=header).splitlines()
    assert len(shown) == (4 if header else 3)
    assert len({columns(ln) for ln in shown}) == 1
    assert ("┼" in shown[1]) is header
