"""A soak: steady load for minutes, and what each process of the stack holds at the start and the end.

``python -m bench.soak [--minutes M] [--rate R]``: starts the local stack (the
offline planner), warms it up, then sends ``/aws list buckets in staging`` at a
steady ``--rate`` per second (a rate this machine sustains; see
``bench.backpressure``) for ``--minutes`` (default 1 to try it; the full soak is
``--minutes 15``). Before the load and again after the last answer (and a
``--settle-s`` pause), it reads for every process of the stack its resident
memory (``VmRSS``), threads and open file descriptors from ``/proc``.

It reports ``processes`` (``{name: {"start": {...}, "end": {...}}}``) and the
load's figures from :func:`bench.backpressure.outcome` (answers per second,
answer latency, queueing). Flat memory, threads and descriptors over the soak
are the goal. The last line printed is a JSON object, also written to
``.local/bench/soak.json``.
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.backpressure import bot_env, drive, outcome, warm_up
from infra.local.consoles.slack import SlackConsole
from infra.local.stack import LocalStack, Ports


def holdings(pid: int) -> dict[str, float]:
    """Resident memory (MB), threads and open file descriptors of one process."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
        "threads": int(fields["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def snapshot(stack: LocalStack) -> dict[str, dict[str, float]]:
    """Holdings of every running process of the stack, by name."""
    return {p.name: holdings(p.popen.pid) for p in stack.processes if p.popen.poll() is None}


async def soak(stack: LocalStack, rate: float, minutes: float, settle_s: float) -> dict[str, Any]:
    """Warm up, measure, load, drain, measure again."""
    assert stack.info is not None
    console = SlackConsole.from_stack(stack.info)
    try:
        await warm_up(console)
        start = snapshot(stack)
        began = time.monotonic()
        load = await drive(console, rate, minutes * 60, "C0SOAK")
        figures = await outcome(console, load, drain_s=180)
        await asyncio.sleep(settle_s)
        end = snapshot(stack)
    finally:
        await console.close()
    return {
        "processes": {name: {"start": start[name], "end": end.get(name)} for name in start},
        **figures,
        "soak_s": round(time.monotonic() - began),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the soak; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes", type=float, default=1.0, help="how long to load (default 1; full soak 15)"
    )
    parser.add_argument("--rate", type=float, default=2.0, help="commands per second (default 2)")
    parser.add_argument("--settle-s", type=float, default=10.0, help="pause after the last answer")
    parser.add_argument("--root", help="keep the stack's state and logs here (default: a temporary folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="centralops-soak-") as tmp:
        root = Path(args.root or tmp)
        root.mkdir(parents=True, exist_ok=True)
        stack = LocalStack(root, Ports.free(), model="offline", env=bot_env(16, 64))
        with stack:
            result = asyncio.run(soak(stack, args.rate, args.minutes, args.settle_s))
    result.update(rate=args.rate, minutes=args.minutes, load_avg=round(os.getloadavg()[0], 1))
    report("soak", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
