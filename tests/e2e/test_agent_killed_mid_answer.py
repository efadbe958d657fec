"""On the local stack: the agent killed while a command runs, and restarted at once.

The person sees the checklist closed (nothing left running), is told the call was started and may have
run (never "try again"), and the next question in the same thread is answered by the restarted agent.
The answer is marked delivered in the outbox table.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from bot.conversation import STOPPED_AFTER_RUN
from centralops import settings
from infra.local.consoles.slack import SlackConsole
from infra.local.org import StackInfo
from infra.local.stack import LocalStack, Ports

STAGING = "222222222222"
HELD_MS = 600_000
"""A staging call that never answers while the test runs: the bridge's own 30 s budget ends it, and the
stand-in's reset abandons it, so the agent is always killed while it runs however slow the machine."""


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(tmp_path_factory.mktemp("agent-killed"), Ports.free())
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def restart_agent(stack: LocalStack) -> subprocess.Popen[bytes]:
    """Kill the agent's process group and start it again at once, on the same port and environment."""
    assert stack.info is not None
    [agent] = [p for p in stack.processes if p.name == "agent"]
    os.killpg(agent.popen.pid, signal.SIGKILL)
    agent.popen.wait(timeout=10)
    log = agent.log_path.with_suffix(".restarted.log").open("wb")
    popen = subprocess.Popen(
        [sys.executable, "-m", "agent"],
        env=stack._env(stack.info),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    agent.popen = popen  # the stack stops it with the rest
    return popen


def running(message: dict[str, Any]) -> bool:
    """Whether a message shows a call still running: a task card in progress, or a checklist line."""
    tasks = (message.get("tasks") or {}).values()
    return any(t.get("status") == "in_progress" for t in tasks) or ":hourglass_flowing_sand:" in str(
        message.get("blocks")
    )


async def test_the_agent_killed_mid_answer_leaves_nothing_running_and_comes_back_at_once(
    local: LocalStack,
) -> None:
    info: StackInfo = local.info  # type: ignore[assignment]
    console = SlackConsole.from_stack(info)
    admin = info.aws_mcp_url.removesuffix("/mcp")
    try:
        await console.slash("alice", "whoami", "C0KILL")  # warm up
        (
            await console.http.post(f"{admin}/admin/faults", json={"account_latency_ms": {STAGING: HELD_MS}})
        ).raise_for_status()
        thread = await console.slash("alice", "run aws s3api list-buckets in staging", "C0KILL", wait=False)
        # Wait until the command is under way (its task card or checklist line runs), then kill the agent.
        for _ in range(200):
            messages = await console.channel_messages("C0KILL")
            if any(running(m) for m in messages):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the command never showed as running")
        started = time.monotonic()
        restart_agent(local)
        await console._wait(thread, 60, find_parent=True)
        shown = thread.render()
        assert STOPPED_AFTER_RUN in shown.replace("\n    ", " ") or "may have run" in shown
        assert "Try again" not in shown and "try again" not in shown
        assert not any(running(m) for m in await console.channel_messages("C0KILL"))
        assert "no result" in shown
        # Restarted at once on its port: it answers within seconds.
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    if (await http.get(info.runtime_url.replace("/invocations", "/ping"))).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        back_s = time.monotonic() - started
        assert back_s < 30
        (await console.http.post(f"{admin}/admin/reset")).raise_for_status()
        follow = await console.mention("alice", "list buckets in staging", "C0KILL", thread=thread)
        assert "acme-staging-assets" in follow.render()
        ddb = boto3.client(
            "dynamodb",
            endpoint_url=info.moto_url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        items = ddb.scan(TableName=info.tables[settings.OUTBOX_TABLE])["Items"]
        assert items and {i["state"]["S"] for i in items} == {"delivered"}
    finally:
        await console.close()


def cards(messages: list[dict[str, Any]]) -> dict[str, str]:
    """Each account's task card status (title -> status) across the channel's messages."""
    return {
        str(t.get("title")): str(t.get("status"))
        for m in messages
        for t in (m.get("tasks") or {}).values()
        if t.get("id") != "more"
    }


async def test_the_agent_killed_mid_fan_out_keeps_the_answered_card_and_closes_the_slow_one(
    local: LocalStack,
) -> None:
    info: StackInfo = local.info  # type: ignore[assignment]
    console = SlackConsole.from_stack(info)
    admin = info.aws_mcp_url.removesuffix("/mcp")
    try:
        await console.slash("alice", "whoami", "C0KILLFAN")  # warm up (and wait for the agent to be back)
        faults = {"account_latency_ms": {STAGING: HELD_MS}}
        (await console.http.post(f"{admin}/admin/faults", json=faults)).raise_for_status()
        thread = await console.slash(
            "alice", "run aws sts get-caller-identity in staging,development", "C0KILLFAN", wait=False
        )
        for _ in range(400):  # development answered, staging still runs: then the agent dies
            shown = cards(await console.channel_messages("C0KILLFAN"))
            if shown.get("development") == "complete" and shown.get("staging") == "in_progress":
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError(f"the fast account never completed alone: {shown}")
        restart_agent(local)
        await console._wait(thread, 60, find_parent=True)
        messages = await console.channel_messages("C0KILLFAN")
        assert cards(messages) == {"development": "complete", "staging": "error"}
        assert not any(running(m) for m in messages)
        text = thread.render()
        assert "try again" not in text.lower()
    finally:
        (await console.http.post(f"{admin}/admin/reset")).raise_for_status()
        await console.close()
