"""The bot's CloudWatch metrics (EMF on stdout), through the real Slack edge and conversation core."""

import pytest

from centralops import metrics
from tests.bot.slack.test_slack_approvals import ask
from tests.fixtures import emf
from tests.fixtures.slack_stack import CHANNEL, SlackStack
from tests.fixtures.slack_stack import slack as slack
from tests.fixtures.slack_stack import slack_cognito as slack_cognito

BOT = {"service": "bot"}


async def test_an_answer_reports_its_latency_and_a_429_is_counted(
    slack: SlackStack, capsys: pytest.CaptureFixture[str]
) -> None:
    await slack.console.configure(rate_limit={"method": "chat.postMessage", "count": 1, "retry_after": 1})
    thread = await slack.console.slash("alice", "list buckets in staging", CHANNEL)
    assert thread.answers()
    found = emf.values(capsys.readouterr().out)
    assert emf.total(found, metrics.CHAT_THROTTLED, Platform="slack", **BOT) == 1
    assert emf.total(found, metrics.QUESTIONS, **BOT) == 1
    assert emf.total(found, metrics.RUNTIME_ERRORS, **BOT) == 0
    (latency,) = [v for v in found if v.name == metrics.ANSWER_LATENCY]
    # The 429 made the answer wait at least the Retry-After second.
    assert latency.unit == "Milliseconds" and latency.value >= 1000


async def test_a_runtime_that_is_down_counts_a_runtime_error(
    slack: SlackStack, capsys: pytest.CaptureFixture[str]
) -> None:
    await slack.runners[1].cleanup()
    thread = await slack.console.slash("alice", "list buckets in staging", CHANNEL)
    assert "could not be reached" in thread.answers()[0]["text"]
    found = emf.values(capsys.readouterr().out)
    assert emf.total(found, metrics.RUNTIME_ERRORS, **BOT) == 1
    assert emf.total(found, metrics.CHAT_THROTTLED) == 0


async def test_a_granted_approval_is_counted_and_the_resumed_answer_is_no_new_question(
    slack: SlackStack, capsys: pytest.CaptureFixture[str]
) -> None:
    thread, _ = await ask(slack, "alice", "alice@example.com")
    await slack.console.click("alice", thread, "Approve")  # refused: not an approver, and her own change
    assert emf.total(emf.values(capsys.readouterr().out), metrics.APPROVALS_GRANTED) == 0
    await slack.console.click("bob", thread, "Approve")
    found = emf.values(capsys.readouterr().out)
    assert emf.total(found, metrics.APPROVALS_GRANTED, **BOT) == 1
    assert emf.total(found, metrics.QUESTIONS, **BOT) == 0  # the resumed answer
    assert len([v for v in found if v.name == metrics.ANSWER_LATENCY]) == 1
