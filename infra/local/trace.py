"""``python -m infra.local.trace`` (``make trace``): the last question's spans as a tree with durations.

Reads the local stack's span file (``.local/traces/spans.jsonl``; every process
appends to it) and prints the most recent trace that starts at the bot.
"""

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT = Path(".local/traces/spans.jsonl")
ROOT_SPAN = "bot answer"


@dataclass(frozen=True)
class Span:
    """One finished span as the file holds it."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    service: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]

    @property
    def ms(self) -> float:
        """Duration in milliseconds."""
        return (self.end_ns - self.start_ns) / 1e6


def read(path: Path) -> list[Span]:
    """Every span in ``path``; a torn last line (a process still writing) is skipped."""
    spans = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            spans.append(Span(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return spans


def last_trace(spans: list[Span]) -> list[Span]:
    """The spans of the trace whose bot answer started last (empty when there is none)."""
    roots = [s for s in spans if s.name == ROOT_SPAN]
    if not roots:
        return []
    trace_id = max(roots, key=lambda s: s.start_ns).trace_id
    return [s for s in spans if s.trace_id == trace_id]


def render(trace: list[Span]) -> list[str]:
    """The trace as indented lines: name, service, duration, start offset; children by start time."""
    by_id = {s.span_id: s for s in trace}
    children: dict[str | None, list[Span]] = defaultdict(list)
    for s in trace:
        children[s.parent_id if s.parent_id in by_id else None].append(s)
    origin = min(s.start_ns for s in trace)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for s in sorted(children[parent], key=lambda x: x.start_ns):
            offset = (s.start_ns - origin) / 1e6
            label = f"{'  ' * depth}{s.name}"
            lines.append(f"{label:<60} {s.service:<8} {s.ms:>9.1f} ms   +{offset:.1f} ms")
            walk(s.span_id, depth + 1)

    walk(None, 0)
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print the last question's trace; 1 with a message when there is none."""
    parser = argparse.ArgumentParser(prog="python -m infra.local.trace", description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT, help=f"span file (default {DEFAULT})")
    args = parser.parse_args(argv)
    if not args.file.exists():
        print(
            f"No spans yet: {args.file} does not exist. Run 'make demo' or 'make chat' and ask a question first.",
            file=sys.stderr,
        )
        return 1
    trace = last_trace(read(args.file))
    if not trace:
        print(
            f"No question's trace in {args.file}: ask the bot something, then run this again.",
            file=sys.stderr,
        )
        return 1
    print(
        f"trace {trace[0].trace_id}: {len(trace)} spans from {', '.join(sorted({s.service for s in trace}))}"
    )
    print("\n".join(render(trace)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
