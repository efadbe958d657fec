"""Tables laid out as text, the way the chat clients lay them out (for the consoles and the demo).

Cells are shown as written (a chat client reads no markup in a table cell);
only what would break the grid on a terminal changes: line breaks and tabs
become spaces, control and direction-changing characters are dropped, and a
cell wider than :data:`CELL_COLUMNS` ends in "…". Widths are measured in
terminal columns (wide East Asian characters and most emoji take two,
combining marks none), so the columns line up whatever the data.
"""

import re
import unicodedata

CELL_COLUMNS = 40
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def columns(text: str) -> int:
    """How many terminal columns ``text`` takes."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or ch in "\ufe0e\ufe0f":
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def _cell(value: str) -> str:
    text = " ".join(_INVISIBLE.sub(" ", value).split())
    if columns(text) <= CELL_COLUMNS:
        return text
    while columns(text) > CELL_COLUMNS - 1:
        text = text[:-1]
    return text.rstrip() + "…"


def render_table(rows: list[list[str]], *, header: bool = True) -> str:
    """Rows as an aligned text table, the way a chat client lays out a table (header ruled off)."""
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    cells = [[_cell(c) for c in [*r, *[""] * (width - len(r))]] for r in rows]
    sizes = [max(columns(r[i]) for r in cells) for i in range(width)]

    def line(r: list[str]) -> str:
        return "│ " + " │ ".join(c + " " * (sizes[i] - columns(c)) for i, c in enumerate(r)) + " │"

    out = [line(cells[0])]
    if header:
        out.append("├" + "┼".join("─" * (s + 2) for s in sizes) + "┤")
    out.extend(line(r) for r in cells[1:])
    return "\n".join(out)
