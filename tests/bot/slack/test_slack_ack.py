"""The HTTP acknowledgement: commands and event callbacks are acked at once, Bolt runs after the burst."""

import asyncio
import json

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
