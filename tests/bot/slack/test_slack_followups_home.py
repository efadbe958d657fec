"""Follow-up buttons run as whoever clicks them; the App Home tab shows link, accounts and recent queries."""

from centralops import events
from tests.fixtures.slack_stack import CHANNEL, SlackStack
from tests.fixtures.slack_stack import slack as slack
from tests.fixtures.slack_stack import slack_cognito as slack_cognito


async def test_follow_up_click_runs_as_the_clicker_in_the_same_thread(slack: SlackStack) -> None:
    slack.runtime.script(
        "list buckets in staging",
        [
            events.text("3 buckets."),
            events.followups([{"label": "Count objects", "prompt": "count objects in acme-staging-logs"}]),
            events.done("s"),
        ],
    )
    slack.runtime.script(
        "count objects in acme-staging-logs", [events.text("120 objects."), events.done("s")]
    )
    thread = await slack.console.slash("alice", "list buckets in staging", CHANNEL)
    after = await slack.console.click("dave", thread, "Count objects")
    first, followup = slack.runtime.invocations
    assert followup.body["prompt"] == "count objects in acme-staging-logs"
    assert followup.body["context"]["user"] == "U0DAVE"
    assert slack.identity.claims(followup.bearer)["cognito:username"] == "dave@example.com"
    assert followup.session_id == first.session_id
    assert after.answers()[-1]["text"] == "120 objects."
    assert after.answers()[-1]["thread_ts"] == thread.ts


async def test_follow_up_click_by_an_unlinked_person_asks_them_to_link(slack: SlackStack) -> None:
    slack.runtime.script(
        "q", [events.text("ok"), events.followups([{"label": "More", "prompt": "more"}]), events.done("s")]
    )
    thread = await slack.console.slash("alice", "q", CHANNEL)
    after = await slack.console.click("carol", thread, "More")
    assert "/aws login" in after.ephemeral[0]["text"]
    assert len(slack.runtime.invocations) == 1


async def test_app_home_shows_link_accounts_and_recent_queries(slack: SlackStack) -> None:
    await slack.console.slash("alice", "list buckets in staging", CHANNEL)
    view = await slack.console.open_home("alice")
    text = str(view["blocks"])
    assert "Linked to *alice@example.com*" in text
    assert "*production*" in text and "*legacy*" not in text
    assert "list buckets in staging" in text


async def test_app_home_of_an_unlinked_person_offers_sign_in(slack: SlackStack) -> None:
    view = await slack.console.open_home("carol")
    buttons = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons[0]["url"].startswith("http://127.0.0.1:9/auth/start")
