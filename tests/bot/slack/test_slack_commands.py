"""Each /aws subcommand through the real Bolt app, signed as Slack signs, rendered by the stand-in."""

import html

from centralops import events
from tests.fixtures.slack_stack import CHANNEL, SlackStack
from tests.fixtures.slack_stack import slack as slack
from tests.fixtures.slack_stack import slack_cognito as slack_cognito


async def test_question_answers_in_the_thread_of_a_parent_message(slack: SlackStack) -> None:
    slack.runtime.script(
        "list buckets in staging",
        [
            events.status("Resolving staging…"),
            events.tool_start("staging", "aws s3 ls"),
            events.tool_end("staging", "aws s3 ls", ok=True, ms=42),
            events.text("Buckets in *staging*:\n"),
            events.text("- acme-staging-assets\n- acme-staging-logs"),
            events.done("s1"),
        ],
    )
    thread = await slack.console.slash("alice", "list buckets in staging", CHANNEL)
    assert thread.ts is not None
    parent = thread.messages[0]
    assert parent["text"] == "<@U0ALICE> asked: list buckets in staging"
    assert "✓ staging · aws s3 ls · done in 42 ms" in thread.render()
    [answer] = thread.answers()
    assert answer["thread_ts"] == thread.ts
    assert answer["text"] == "Buckets in *staging*:\n- acme-staging-assets\n- acme-staging-logs"
    [call] = slack.runtime.invocations
    assert call.body["prompt"] == "list buckets in staging"
    assert call.body["context"] == {
        "platform": "slack",
        "team": "T0CENTRAL",
        "channel": CHANNEL,
        "thread": thread.ts,
        "user": "U0ALICE",
        "user_name": "alice",
    }
    assert call.bearer == call.body["access_token"]
    assert slack.identity.claims(call.bearer)["cognito:username"] == "alice@example.com"
    assert 33 <= len(call.session_id) <= 256
    assert call.headers["Accept"] == "text/event-stream"


async def test_help_is_private_and_lists_every_subcommand(slack: SlackStack) -> None:
    for text in ("help", ""):
        thread = await slack.console.slash("carol", text, CHANNEL)
        [notice] = thread.ephemeral
        for word in ("login", "logout", "whoami", "accounts", "run <aws cli command> in <account>"):
            assert word in html.unescape(notice["text"])  # Slack shows &lt; as <
    assert slack.runtime.invocations == []
    assert await slack.console.channel_messages(CHANNEL) == []


async def test_login_answers_with_a_private_sign_in_button(slack: SlackStack) -> None:
    thread = await slack.console.slash("carol", "login", CHANNEL)
    [notice] = thread.ephemeral
    _, button = thread.button("Sign in to CentralOps")
    assert button["url"] == "http://127.0.0.1:9/auth/start?state=test-U0CAROL"
    assert notice["user"] == "U0CAROL"


async def test_whoami_then_logout_then_whoami(slack: SlackStack) -> None:
    first = await slack.console.slash("alice", "whoami", CHANNEL)
    assert "linked to `alice@example.com`" in first.ephemeral[0]["text"]
    out = await slack.console.slash("alice", "logout", CHANNEL)
    assert out.ephemeral[0]["text"].startswith("Unlinked.")
    again = await slack.console.slash("alice", "whoami", CHANNEL)
    assert "not linked yet" in again.ephemeral[0]["text"]
    asked = await slack.console.slash("alice", "list buckets in staging", CHANNEL)
    assert "/aws login" in asked.ephemeral[0]["text"]
    asked.button("Sign in to CentralOps")
    assert slack.runtime.invocations == []


async def test_accounts_lists_only_what_the_groups_allow(slack: SlackStack) -> None:
    alice = (await slack.console.slash("alice", "accounts", CHANNEL)).ephemeral[0]["text"]
    dave = (await slack.console.slash("dave", "accounts", CHANNEL)).ephemeral[0]["text"]
    for name in ("staging", "production", "development"):
        assert f"`{name}`" in alice
    assert "`legacy`" not in alice  # disabled
    assert "`staging`" in dave and "`development`" in dave
    assert "`production`" not in dave  # production is for operators only


async def test_run_sends_the_direct_command_and_usage_without_account(slack: SlackStack) -> None:
    thread = await slack.console.slash("alice", "run s3 ls in staging", CHANNEL)
    assert thread.answers()
    assert slack.runtime.invocations[0].body["prompt"] == "run aws s3 ls in staging"
    usage = await slack.console.slash("alice", "run s3 ls", CHANNEL)
    assert "Say which account" in usage.ephemeral[0]["text"]
    assert len(slack.runtime.invocations) == 1


async def test_an_identity_outage_says_so_instead_of_asking_to_sign_in_again(slack: SlackStack) -> None:
    slack.identity.outage = True
    thread = await slack.console.slash("alice", "list buckets in staging", CHANNEL)
    shown = thread.render()
    assert "Try again in a minute" in shown
    assert "Sign in to CentralOps" not in shown
    assert slack.runtime.invocations == []


async def test_unlinked_user_is_asked_to_link_and_the_agent_is_never_called(slack: SlackStack) -> None:
    thread = await slack.console.slash("carol", "list buckets in staging", CHANNEL)
    [prompt] = thread.ephemeral
    assert "not linked" in prompt["text"] and "/aws login" in prompt["text"]
    thread.button("Sign in to CentralOps")
    assert slack.runtime.invocations == []
