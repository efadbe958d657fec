"""Nothing lost when a chat write fails: 429s over the end of an answer, appendStream failures, the agent
or the bot stopping mid-answer, a slow account. Each test asserts what the person sees in the thread and
what the outbox table holds."""

import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.conversation import STOPPED_AFTER_RUN
from bot.slack.delivery import INTERRUPTED
from centralops import events
from tests.bot.slack.test_slack_approvals import COMMAND, ask
from tests.bot.slack.test_slack_robustness import spawn_replica
from tests.bot.slack.test_slack_streaming import PIECES, ok_calls, paced_answer
from tests.fixtures.aws import free_port
from tests.fixtures.slack_runtime import Step
from tests.fixtures.slack_stack import CHANNEL, SlackStack
from tests.fixtures.slack_stack import slack as slack
from tests.fixtures.slack_stack import slack_cognito as slack_cognito
from tests.fixtures.waits import until

RUNNING = ":hourglass_flowing_sand:"


def held(script: list[Step], before: Step) -> tuple[list[Step], asyncio.Event]:
    """``script`` held just before ``before`` until the returned gate is set.

    A test sets the gate once its fault is in place, so the fault covers the rest of the answer however
    slowly a loaded machine runs the start.
    """
    gate = asyncio.Event()
    at = script.index(before)
    return [*script[:at], gate, *script[at:]], gate


def shows(rendered: str, mark: str, account: str) -> bool:
    """Whether the thread shows ``account``'s call with ``mark``, as a task card or a checklist line."""
    return f"{mark} {account} ·" in rendered or f"{mark} *{account}*" in rendered


def outbox_items(slack: SlackStack) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = slack.dynamodb.scan(TableName=slack.tables["outbox"], ConsistentRead=True)[
        "Items"
    ]
    return items


def states(slack: SlackStack) -> list[str]:
    return [i["state"]["S"] for i in outbox_items(slack)]


def everything_shown(slack: SlackStack) -> str:
    """Every message of the channel as Slack shows it (thread parents, replies, private notes)."""
    return "\n".join(
        str(m.get("text", "")) + str(m.get("blocks", "")) for m in slack.stand_in.messages[CHANNEL]
    )


@pytest.mark.parametrize("method", ["chat.update", "chat.stopStream"])
async def test_a_429_over_the_end_of_an_answer_still_delivers_all_of_it(
    slack: SlackStack, method: str
) -> None:
    # The last account reports at the very end, so closing the answer needs a chat.update.
    script = paced_answer()
    last = script.index(events.tool_end("production", "aws s3 ls", ok=False, ms=20))
    script.insert(len(script) - 2, script.pop(last))
    script, end = held(script, script[-3])
    slack.runtime.script("q", script)
    answer = asyncio.create_task(slack.console.slash("alice", "q", CHANNEL, wait_s=90))
    await until(lambda: ok_calls(slack, "chat.startStream"))
    await slack.console.configure(rate_limit={"method": method, "seconds": 10, "retry_after": 1})
    end.set()
    thread = await answer
    [closed] = thread.answers()
    assert closed["text"] == "".join(PIECES)
    shown = thread.render()
    assert shows(shown, "✓", "staging") and shows(shown, "✗", "production")
    assert RUNNING not in str(thread.messages)
    assert "Try again" not in everything_shown(slack) and "went wrong" not in everything_shown(slack)
    refused = [c for c in slack.stand_in.calls if c["method"] == method and c.get("status") == 429]
    assert len(refused) >= 3  # the window really covered the end of the answer
    await until(lambda: states(slack) == ["delivered"], within_s=10)  # the mark follows the close
    # The kept copy is the whole answer, with its checklist.
    [item] = outbox_items(slack)
    assert item["body"]["S"] == "".join(PIECES)
    assert '"state":"failed"' in item["checklist"]["S"]


async def test_refused_append_stream_calls_never_show_text_twice_or_drop_it(slack: SlackStack) -> None:
    script, rest = held(paced_answer(), events.text(PIECES[1]))
    slack.runtime.script("q", script)
    answer = asyncio.create_task(slack.console.slash("alice", "q", CHANNEL))
    await until(lambda: ok_calls(slack, "chat.startStream"))
    await slack.console.configure(
        rate_limit={"method": "chat.appendStream", "count": 2, "retry_after": 1},
        fail={"method": "chat.appendStream", "count": 2, "error": "internal_error"},
    )
    rest.set()
    thread = await answer
    [closed] = thread.answers()
    assert closed["stream"] == "completed"
    assert closed["text"] == "".join(PIECES)
    calls = [c for c in slack.stand_in.calls if c["method"] == "chat.appendStream"]
    assert [c.get("status") for c in calls].count(429) == 2
    assert [c.get("error") for c in calls].count("internal_error") == 2
    await until(lambda: states(slack) == ["delivered"], within_s=10)  # the mark follows the close


async def test_a_stream_that_cannot_continue_is_replaced_by_the_whole_answer(slack: SlackStack) -> None:
    script, rest = held(paced_answer(), events.text(PIECES[1]))
    slack.runtime.script("q", script)
    answer = asyncio.create_task(slack.console.slash("alice", "q", CHANNEL))
    await until(lambda: ok_calls(slack, "chat.startStream"))
    # The stream is gone for good (Slack expired it): every later stream call on it fails.
    await slack.console.configure(expire_streams=True)
    rest.set()
    thread = await answer
    expired = [c for c in slack.stand_in.calls if c.get("error") == "message_not_in_streaming_state"]
    assert expired  # the stream really could not continue
    [closed] = thread.answers()
    whole = "".join(PIECES).strip()
    assert whole in closed["blocks"][0]["text"]
    # Each line of the answer shows exactly once in the thread.
    shown = thread.render()
    for piece in PIECES:
        assert shown.count(piece.strip()) == 1, shown
    assert RUNNING not in str(thread.messages)
    await until(lambda: states(slack) == ["delivered"], within_s=10)  # the mark follows the close


async def test_the_agent_stopping_after_commands_ran_shows_the_outcome_never_try_again(
    slack: SlackStack,
) -> None:
    slack.runtime.script(
        "q",
        [
            events.status("Querying 2 accounts…"),
            events.tool_start("staging", "aws s3 mb s3://x"),
            events.tool_start("production", "aws s3 mb s3://x"),
            events.tool_end("staging", "aws s3 mb s3://x", ok=True, ms=12),
            events.text("Created in staging"),
            0.1,
        ],  # the agent dies here: no `done`
    )
    thread = await slack.console.slash("alice", "q", CHANNEL)
    shown = thread.render()
    assert STOPPED_AFTER_RUN in shown
    assert "Try again" not in everything_shown(slack) and "Ask again" not in everything_shown(slack)
    assert shows(shown, "✓", "staging") and "no result" in shown
    assert RUNNING not in str(thread.messages) and "Querying" not in shown
    assert "Created in staging" in shown
    await until(lambda: states(slack) == ["delivered"], within_s=10)  # the mark follows the close
    # The agent back at once: the next question in the thread is answered.
    follow = await slack.console.mention("alice", "anything else?", CHANNEL, thread=thread)
    assert "You asked: anything else?" in follow.render()


async def test_a_slow_account_does_not_hold_back_the_others(slack: SlackStack) -> None:
    development = asyncio.Event()  # development answers only once the other two show as done
    slack.runtime.script(
        "q",
        [
            *(events.tool_start(a, "aws s3 ls") for a in ("staging", "production", "development")),
            events.tool_end("staging", "aws s3 ls", ok=True, ms=5),
            events.tool_end("production", "aws s3 ls", ok=True, ms=6),
            development,  # development is slow
            events.tool_end("development", "aws s3 ls", ok=True, ms=4000),
            events.text("done"),
            events.done("s"),
        ],
    )
    answer = asyncio.create_task(slack.console.slash("alice", "q", CHANNEL))

    def two_done_one_running() -> bool:
        messages = slack.stand_in.messages.get(CHANNEL, [])
        for m in messages:  # task cards in the answer's stream
            tasks = [t["status"] for t in (m.get("tasks") or {}).values()]
            if tasks.count("complete") == 2 and "in_progress" in tasks:
                return True
        parents = [m for m in messages if not m.get("thread_ts")]  # else the checklist in the parent
        text = str(parents[-1]["blocks"]) if parents else ""
        return text.count(":white_check_mark:") == 2 and RUNNING in text

    await until(two_done_one_running)  # while development still runs
    development.set()
    thread = await answer
    assert thread.render().count("✓") == 3


@contextlib.asynccontextmanager
async def replica(slack: SlackStack, tmp_path: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    """A second bot process on the stack's tables (2 s outbox lease), which the console talks to."""
    pool = slack.identity.pool
    spec_pool: dict[str, Any] = {
        "moto_url": pool.moto_url,
        "pool_id": pool.pool_id,
        "client_id": pool.client_id,
    }
    spec_pool["passwords"] = dict(pool.passwords)
    port = free_port()
    config = {**dataclasses.asdict(slack.config), "outbox_lease_s": 2.0}
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
    }
    proc = spawn_replica({"config": config, "pool": spec_pool, "port": port}, tmp_path / "bot.log", env)
    own_url = slack.console.bot_url
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(400):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
        slack.console.bot_url = f"http://127.0.0.1:{port}"
        yield proc
    finally:
        slack.console.bot_url = own_url
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


async def test_the_bot_killed_mid_answer_is_finished_by_another_replica(
    slack: SlackStack, tmp_path: Path
) -> None:
    rest = asyncio.Event()
    slack.runtime.script(
        "q",
        [
            events.tool_start("staging", "aws s3 ls"),
            events.tool_start("production", "aws s3 ls"),
            events.tool_end("staging", "aws s3 ls", ok=True, ms=8),
            events.text("Staging has 3 buckets.\n"),
            rest,  # the rest comes only after the replica showing it was killed
            events.done("s"),
        ],
    )
    async with replica(slack, tmp_path) as proc:
        thread = await slack.console.slash("alice", "q", CHANNEL, wait=False)
        await until(lambda: any(i["body"]["S"] for i in outbox_items(slack)), within_s=30)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    rest.set()  # the Runtime's stream ends into the closed connection
    # The test stack's own replica sweeps the outbox and finishes the answer.
    await until(lambda: states(slack) == ["delivered"], within_s=30)
    parents = [m for m in slack.stand_in.messages[CHANNEL] if not m.get("thread_ts")]
    await slack.console._wait(thread, 10, find_parent=True)
    shown = thread.render()
    assert "Staging has 3 buckets." in shown
    assert INTERRUPTED.strip("_") in shown.replace("_", "") or "stopped before this answer" in shown
    assert RUNNING not in str(thread.messages) and RUNNING not in str(parents)
    assert shows(shown, "✓", "staging") and "no result" in shown


async def test_the_bot_killed_during_an_approved_run_is_resumed_by_another_replica_once(
    slack: SlackStack, tmp_path: Path
) -> None:
    thread, approval_id = await ask(slack, "alice", "alice@example.com")
    resumes: list[dict[str, Any]] = []
    killed = asyncio.Event()

    def resume(body: dict[str, Any]) -> list[Step]:
        # The agent's side (tested in tests/agent): the first resume runs the command; a repeated one
        # finds the approval consumed and shows the result it kept.
        resumes.append(body["resume"])
        if len(resumes) == 1:
            return [
                events.status("Approved — running it now."),
                events.tool_start("production", COMMAND),
                killed,  # the replica showing it is killed during the run
            ]
        return [
            events.text(
                "The approved request already ran once; this is its result:\n\nDone: timeout is 30 s."
            ),
            events.done("s"),
        ]

    slack.runtime.script("resume:approved", resume)
    async with replica(slack, tmp_path) as proc:
        await slack.console.click("bob", thread, "Approve", wait=False)
        await until(lambda: resumes, within_s=30)
        run = f"run:{approval_id}"
        await until(lambda: any(i["answer_id"]["S"] == run for i in outbox_items(slack)), within_s=10)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    killed.set()  # the first run's stream ends into the closed connection
    # The stack's own replica takes the run over once its lease ran out, and shows the result.
    await until(lambda: len(resumes) == 2 and set(states(slack)) == {"delivered"}, within_s=40)
    assert resumes == [{"approval_id": approval_id, "decision": "approved"}] * 2
    await until(lambda: "Done: timeout is 30 s." in str(slack.stand_in.messages[CHANNEL]), within_s=10)
    await thread.refresh()
    shown = thread.render()
    assert "Done: timeout is 30 s." in shown
    assert RUNNING not in str(thread.messages)
    assert "Try again" not in everything_shown(slack)
    assert slack.approval(approval_id)["status"]["S"] == "approved"
    [run_item] = [i for i in outbox_items(slack) if i["answer_id"]["S"] == f"run:{approval_id}"]
    assert run_item["state"]["S"] == "delivered"
