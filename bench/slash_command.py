"""One slash command end to end: ``python -m bench.slash_command [--runs N]``.

Starts the local stack on free ports and, as alice, sends a correctly signed
``/aws list buckets in staging`` to the real Bolt app; each sample is the time
from sending the request to the closed answer being in the thread (every hop:
Slack → bot → Runtime → agent → Gateway → bridge → AWS MCP Server → moto and
back). The first command, which pays for cold caches (token exchange, role
assumption, MCP sessions), is reported apart as ``first_ms``.

The last line printed is a JSON object, also written to
``.local/bench/slash_command.json``.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import report
from infra.local import org
from infra.local.consoles.slack import SlackConsole
from infra.local.stack import LocalStack, Ports

COMMAND = "list buckets in staging"
EXPECTED = org.account("staging").buckets


async def one(console: SlackConsole) -> float:
    """Milliseconds from the signed request to the closed answer in the thread."""
    started = time.perf_counter()
    thread = await console.slash("alice", COMMAND, "C0BENCH")
    elapsed = (time.perf_counter() - started) * 1000
    shown = thread.render()
    missing = [b for b in EXPECTED if b not in shown]
    if missing:
        raise RuntimeError(f"the answer lacks {missing}: {shown[:300]!r}")
    return elapsed


async def measure(info: org.StackInfo, runs: int) -> dict[str, Any]:
    """One cold command, then ``runs`` timed ones."""
    console = SlackConsole.from_stack(info)
    try:
        first = await one(console)
        samples = [await one(console) for _ in range(runs)]
    finally:
        await console.close()
    return {
        "median_ms": round(statistics.median(samples), 1),
        "p90_ms": round(statistics.quantiles(samples, n=10)[-1], 1) if len(samples) > 1 else samples[0],
        "min_ms": round(min(samples), 1),
        "max_ms": round(max(samples), 1),
        "first_ms": round(first, 1),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.slash_command", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--runs", type=int, default=20, help="timed commands (default 20)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="centralops-bench-") as root:
        started = time.perf_counter()
        with LocalStack(Path(root), Ports.free()) as info:
            stack_s = time.perf_counter() - started
            result = asyncio.run(measure(info, args.runs))
    result.update({"command": f"/aws {COMMAND}", "stack_start_s": round(stack_s, 1)})
    report("slash_command", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
