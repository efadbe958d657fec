"""Benchmark: parse + resolve + classify time per command, over the AWS CLI's own examples.

Every ``aws ...`` line of ``awscli/examples`` is parsed once to warm the caches
(the CLI driver, each service's parsers and models: what a warm Lambda keeps),
then timed one command at a time over several rounds. Prints a JSON object as
its last line and writes it to ``.local/bench/classify.json``.

Keys: ``median_us`` (median over commands of each command's median time, goal
<= 200), ``p90_us``, ``p99_us``, ``first_pass_s`` (the cold pass over the whole
corpus), ``corpus`` and the counts per outcome.

Run: ``python -m bench.classify [--rounds 5]``.
"""

import argparse
import collections
import statistics
import time

from bench import report
from bridge import commands
from bridge.errors import CommandRefused
from tests.fixtures.cli_corpus import corpus


def _outcome(text: str) -> str:
    try:
        return commands.parse(text).classification
    except CommandRefused as e:
        return "denied" if e.code == "denied_operation" else "refused"


def main() -> None:
    """Run the benchmark and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    texts = corpus()
    started = time.perf_counter()
    counts = collections.Counter(_outcome(t) for t in texts)
    first_pass = time.perf_counter() - started
    samples: list[list[int]] = [[] for _ in texts]
    for _ in range(args.rounds):
        for i, text in enumerate(texts):
            t0 = time.perf_counter_ns()
            _outcome(text)
            samples[i].append(time.perf_counter_ns() - t0)
    per_command = sorted(statistics.median(s) / 1000 for s in samples)
    report(
        "classify",
        {
            "median_us": round(statistics.median(per_command), 1),
            "p90_us": round(per_command[int(0.9 * len(per_command))], 1),
            "p99_us": round(per_command[int(0.99 * len(per_command))], 1),
            "first_pass_s": round(first_pass, 2),
            "corpus": len(texts),
            **{k: counts[k] for k in ("read", "mutating", "denied", "refused")},
        },
    )


if __name__ == "__main__":
    main()
