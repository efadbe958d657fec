"""Mentions in channels and threads, and direct messages: where answers go and which session they use."""

from centralops import events
from tests.fixtures.slack_stack import CHANNEL, SlackStack
from tests.fixtures.slack_stack import slack as slack
from tests.fixtures.slack_stack import slack_cognito as slack_cognito


async def test_mention_answers_in_its_thread_and_a_follow_up_continues_the_session(slack: SlackStack) -> None:
    slack.runtime.script(
        "how many lambda functions in production?", [events.text("5 functions."), events.done("s")]
    )
    slack.runtime.script("and in staging?", [events.text("2 functions."), events.done("s")])
    first = await slack.console.mention("alice", "how many lambda functions in production?", CHANNEL)
    [answer] = first.answers()
    assert answer["thread_ts"] == first.ts
    assert answer["text"] == "5 functions."
    second = await slack.console.mention("alice", "and in staging?", CHANNEL, thread=first)
    assert second.ts == first.ts
    assert second.answers()[-1]["text"] == "2 functions."
    one, two = slack.runtime.invocations
    assert one.body["prompt"] == "how many lambda functions in production?"  # mention markup removed
    assert two.session_id == one.session_id
    assert two.body["context"]["thread"] == first.ts


async def test_a_new_mention_starts_a_new_session(slack: SlackStack) -> None:
    await slack.console.mention("alice", "one", CHANNEL)
    await slack.console.mention("alice", "two", CHANNEL)
    one, two = slack.runtime.invocations
    assert one.session_id != two.session_id


async def test_direct_message_is_answered_in_the_dm(slack: SlackStack) -> None:
    slack.runtime.script("list buckets in development", [events.text("acme-dev-sandbox"), events.done("s")])
    thread = await slack.console.dm("bob", "list buckets in development")
    assert thread.channel.startswith("D")
    assert thread.answers()[0]["text"] == "acme-dev-sandbox"
    assert slack.runtime.invocations[0].body["context"]["user"] == "U0BOB"


async def test_help_in_a_mention_is_private_to_the_asker(slack: SlackStack) -> None:
    thread = await slack.console.mention("dave", "help", CHANNEL)
    assert thread.ephemeral and thread.ephemeral[0]["user"] == "U0DAVE"
    assert slack.runtime.invocations == []
