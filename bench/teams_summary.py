"""What a Teams message's notification summary costs per write (``bot.teams.outgoing.summarize``).

Channel answers are rewritten every 1.5 s while they grow, up to 36 KB each,
and every write gets its summary: this times one summary of a short notice, a
4 KB answer and a 33 KB hostile one (markup, entities, mentions in every line),
and of a card-only message with a 100-row table.

Run: ``python -m bench.teams_summary``
"""

import time
from collections.abc import Callable

from microsoft_agents.activity import Activity, ActivityTypes

from bench import report
from bot.chat import Table
from bot.teams import cards
from bot.teams.outgoing import summarize

LINE = "| **acct-{i:02d}** | bucket-{i} | <at>Bob</at> &amp;lt;b&amp;gt; [link](https://evil.example) |\n"


def _timed(make: Callable[[], Activity], runs: int) -> float:
    """Median microseconds of one ``summarize`` over ``runs`` fresh activities."""
    took = []
    for _ in range(runs):
        activity = make()
        start = time.perf_counter()
        summarize(activity)
        took.append((time.perf_counter() - start) * 1e6)
    took.sort()
    return round(took[len(took) // 2], 1)


def main() -> None:
    """Time each kind of message and report the medians."""
    big = "".join(LINE.format(i=i) for i in range(400))
    medium = "".join(LINE.format(i=i) for i in range(45))
    table = Table(["Account", "Bucket"], [[f"acct-{i}", f"bucket-{i}"] for i in range(100)])
    card = cards.attachment(cards.card(cards.table_body(table)))

    def text(body: str) -> Callable[[], Activity]:
        return lambda: Activity(type=ActivityTypes.message, text=body)

    report(
        "teams_summary",
        {
            "chars": {"notice": 40, "answer_4kb": len(medium), "answer_33kb": len(big)},
            "median_us": {
                "notice": _timed(text("Use `@CentralOps login` to link your account."), 2000),
                "answer_4kb": _timed(text(medium), 500),
                "answer_33kb": _timed(text(big), 200),
                "card_100_rows": _timed(
                    lambda: Activity(type=ActivityTypes.message, attachments=[card]), 500
                ),
            },
        },
    )


if __name__ == "__main__":
    main()
