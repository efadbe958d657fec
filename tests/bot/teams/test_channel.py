"""Channels and group chats: mentions, threads, one throttled message per answer."""

import itertools

from centralops import events
from infra.local.consoles.teams import CHANNEL
from tests.fixtures.teams_fakes import TeamsStack


async def test_a_channel_mention_is_answered_in_its_thread_without_the_mention_markup(
    teams: TeamsStack,
) -> None:
    teams.runtime.script(
        "how many lambda functions in production?",
        (0, events.status("Counting…")),
        (0, events.text("There are 5 Lambda functions in production.")),
        (0, events.done("s")),
    )

    post = await teams.console.channel(user="alice", text="how many lambda functions in production?")

    assert post.conversation_id.startswith(f"{CHANNEL};messageid=")
    [answer] = post.messages
    assert answer["text"] == "There are 5 Lambda functions in production."
    assert not answer["streamed"] and not answer["targeted_to"]
    body = teams.runtime.calls[0]["body"]
    assert body["prompt"] == "how many lambda functions in production?", "mention markup stripped"
    assert body["context"]["channel"] == CHANNEL
    assert body["context"]["thread"] == post.conversation_id.partition(";messageid=")[2]
    calls = await teams.console.activities(CHANNEL)
    assert not [c for c in calls if c["op"] == "refused"], "no streaming attempted in a channel"
    posts = [c for c in calls if c["op"] in ("send", "reply")]
    assert {c["reply_to"] for c in posts} == {post.activity_id}, "the answer is a reply in the thread"
    assert {c["conversation"] for c in calls} == {post.conversation_id}, "every write stays in the thread"


async def test_a_reply_in_the_thread_continues_the_same_agent_session(teams: TeamsStack) -> None:
    teams.runtime.script("list buckets in staging", (0, events.text("3 buckets")), (0, events.done("s")))
    teams.runtime.script("and in production?", (0, events.text("4 buckets")), (0, events.done("s")))

    first = await teams.console.channel(user="alice", text="list buckets in staging")
    reply = await teams.console.channel(user="alice", text="and in production?", thread=first.conversation_id)
    other = await teams.console.channel(user="alice", text="list buckets in staging")

    sessions = [c["session"] for c in teams.runtime.calls]
    assert sessions[0] == sessions[1], "the reply shares the thread's session"
    assert sessions[2] != sessions[0], "a new post starts a new session"
    assert reply.messages[0]["text"] == "4 buckets"
    assert other.conversation_id != first.conversation_id


async def test_a_group_chat_mention_is_answered_in_one_message(teams: TeamsStack) -> None:
    teams.runtime.script("list buckets in dev", (0, events.text("acme-dev-sandbox")), (0, events.done("s")))

    chat = await teams.console.group(user="bob", text="list buckets in dev")

    assert [m["text"] for m in chat.messages] == ["acme-dev-sandbox"]


async def test_channel_updates_are_throttled_and_the_final_message_is_complete(
    teams_fast: TeamsStack,
) -> None:
    teams = teams_fast
    words = [f"word{i} " for i in range(40)]
    teams.runtime.script(
        "tell me a long story",
        (0, events.status("Thinking…")),
        *[(0.02, events.text(w)) for w in words],
        (0, events.done("s")),
    )

    post = await teams.console.channel(user="alice", text="tell me a long story")

    [answer] = post.messages
    assert answer["text"] == "".join(words).strip(), "the final version holds the whole answer"
    writes = [
        c
        for c in await teams.console.activities(CHANNEL)
        if c["op"] == "update" or (c["op"] in ("reply", "send") and c["id"] == answer["id"])
    ]
    assert 2 <= len(writes) < len(words) / 2, "40 pieces of text, a handful of writes"
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(writes)]
    assert min(gaps) >= 0.3 * 0.9, "never more than one write per update interval"
    assert answer["versions"] == len(writes)
    assert teams.bot.config.update_interval_s == 0.3


async def test_an_unlinked_user_in_a_channel_gets_a_sign_in_card_only_they_see(teams: TeamsStack) -> None:
    post = await teams.console.channel(user="carol", text="list buckets in staging")

    [message] = post.messages
    assert message["targeted_to"] == "29:aad-carol-0003"
    assert post.cards()[0][1]["actions"][0]["type"] == "Action.OpenUrl"
    lookups = [c for c in await teams.console.activities() if c["op"] == "member"]
    assert [c["member"] for c in lookups] == ["29:aad-carol-0003"]
    assert lookups[0]["conversation"] == "19:acme-operations@thread.tacv2", (
        "asked the team, as TeamsInfo does"
    )
    assert await teams.bot.email_lookup(
        "teams", "00000000-0000-4000-8000-00000000c0de", "aad-carol-0003"
    ) == ("carol@example.com")


async def test_an_answer_too_long_for_a_teams_message_continues_in_the_next(teams: TeamsStack) -> None:
    """No file upload in channels: a 60 KB (UTF-16) answer without a line break takes two messages."""
    teams.runtime.script("list every object", (0, events.text("x" * 30_000)), (0, events.done("s")))

    post = await teams.console.channel(user="alice", text="list every object")

    first, _ = post.messages
    assert first["text"].startswith("x" * 1000) and "continued in the next message" in first["text"]
    assert all(len(m["text"]) < 21_000 for m in post.messages)
    assert "".join(m["text"].split("\n")[0] for m in post.messages) == "x" * 30_000
