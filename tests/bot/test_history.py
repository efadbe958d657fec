"""Recent queries: one write per query, no read; newest first, distinct, at most KEEP; bounded in size."""

import uuid

import boto3

from bot import history
from bot.chat import ChatUser
from bot.dynamo import DynamoTable
from bot.history import RecentQueries


def _table(moto_url: str) -> DynamoTable:
    client = boto3.client(
        "dynamodb",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    name = f"history-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return DynamoTable(name, client=client)


class Counting(DynamoTable):
    """A table that records the operations called on it."""

    def __init__(self, inner: DynamoTable) -> None:
        super().__init__(inner.name, client=inner.client)
        self.ops: list[str] = []

    async def call(self, operation, **kwargs):  # type: ignore[no-untyped-def]
        self.ops.append(str(operation))
        return await super().call(operation, **kwargs)


async def test_recording_a_query_is_one_write_and_the_list_is_newest_first_and_distinct(
    moto_url: str,
) -> None:
    table = Counting(_table(moto_url))
    recent = RecentQueries(table)
    who = ChatUser(platform="slack", team="T1", user="U1", name="alice")
    for q in ("list buckets in staging", "and in production?", "list buckets in staging"):
        await recent.add(who, q)
    assert table.ops == ["update_item"] * 3
    assert await recent.list(who) == ["list buckets in staging", "and in production?"]
    other = ChatUser(platform="slack", team="T1", user="U2", name="bob")
    assert await recent.list(other) == []


async def test_the_stored_list_stays_bounded(moto_url: str) -> None:
    table = _table(moto_url)
    recent = RecentQueries(table)
    who = ChatUser(platform="slack", team="T1", user="U9", name="carol")
    for i in range(history.CAP + 5):
        await recent.add(who, f"query {i}")
    shown = await recent.list(who)
    assert shown == [f"query {i}" for i in range(history.CAP + 4, history.CAP - 6, -1)]
    item = table.client.get_item(TableName=table.name, Key={"key": {"S": "recent#slack#T1#U9"}})["Item"]
    assert len(item["queries"]["L"]) <= history.CAP
