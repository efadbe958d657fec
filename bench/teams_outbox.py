"""What keeping Teams answers in the outbox costs: ``python -m bench.teams_outbox [--runs N]``.

Starts moto, the Connector stand-in, a scripted Runtime and the Teams edge (``tests.fixtures.teams_fakes``),
and asks the same answer (two account calls, eight lines of text streamed over about 1.5 s) ``--runs``
times in a 1:1 chat and in a channel, first without the outbox and then with it. It reports, per
surface: the outbox table's DynamoDB requests per answer (``outbox_requests``, by operation), the
Connector calls per answer, and the median time from the question to the settled answer (``answer_ms``),
without and with the outbox. The last line printed is a JSON object, also written to
``.local/bench/teams_outbox.json``.
"""

import argparse
import asyncio
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench import report
from bot.dynamo import DynamoTable
from bot.outbox import OutboxStore
from centralops import events
from tests.fixtures.aws import create_pool, moto_server
from tests.fixtures.slack_stack import create_outbox_table
from tests.fixtures.teams_fakes import TeamsStack, start_teams_stack


class CountingTable(DynamoTable):
    """A DynamoDB table that counts its requests by operation."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests: Counter[str] = Counter()

    async def call(self, operation: str | Callable[..., Any], **kwargs: Any) -> Any:
        self.requests[operation if isinstance(operation, str) else operation.__name__] += 1
        return await super().call(operation, **kwargs)


def script(teams: TeamsStack, prompt: str) -> None:
    teams.runtime.script(
        prompt,
        (0, events.tool_start("staging", "aws s3 ls")),
        (0, events.tool_start("production", "aws s3 ls")),
        (0.05, events.tool_end("staging", "aws s3 ls", ok=True, ms=12)),
        *((0.15, events.text(f"Line {i}: bucket-{i:02d} holds {i * 7} objects.\n")) for i in range(1, 9)),
        (0.2, events.tool_end("production", "aws s3 ls", ok=True, ms=20)),
        (0, events.done("s")),
    )


async def one_surface(
    teams: TeamsStack, surface: str, runs: int, table: CountingTable | None
) -> dict[str, Any]:
    times: list[float] = []
    calls = 0
    for i in range(runs):
        prompt = f"q-{surface}-{i}"
        script(teams, prompt)
        before = len(await teams.console.activities())
        started = time.monotonic()
        if surface == "personal":
            await teams.console.personal("alice", prompt)
        else:
            await teams.console.channel("alice", prompt)
        times.append((time.monotonic() - started) * 1000)
        await teams.bot.background.drain(timeout_s=20)
        calls += len(await teams.console.activities()) - before
    out: dict[str, Any] = {
        "answer_ms": round(statistics.median(times), 1),
        "connector_calls_per_answer": round(calls / runs, 2),
    }
    if table is not None:
        out["outbox_requests_per_answer"] = round(sum(table.requests.values()) / runs, 2)
        out["outbox_requests_by_operation"] = {
            k: round(v / runs, 2) for k, v in sorted(table.requests.items())
        }
        table.requests.clear()
    return out


async def run(runs: int) -> dict[str, Any]:
    with moto_server() as moto_url:
        pool = create_pool(moto_url)
        pool.add_user("alice@example.com", ("centralops-operators",))
        pool.add_user("bob@example.com", ("centralops-operators", "centralops-approvers"))
        result: dict[str, Any] = {"runs": runs}
        async for teams in start_teams_stack(moto_url, pool):
            for surface in ("personal", "channel"):
                result[f"{surface}_without_outbox"] = await one_surface(teams, surface, runs, None)
            name = f"outbox-{uuid.uuid4().hex[:8]}"
            create_outbox_table(teams.dynamodb, name)
            table = CountingTable(name, client=teams.dynamodb)
            teams.bot.conversation.outbox = OutboxStore(table)
            for surface in ("personal", "channel"):
                result[f"{surface}_with_outbox"] = await one_surface(teams, surface, runs, table)
        return result


def main() -> None:
    """Run and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    report("teams_outbox", asyncio.run(run(args.runs)))


if __name__ == "__main__":
    main()
