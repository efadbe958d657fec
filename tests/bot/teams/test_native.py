"""Teams' AI conventions through the real SDK: the AI label, citations per account call, the feedback loop."""

import asyncio
from typing import Any

import pytest

from centralops import events
from tests.fixtures.teams_fakes import TeamsStack
from tests.fixtures.waits import until

EVIL = "<at>x</at> [click](https://evil.example) **bold**"


def script_two_accounts(teams: TeamsStack, prompt: str, account: str = "production") -> None:
    teams.runtime.script(
        prompt,
        (0, events.status("Listing buckets…")),
        (0, events.tool_start("staging", "aws s3 ls")),
        (0, events.tool_start(account, "aws s3 ls")),
        (0.05, events.tool_end("staging", "aws s3 ls", ok=True, ms=42)),
        (0, events.tool_end(account, "aws s3 ls", ok=False, ms=51)),
        (0, events.text("3 buckets in staging; production failed.\n")),
        (0, events.done("s")),
    )


def ai_entity(message: dict[str, Any]) -> dict[str, Any]:
    [entity] = [e for e in message["entities"] if e.get("type") == "https://schema.org/Message"]
    return entity


def item(teams: TeamsStack, key: str) -> dict[str, Any] | None:
    out: dict[str, Any] = teams.dynamodb.get_item(
        TableName=teams.idempotency_table, Key={"key": {"S": key}}, ConsistentRead=True
    )
    return out.get("Item")


def votes(teams: TeamsStack) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = teams.dynamodb.scan(TableName=teams.idempotency_table)["Items"]
    return [i for i in found if i["key"]["S"].startswith("feedback#")]


async def test_a_streamed_answer_is_labelled_cites_each_call_and_takes_feedback(teams: TeamsStack) -> None:
    script_two_accounts(teams, "list buckets everywhere")
    chat = await teams.console.personal(user="alice", text="list buckets everywhere")

    [answer] = chat.messages
    entity = ai_entity(answer)
    assert entity["additionalType"] == ["AIGeneratedContent"]
    assert sorted(
        (c["position"], c["appearance"]["name"], c["appearance"]["abstract"]) for c in entity["citation"]
    ) == [
        (1, "staging", "aws s3 ls"),
        (2, "production", "aws s3 ls"),
    ]
    assert answer["text"].rstrip().endswith("Sources: [1] [2]")
    assert answer["channelData"]["feedbackLoop"] == {"type": "default"}

    turn = await teams.console.feedback("alice", chat, answer["id"], like=False, comment="wrong account")
    assert turn.status == 200
    [vote] = votes(teams)
    assert vote["vote"]["S"] == "down" and vote["comment"]["S"] == "wrong account"
    assert vote["question"]["S"] == "list buckets everywhere"
    assert [c["M"]["account"]["S"] for c in vote["commands"]["L"]] == ["staging", "production"]


async def test_a_channel_answer_is_labelled_and_its_citations_are_inert(teams: TeamsStack) -> None:
    script_two_accounts(teams, "list buckets in two accounts", account=EVIL)
    post = await teams.console.channel(user="alice", text="list buckets in two accounts")

    [answer] = post.messages
    entity = ai_entity(answer)
    names = [c["appearance"]["name"] for c in sorted(entity["citation"], key=lambda c: c["position"])]
    assert names[0] == "staging" and names[1].startswith("<at>x</at>")  # shown as written, never a mention
    assert answer["text"].endswith("Sources: [1] [2]")
    assert answer["channelData"]["feedbackLoop"] == {"type": "default"}
    await teams.console.feedback("bob", post, answer["id"], like=True)
    [vote] = votes(teams)
    assert vote["vote"]["S"] == "up"


async def test_feedback_on_an_unknown_message_records_nothing(teams: TeamsStack) -> None:
    teams.runtime.script("q", (0, events.text("ok")), (0, events.done("s")))
    chat = await teams.console.personal(user="alice", text="q")
    turn = await teams.console.feedback("bob", chat, "1699999999999", like=False)
    assert turn.status == 200
    await asyncio.sleep(0.2)
    assert votes(teams) == []
    # An answer that ran nothing is still labelled, with no citations to refer to.
    entity = ai_entity(chat.messages[0])
    assert entity["additionalType"] == ["AIGeneratedContent"] and not entity.get("citation")
    assert "Sources" not in chat.messages[0]["text"]


def slow(teams: TeamsStack, prompt: str) -> asyncio.Event:
    """An answer that keeps working until the returned gate is set: its end never comes before a Stop."""
    end = asyncio.Event()
    steps: list[Any] = [
        (0, events.status("Listing buckets…")),
        (0, events.tool_start("staging", "aws s3 ls")),
    ]
    steps += [(0.3, events.status("Listing buckets…")) for _ in range(40)]  # about 12 s of work
    steps += [(end, events.text("too late\n")), (0, events.done("s"))]
    teams.runtime.script(prompt, *steps)
    return end


async def test_stop_on_a_channel_answer_ends_the_turn(teams: TeamsStack) -> None:
    end = slow(teams, "list buckets slowly")
    post = await teams.console.channel(user="alice", text="list buckets slowly", wait=False)

    async def stop_offered() -> Any:
        return [
            (m["id"], c)
            for m in await teams.console.messages(post.conversation_id)
            for a in m["attachments"]
            for c in [a["content"]]
            if any(x.get("verb") == "stop" for x in c.get("actions") or [])
        ]

    for _ in range(100):
        offered = await stop_offered()
        if offered:
            break
        await asyncio.sleep(0.1)
    [(message_id, card)] = offered
    data = card["actions"][0]["data"]
    other, _ = await teams.console.click("bob", post, message_id, "stop", data, wait=False)
    assert other.body["value"] == "Only the person who asked can stop this answer."
    turn, _ = await teams.console.click("alice", post, message_id, "stop", data, wait=False)
    assert turn.body["value"] == "Stopping this answer…"
    settled = await teams.console.settle(post.conversation_id, set(), timeout_s=30)
    [answer] = settled
    assert "Stopped, as you asked" in answer["text"] and "too late" not in answer["text"]
    assert not answer["attachments"], "the Stop button is gone once the answer is final"
    end.set()
    await until(lambda: teams.runtime.closed_early == ["list buckets slowly"])


@pytest.mark.parametrize("after_s", [1.0, 3.5])
async def test_teams_own_stop_on_a_1on1_stream_ends_the_turn(teams: TeamsStack, after_s: float) -> None:
    # The status stays the same throughout, so after the first second the bot has nothing new to
    # show: Stop pressed then is noticed only because a quiet stream is still touched.
    end = slow(teams, "list buckets slowly")
    chat = await teams.console.personal(user="alice", text="list buckets slowly", wait=False)

    async def streaming() -> bool:
        return any(m["streamed"] for m in await teams.console.messages(chat.conversation_id))

    await until(streaming)  # the person presses Stop on the message streaming,
    await asyncio.sleep(after_s)  # at least this long after it began (the answer waits for the test)
    await teams.console._http.post(
        f"{teams.console.connector_url}/_stand-in/config", json={"stop_stream": chat.conversation_id}
    )
    for _ in range(300):  # Teams has marked the stream stopped; the bot's notice follows
        shown = await teams.console.messages(chat.conversation_id)
        if any("Stopped, as you asked" in m["text"] for m in shown):
            break
        await asyncio.sleep(0.1)
    assert any("Stopped, as you asked" in m["text"] for m in shown)
    end.set()  # the agent's late words reach a closed stream, never the chat
    await until(lambda: teams.runtime.closed_early == ["list buckets slowly"])
    assert not any("too late" in m["text"] for m in await teams.console.messages(chat.conversation_id))
