"""The HTTP acknowledgement: commands and event callbacks are acked at once, Bolt runs after the burst."""

import asyncio
import json
import logging
from typing import Any

from tests.bot.slack.test_slack_robustness import wait_for_log
from tests.fixtures.slack_stack import CHANNEL, SlackStack
from tests.fixtures.slack_stack import slack as slack
from tests.fixtures.slack_stack import slack_cognito as slack_cognito


async def test_a_burst_of_commands_is_acked_empty_and_every_one_is_answered_once(slack: SlackStack) -> None:
    console = slack.console
    bodies = [console.slash_body("alice", f"burst question {i}", CHANNEL) for i in range(12)]
    acks = await asyncio.gather(*(console.post(b, "application/x-www-form-urlencoded") for b in bodies))
    assert [(r.status_code, r.content) for r in acks] == [(200, b"")] * 12
    for _ in range(400):
        if len(slack.runtime.invocations) >= 12:
            break
        await asyncio.sleep(0.05)
    prompts = sorted(str(i.body.get("prompt")) for i in slack.runtime.invocations)
    assert prompts == sorted(f"burst question {i}" for i in range(12))  # each once, none lost


async def test_a_url_verification_is_still_answered_by_bolt_in_the_response(slack: SlackStack) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "unused"})
    response = await slack.console.post(body, "application/json")
    assert response.status_code == 200
    assert "c-123" in response.text


async def test_a_stale_signature_is_refused_before_any_ack(slack: SlackStack) -> None:
    console = slack.console
    body = console.slash_body("alice", "list buckets in staging", CHANNEL)
    response = await console.post(body, "application/x-www-form-urlencoded", timestamp=1)
    assert response.status_code == 401
    await asyncio.sleep(0.3)
    assert slack.runtime.invocations == []


def test_only_commands_and_event_callbacks_are_told_from_their_raw_fields() -> None:
    from urllib.parse import urlencode

    from bot.slack.http import _acked_at_once

    command = urlencode({"team_id": "T1", "command": "/aws", "text": "a&payload=b command=c"})
    assert _acked_at_once(command.encode())
    assert not _acked_at_once(urlencode({"ssl_check": "1", "token": "t", "command": "/aws"}).encode())
    assert not _acked_at_once(urlencode({"payload": json.dumps({"type": "block_actions"})}).encode())
    assert not _acked_at_once(urlencode({"team_id": "T1", "text": "command=/aws"}).encode())
    assert _acked_at_once(json.dumps({"type": "event_callback", "event": {"type": "app_mention"}}).encode())
    assert not _acked_at_once(json.dumps({"type": "url_verification", "challenge": "c"}).encode())
    assert not _acked_at_once(
        b'{"type": "event_callback"'
    )  # truncated: Bolt's parser refuses it, in the response
    assert not _acked_at_once(b"[1, 2, 3]")


async def test_a_signed_command_without_its_fields_is_dropped_with_one_log_line(
    slack: SlackStack, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await slack.console.post("command=%2Faws&text=hello", "application/x-www-form-urlencoded")
    assert response.status_code == 200  # acked at once, as every command is
    await wait_for_log(caplog, "slash command without its fields ignored")  # Bolt runs after the ack
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert slack.runtime.invocations == []
