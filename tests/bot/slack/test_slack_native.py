"""Slack's AI app conventions through the real Bolt app: feedback, the assistant view, App Home re-ask."""

import asyncio
import time
from typing import Any

import pytest

from bot.conversation import Conversation
from bot.feedback import week_of
from bot.server import CONVERSATION_KEY
from bot.slack.feedback import FEEDBACK
from centralops import events, metrics
from tests.fixtures import emf
from tests.fixtures.slack_stack import CHANNEL, TEAM, SlackStack
from tests.fixtures.slack_stack import slack as slack
from tests.fixtures.slack_stack import slack_cognito as slack_cognito

BOT = {"service": "bot"}


def script_staging(slack: SlackStack, prompt: str = "list buckets in staging") -> None:
    slack.runtime.script(
        prompt,
        [
            events.status("Listing buckets"),
            events.tool_start("staging", "aws s3 ls"),
            events.tool_end("staging", "aws s3 ls", ok=True, ms=120),
            events.text("3 buckets in staging.\n"),
            events.done("s"),
        ],
    )


def item(slack: SlackStack, key: str) -> dict[str, Any] | None:
    out: dict[str, Any] = slack.dynamodb.get_item(
        TableName=slack.tables["idempotency"], Key={"key": {"S": key}}, ConsistentRead=True
    )
    return out.get("Item")


async def until(check: Any, wait_s: float = 30) -> Any:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        found = await check() if asyncio.iscoroutinefunction(check) else check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise TimeoutError("condition not met")


def conversation(slack: SlackStack) -> Conversation:
    """The test stack's bot core."""
    [app] = [r.app for r in slack.runners if CONVERSATION_KEY in r.app]
    return app[CONVERSATION_KEY]


def told(slack: SlackStack, user: str, words: str) -> list[dict[str, Any]]:
    """Private replies to ``user`` that say ``words``."""
    return [e for e in slack.stand_in.ephemeral if e["user"] == user and words in e["text"]]


def feedback_elements(thread_messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        e
        for m in thread_messages
        for b in m.get("blocks") or []
        if b.get("type") == "context_actions"
        for e in b["elements"]
    ]


async def test_every_answer_carries_feedback_and_a_vote_is_kept_with_what_was_asked_and_run(
    slack: SlackStack, capsys: pytest.CaptureFixture[str]
) -> None:
    script_staging(slack)
    thread = await slack.console.slash("alice", "list buckets in staging", CHANNEL)
    [buttons] = feedback_elements(thread.messages)
    assert buttons["type"] == "feedback_buttons" and buttons["action_id"] == FEEDBACK
    answer_id = buttons["negative_button"]["value"].split(":", 1)[1]

    await slack.console.rate("bob", thread, positive=False)
    key = f"feedback#{answer_id}#slack#{TEAM}#U0BOB"
    vote = await until(lambda: item(slack, key))
    assert vote["vote"]["S"] == "down"
    assert vote["question"]["S"] == "list buckets in staging"
    assert vote["commands"]["L"] == [{"M": {"account": {"S": "staging"}, "command": {"S": "aws s3 ls"}}}]
    assert vote["session_id"]["S"].startswith("centralops-") and "trace_id" in vote
    week = item(slack, f"feedback-week#slack#{TEAM}#{week_of(time.time())}")
    assert week is not None and week["down"]["N"] == "1"

    # The same vote again is not counted twice; changing one's mind moves the count.
    await slack.console.rate("bob", thread, positive=False)
    await until(lambda: told(slack, "U0BOB", "already recorded"))
    await slack.console.rate("bob", thread, positive=True)
    moved = await until(
        lambda: (
            (w := item(slack, f"feedback-week#slack#{TEAM}#{week_of(time.time())}"))
            and w.get("up", {}).get("N") == "1"
            and w
        )
    )
    assert moved["down"]["N"] == "0"
    found = emf.values(capsys.readouterr().out)
    assert emf.total(found, metrics.FEEDBACK_NEGATIVE, Platform="slack", **BOT) == 1
    assert emf.total(found, metrics.FEEDBACK_POSITIVE, Platform="slack", **BOT) == 1


async def test_a_forged_or_unknown_answer_id_records_nothing(slack: SlackStack) -> None:
    script_staging(slack)
    thread = await slack.console.slash("alice", "list buckets in staging", CHANNEL)
    await slack.console.rate("bob", thread, positive=False, value="down:0123456789abcdef0123456789abcdef")
    await until(lambda: told(slack, "U0BOB", "too old to rate"))
    await slack.console.rate("bob", thread, positive=False, value="down:../../x")
    await asyncio.sleep(0.5)
    assert item(slack, f"feedback-week#slack#{TEAM}#{week_of(time.time())}") is None


async def test_app_home_offers_one_click_re_ask_and_admins_see_the_weekly_rate(slack: SlackStack) -> None:
    script_staging(slack)
    thread = await slack.console.slash("alice", "list buckets in staging", CHANNEL)
    await slack.console.rate("bob", thread, positive=False)
    await until(lambda: item(slack, f"feedback-week#slack#{TEAM}#{week_of(time.time())}"))

    alice = await slack.console.open_home("alice")
    assert "Answers rated" not in str(alice["blocks"])  # alice is no admin
    bob = await slack.console.open_home("bob")  # bob is an approver: an admin
    text = str(bob["blocks"])
    assert "1 of 1 thumbs down (100%)" in text
    assert "*legacy*" in text and "disabled" in text

    await slack.console.home_click("alice", "Ask again")
    answer = await until(
        lambda: [m for m in slack.stand_in.messages.get("D0ALICE", []) if "3 buckets" in m.get("text", "")]
    )
    assert answer[0]["thread_ts"]  # in a thread of alice's DM with the app
    again = slack.runtime.invocations[-1]
    assert again.body["prompt"] == "list buckets in staging" and again.body["context"]["user"] == "U0ALICE"


async def test_the_assistant_suggests_prompts_for_the_channel_being_viewed(slack: SlackStack) -> None:
    script_staging(slack)
    await slack.console.slash("alice", "list buckets in staging", CHANNEL)
    ts = await slack.console.assistant_thread("alice", viewing=CHANNEL)

    async def offered() -> Any:
        return (await slack.console.assistant()).get(f"D0ALICE:{ts}", {}).get("prompts") and (
            await slack.console.assistant()
        )[f"D0ALICE:{ts}"]

    state = await until(offered)
    assert state["prompts"][0] == {"title": "Buckets in staging", "message": "list buckets in staging"}
    assert state["prompts_title"] == "Asked about in this channel"
    # Viewing another channel: no usual accounts there, so the accounts alice may query.
    await slack.console.assistant_viewing("alice", ts, "C0OTHER")

    async def changed() -> Any:
        t = (await slack.console.assistant()).get(f"D0ALICE:{ts}", {})
        return t if t.get("prompts_title") == "Try asking" else None

    assert (await until(changed))["prompts"]


async def test_an_unlinked_person_is_offered_to_link_in_the_assistant(slack: SlackStack) -> None:
    ts = await slack.console.assistant_thread("carol", viewing=CHANNEL)

    async def prompts() -> Any:
        return (await slack.console.assistant()).get(f"D0CAROL:{ts}", {}).get("prompts")

    assert (await until(prompts))[0] == {"title": "Link my account", "message": "login"}


async def test_a_question_in_an_assistant_thread_gets_a_title_loading_states_and_the_answer(
    slack: SlackStack,
) -> None:
    script_staging(slack)
    ts = await slack.console.assistant_thread("alice")
    thread = await slack.console.assistant_ask("alice", ts, "list buckets in staging")
    assert "3 buckets in staging." in thread.answers()[-1]["text"]
    state = (await slack.console.assistant())[f"D0ALICE:{ts}"]
    assert state["title"] == "list buckets in staging"
    assert state["statuses"][:2] == ["is working on it…", "Listing buckets"]


def slow_answer(slack: SlackStack, prompt: str, *, approval: dict[str, Any] | None = None) -> asyncio.Event:
    """An answer that keeps working until the returned gate is set: its end never comes before a Stop."""
    end = asyncio.Event()
    steps: list[Any] = [events.status("Listing buckets"), events.tool_start("staging", "aws s3 ls")]
    if approval is not None:
        steps.append(approval)
    for _ in range(40):  # the agent keeps working (and writing) for about 12 s
        steps += [0.3, events.status("Listing buckets")]
    steps += [end, events.text("too late\n"), events.done("s")]
    slack.runtime.script(prompt, steps)
    return end


async def closed(thread: Any) -> None:
    """Wait for the answer to close (private replies do not count)."""

    async def done() -> Any:
        await thread.refresh()
        return thread.answers()

    await until(done, 30)


async def stop_button(slack: SlackStack, user: str) -> dict[str, Any]:
    def offered() -> Any:
        return [m for m in slack.stand_in.messages.get(CHANNEL, []) if "centralops_stop" in str(m["blocks"])]

    [message] = await until(offered)
    assert message["thread_ts"] and "can stop this answer" in str(message["blocks"])
    return message


async def test_stop_ends_the_agents_turn_and_says_so(slack: SlackStack) -> None:
    end = slow_answer(slack, "list buckets slowly")
    thread = await slack.console.slash("alice", "list buckets slowly", CHANNEL, wait=False)
    offer = await stop_button(slack, "U0ALICE")
    thread.ts = offer["thread_ts"]
    # Someone else's click stops nothing.
    await slack.console.click("bob", thread, "Stop", on=offer, wait=False)
    await until(lambda: [e for e in slack.stand_in.ephemeral if "Only the person who asked" in e["text"]])
    assert slack.runtime.closed_early == []
    await slack.console.click("alice", thread, "Stop", on=offer, wait=False)
    await closed(thread)
    [answer] = thread.answers()
    assert "Stopped, as you asked" in thread.render() and "too late" not in thread.render()
    assert answer["metadata"]["event_payload"]["status"] == "error"
    end.set()  # whatever the agent still writes goes nowhere
    await until(lambda: slack.runtime.closed_early == ["list buckets slowly"])


async def test_stopping_a_turn_withdraws_the_approval_it_asked_for(slack: SlackStack) -> None:
    thread_ts = "pending"
    approval_id = slack.put_approval(
        requester="alice@example.com",
        thread={
            "platform": "slack",
            "team": TEAM,
            "channel": CHANNEL,
            "thread": thread_ts,
            "user": "U0ALICE",
        },
        command="aws ec2 stop-instances --instance-ids i-0abc",
        accounts=["333333333333"],
    )
    approval = {
        "type": "approval",
        "approval_id": approval_id,
        "command": "aws ec2 stop-instances --instance-ids i-0abc",
        "accounts": ["333333333333"],
        "reason": "changes production",
        "risk": "mutating",
    }
    end = slow_answer(slack, "stop i-0abc", approval=approval)
    thread = await slack.console.slash("alice", "stop i-0abc", CHANNEL, wait=False)
    offer = await stop_button(slack, "U0ALICE")
    thread.ts = offer["thread_ts"]
    await slack.console.click("alice", thread, "Stop", on=offer, wait=False)
    await closed(thread)
    assert "The approval it asked for was withdrawn" in thread.render()
    stored = slack.approval(approval_id)
    assert stored["status"]["S"] == "denied"
    end.set()


async def test_a_stop_after_the_answer_finished_changes_nothing(slack: SlackStack) -> None:
    offered = asyncio.Event()  # the answer ends only once the test has seen its Stop button
    steps: list[Any] = [events.status("Listing buckets"), offered]
    steps += [0.3, events.status("Listing buckets")] * 2
    slack.runtime.script("q", [*steps, events.text("3 buckets.\n"), events.done("s")])
    thread = await slack.console.slash("alice", "q", CHANNEL, wait=False)
    offer = await stop_button(slack, "U0ALICE")  # as alice's screen still shows it
    thread.ts = offer["thread_ts"]
    offered.set()
    await closed(thread)
    assert "centralops_stop" not in str(thread.messages), "the Stop message went when the answer closed"
    await slack.console.click("alice", thread, "Stop", on=offer, wait=False)
    await until(lambda: told(slack, "U0ALICE", "already finished"))
    assert "Stopped" not in thread.render() and "3 buckets." in thread.render()


async def test_a_quick_answer_offers_no_stop_and_records_no_turn(slack: SlackStack) -> None:
    # An answer done before stop_after_s neither shows Stop nor writes a turn record. The threshold is
    # raised past any answer's time here, so a loaded machine cannot make the quick answer a slow one.
    conversation(slack).stop_after_s = 60.0
    slack.runtime.script("quick", [events.text("3 buckets.\n"), events.done("s")])
    thread = await slack.console.slash("alice", "quick", CHANNEL)
    assert "3 buckets." in thread.render()
    assert not [m for m in slack.stand_in.messages.get(CHANNEL, []) if "centralops_stop" in str(m["blocks"])]
    items = await asyncio.to_thread(slack.dynamodb.scan, TableName=slack.tables["idempotency"])
    assert not [i for i in items["Items"] if i["key"]["S"].startswith("turn#")]
