"""On the local stack: within one fan-out, the fast account's task card completes while the slow one runs.

The AWS MCP stand-in holds staging's calls for a few seconds; development answers at once. The Slack
stand-in keeps every task card the bot streamed, so the test reads what a person would see mid-answer.
"""

import asyncio
from typing import Any

from infra.local.consoles.slack import SlackConsole
from infra.local.org import StackInfo

STAGING = "222222222222"
CHANNEL = "C0SLOW"


def _cards(messages: list[dict[str, Any]]) -> dict[str, str]:
    """Each account's task card status across the channel's messages (title -> status)."""
    return {
        str(t.get("title")): str(t.get("status"))
        for m in messages
        for t in (m.get("tasks") or {}).values()
        if t.get("id") != "more"
    }


async def test_the_fast_account_completes_while_the_slow_one_still_runs(
    info: StackInfo, slack: SlackConsole
) -> None:
    admin = info.aws_mcp_url.removesuffix("/mcp")
    await slack.slash("alice", "whoami", CHANNEL)  # warm up
    # Staging is held (a delay longer than the test) until development shows as complete, then let go:
    # the order is the test's, however slowly a loaded machine runs.
    faults = {"account_latency_ms": {STAGING: 600_000}}
    (await slack.http.post(f"{admin}/admin/faults", json=faults)).raise_for_status()
    try:
        thread = await slack.slash(
            "alice", "run aws sts get-caller-identity in staging,development", CHANNEL, wait=False
        )
        midway: dict[str, str] = {}
        for _ in range(400):
            midway = _cards(await slack.channel_messages(CHANNEL))
            if midway.get("development") == "complete":
                break
            await asyncio.sleep(0.02)
        assert midway.get("development") == "complete", midway
        assert midway.get("staging") == "in_progress", midway
        let_go = {"account_latency_ms": {STAGING: 0}}
        (await slack.http.post(f"{admin}/admin/faults", json=let_go)).raise_for_status()
        await slack._wait(thread, 60, find_parent=True)
        assert _cards(await slack.channel_messages(CHANNEL)) == {
            "staging": "complete",
            "development": "complete",
        }
        shown = thread.render()
        assert "222222222222" in shown and "444444444444" in shown
    finally:
        (await slack.http.post(f"{admin}/admin/reset")).raise_for_status()
