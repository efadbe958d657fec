"""An approved run in Teams survives the replica that resumed it: its conversation reference is kept in
the outbox, and another replica's sweeper resumes it into the same conversation and thread."""

import time
import uuid

from bot.dynamo import DynamoTable
from bot.outbox import OutboxStore, Sweeper
from centralops import events
from tests.bot.teams.test_cards import _request_approval
from tests.fixtures.slack_stack import create_outbox_table
from tests.fixtures.teams_fakes import TeamsStack


async def test_a_kept_teams_run_is_resumed_by_another_replica_in_its_thread(teams: TeamsStack) -> None:
    name = f"outbox-{uuid.uuid4().hex[:8]}"
    create_outbox_table(teams.dynamodb, name)
    store = OutboxStore(DynamoTable(name, client=teams.dynamodb), lease_s=30)
    teams.bot.conversation.outbox = store
    post, card_id = await _request_approval(teams, "appr-durable-0001")
    teams.runtime.script("resume:approved", (0, events.text("Stopped i-0abc.")), (0, events.done("s")))
    await teams.console.click("bob", post, card_id, "approve", {"approval_id": "appr-durable-0001"})
    await teams.bot.background.drain(timeout_s=10)
    key = {"answer_id": {"S": "run:appr-durable-0001"}}
    item = teams.dynamodb.get_item(TableName=name, Key=key)["Item"]
    assert item["state"]["S"] == "delivered" and '"reference"' in item["extra"]["S"]
    assert "token" not in item["extra"]["S"].lower()

    # As if the replica had stopped before it could mark the run delivered: another replica takes it.
    teams.dynamodb.update_item(
        TableName=name,
        Key=key,
        UpdateExpression="SET #s = :open, lease_until = :past, pending = :one",
        ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues={
            ":open": {"S": "open"},
            ":past": {"N": str(time.time() - 1)},
            ":one": {"S": "1"},
        },
    )
    teams.runtime.script(
        "resume:approved",
        (0, events.text("It already ran once; its result: Stopped i-0abc (kept).")),
        (0, events.done("s")),
    )
    other = Sweeper(
        OutboxStore(DynamoTable(name, client=teams.dynamodb)), {}, resume={"teams": teams.bot.resume_run}
    )
    assert await other.sweep() == 1
    await teams.bot.background.drain(timeout_s=10)
    assert teams.runtime.calls[-1]["body"]["resume"] == {
        "approval_id": "appr-durable-0001",
        "decision": "approved",
    }
    assert teams.runtime.calls[-1]["body"]["context"]["user"] == "aad-alice-0001"
    shown = " ".join(str(m) for m in await teams.console.messages(post.conversation_id))
    assert "Stopped i-0abc (kept)." in shown
    assert teams.dynamodb.get_item(TableName=name, Key=key)["Item"]["state"]["S"] == "delivered"
