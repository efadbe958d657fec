"""Tables laid out as text, the way the chat clients lay them out (for the consoles and the demo)."""


def render_table(rows: list[list[str]], *, header: bool = True) -> str:
    """Rows as an aligned text table, the way a chat client lays out a table (header ruled off)."""
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    cells = [[*r, *[""] * (width - len(r))] for r in rows]
    sizes = [min(max(len(r[i]) for r in cells), 40) for i in range(width)]

    def line(r: list[str]) -> str:
        return "│ " + " │ ".join(c[:40].ljust(sizes[i]) for i, c in enumerate(r)) + " │"

    out = [line(cells[0])]
    if header:
        out.append("├" + "┼".join("─" * (s + 2) for s in sizes) + "┤")
    out.extend(line(r) for r in cells[1:])
    return "\n".join(out)
