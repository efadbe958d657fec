"""What one Slack answer writes to DynamoDB after it reached the thread: one transaction holding the
delivery mark, the feedback record, the channel's accounts and the person's recent query."""

import asyncio
import collections
from typing import Any

from centralops import events
from tests.fixtures.slack_stack import CHANNEL, TEAM, SlackStack
from tests.fixtures.slack_stack import slack as slack
from tests.fixtures.slack_stack import slack_cognito as slack_cognito
from tests.fixtures.waits import until


def script(slack: SlackStack, prompt: str) -> None:
    slack.runtime.script(
        prompt,
        [
            events.tool_start("staging", "aws s3 ls"),
            events.tool_end("staging", "aws s3 ls", ok=True, ms=8),
            events.text("Staging has 3 buckets.\n"),
            events.done("s"),
        ],
    )


def count_calls(slack: SlackStack) -> collections.Counter[str]:
    """DynamoDB operations the bot sends through its client, counted by name."""
    calls: collections.Counter[str] = collections.Counter()

    def seen(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    slack.dynamodb.meta.events.register("before-call.dynamodb", seen)
    return calls


def item(slack: SlackStack, key: str) -> dict[str, Any]:
    found: dict[str, Any] = slack.dynamodb.get_item(
        TableName=slack.tables["idempotency"], Key={"key": {"S": key}}, ConsistentRead=True
    ).get("Item", {})
    return found


async def test_one_answer_makes_one_write_after_it_is_delivered_holding_every_record(
    slack: SlackStack,
) -> None:
    script(slack, "how many buckets in staging")
    calls = count_calls(slack)
    thread = await slack.console.slash("alice", "how many buckets in staging", CHANNEL)

    def delivered() -> dict[str, Any] | None:  # the delivery mark follows the closing message
        items = slack.dynamodb.scan(TableName=slack.tables["outbox"], ConsistentRead=True)["Items"]
        return items[0] if items and items[0]["state"]["S"] == "delivered" else None

    outbox = await until(delivered)
    await asyncio.sleep(0.3)  # nothing more is written after it
    assert "Staging has 3 buckets." in thread.render()
    assert "pending" not in outbox
    assert calls["PutItem"] == 1  # the outbox item, which claims the delivery: no claim of its own
    assert calls["TransactWriteItems"] == 1
    assert calls["UpdateItem"] == 0  # no delivery mark, recent query or channel usage of its own
    answers = slack.dynamodb.scan(
        TableName=slack.tables["idempotency"],
        FilterExpression="begins_with(#k, :a)",
        ExpressionAttributeNames={"#k": "key"},
        ExpressionAttributeValues={":a": {"S": "answer#"}},
    )["Items"]
    assert [a["question"]["S"] for a in answers] == ["how many buckets in staging"]
    assert answers[0]["commands"]["L"][0]["M"]["account"]["S"] == "staging"
    assert item(slack, f"usage#slack#{TEAM}#{CHANNEL}")["accounts"]["SS"] == ["staging"]
    view = await slack.console.open_home("alice")
    assert "how many buckets in staging" in str(view["blocks"])


async def test_a_full_recent_list_is_cut_back_and_the_answer_still_recorded(slack: SlackStack) -> None:
    from bot.history import CAP

    key = f"recent#slack#{TEAM}#U0ALICE"
    slack.dynamodb.put_item(
        TableName=slack.tables["idempotency"],
        Item={"key": {"S": key}, "queries": {"L": [{"S": f"old question {i}"} for i in range(CAP)]}},
    )
    script(slack, "one more question")
    await slack.console.slash("alice", "one more question", CHANNEL)

    def recorded() -> list[str]:
        queries = [q["S"] for q in item(slack, key)["queries"]["L"]]
        return queries if queries[-1] == "one more question" else []

    queries = await until(recorded)  # the refused transaction's writes are made one by one
    assert len(queries) < CAP
    [outbox] = slack.dynamodb.scan(TableName=slack.tables["outbox"], ConsistentRead=True)["Items"]
    assert outbox["state"]["S"] == "delivered"
    assert item(slack, f"usage#slack#{TEAM}#{CHANNEL}")["accounts"]["SS"] == ["staging"]


async def test_a_question_delivered_twice_to_two_replicas_is_answered_once_and_leaves_one_question(
    slack: SlackStack,
) -> None:
    # The answer's outbox item is its claim: the delivery that creates it second withdraws its question.
    script(slack, "how many buckets in staging")
    second_bot = await slack.add_bot()
    body = slack.console.slash_body("alice", "how many buckets in staging", CHANNEL)
    form = "application/x-www-form-urlencoded"
    first, again = await asyncio.gather(
        slack.console.post(body, form), slack.console.post(body, form, bot_url=second_bot)
    )
    assert first.status_code == again.status_code == 200

    def settled() -> bool:
        # Both deliveries posted their question; the one that lost the claim removed its own and stopped.
        posted = [c for c in slack.stand_in.calls if c["method"] == "chat.postMessage" and c.get("ok")]
        withdrawn = [c for c in slack.stand_in.calls if c["method"] == "chat.delete" and c.get("ok")]
        outbox = slack.dynamodb.scan(TableName=slack.tables["outbox"], ConsistentRead=True)["Items"]
        delivered = [i for i in outbox if i["state"]["S"] == "delivered"]
        return len(posted) >= 2 and bool(withdrawn) and bool(delivered)

    await until(settled, within_s=30)
    messages = await slack.console.channel_messages(CHANNEL)
    answers = [m for m in messages if (m.get("metadata") or {}).get("event_type") == "centralops_answer"]
    questions = [m for m in messages if not m.get("thread_ts") or m.get("thread_ts") == m.get("ts")]
    assert len(answers) == 1
    assert len(questions) == 1 and answers[0]["thread_ts"] == questions[0]["ts"]
    assert len(slack.runtime.invocations) == 1
    [outbox] = slack.dynamodb.scan(TableName=slack.tables["outbox"], ConsistentRead=True)["Items"]
    assert outbox["state"]["S"] == "delivered"


async def test_a_command_that_changes_something_is_claimed_before_it_runs(slack: SlackStack) -> None:
    body = slack.console.slash_body("alice", "logout", CHANNEL)
    form = "application/x-www-form-urlencoded"
    await asyncio.gather(slack.console.post(body, form), slack.console.post(body, form))
    await until(lambda: [m for m in slack.stand_in.ephemeral if m["user"] == "U0ALICE"], within_s=30)
    await asyncio.sleep(0.5)  # a second run of the command would have said so by now
    told = [m["text"] for m in slack.stand_in.ephemeral if m["user"] == "U0ALICE"]
    assert len(told) == 1 and "Unlinked" in told[0]
