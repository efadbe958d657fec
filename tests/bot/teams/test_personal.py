"""A 1:1 chat: commands and a streamed answer, through the real SDK and the Connector stand-in."""

import pytest

from centralops import events
from tests.fixtures.teams_fakes import TeamsStack


async def test_a_question_in_a_1on1_chat_streams_and_ends_with_the_whole_answer(teams: TeamsStack) -> None:
    teams.runtime.script(
        "list buckets in staging",
        (0, events.status("Resolving accounts…")),
        (0, events.tool_start("staging", "aws s3 ls")),
        (0.05, events.tool_end("staging", "aws s3 ls", ok=True, ms=42)),
        (0, events.text("Buckets in *staging*:\n")),
        (0, events.text("- acme-staging-assets\n- acme-staging-logs\n")),
        (
            0,
            events.followups(
                [{"label": "Objects", "prompt": "list objects in acme-staging-assets in staging"}]
            ),
        ),
        (0, events.done("s")),
    )

    chat = await teams.console.personal(user="alice", text="list buckets in staging")

    assert chat.turn.status in (200, 202)
    [answer] = chat.messages
    assert answer["streamed"] and answer["final"]
    assert "acme-staging-assets" in answer["text"] and "acme-staging-logs" in answer["text"]
    assert chat.cards("followup"), "the final message carries the follow-up card"
    calls = await teams.console.activities(chat.conversation_id)
    informative = [
        c
        for c in calls
        if c["type"] == "typing"
        and any(e.get("streamType") == "informative" for e in c["activity"].get("entities", []))
    ]
    assert informative, "progress went out as informative streaming updates"
    assert any("staging" in (c["activity"].get("text") or "") for c in informative)
    body = teams.runtime.calls[0]["body"]
    assert body["context"]["platform"] == "teams" and body["context"]["user"] == "aad-alice-0001"
    assert body["access_token"], "the linked user's Cognito ID token went to the Runtime"


async def test_an_unlinked_user_gets_a_sign_in_card_bound_to_their_tenant_and_entra_id(
    teams: TeamsStack,
) -> None:
    chat = await teams.console.personal(user="carol", text="list buckets in staging")

    [(_, card)] = chat.cards()
    [button] = card["actions"]
    assert button["type"] == "Action.OpenUrl" and "/auth/start?state=" in button["url"]
    assert "not linked" in chat.text_of_all()
    state = button["url"].split("state=")[1]
    pending = await teams.identity.oauth_states.peek(state)
    assert pending is not None
    assert pending.link_id == "teams#00000000-0000-4000-8000-00000000c0de#aad-carol-0003"
    assert teams.runtime.calls == [], "nothing was asked anonymously"
    assert await teams.bot.email_lookup("teams", pending.team, pending.user) == "carol@example.com", (
        "the callback can compare the Cognito email with the Teams profile's"
    )


async def test_login_answers_with_the_sign_in_card_and_whoami_names_the_link(teams: TeamsStack) -> None:
    login = await teams.console.personal(user="alice", text="login")
    whoami = await teams.console.personal(user="alice", text="whoami")

    [(_, card)] = login.cards()
    assert card["actions"][0]["url"].startswith("http://127.0.0.1:3000/auth/start?state=")
    assert "alice@example.com" in whoami.text_of_all()


async def test_a_typed_bot_name_in_a_1on1_chat_is_ignored(teams: TeamsStack) -> None:
    chat = await teams.console.personal(user="alice", text="@CentralOps help")

    assert "run <aws cli command> in <account>" in chat.text_of_all()
    assert teams.runtime.calls == []


async def test_a_redelivered_activity_is_answered_once(teams: TeamsStack) -> None:
    teams.runtime.script(
        "how many lambda functions in production?", (0, events.text("5")), (0, events.done("s"))
    )
    console = teams.console
    activity = console.message_activity(  # the exact same delivery, twice, as Teams retries it
        "alice",
        "how many lambda functions in production?",
        console.personal_conversation("alice"),
        {},
        mention=False,
    )
    first = await console.post(activity)
    second = await console.post(activity)
    await teams.bot.background.drain()

    assert first.status in (200, 202) and second.status in (200, 202)
    assert len(teams.runtime.calls) == 1


async def test_two_questions_in_one_chat_stream_one_after_the_other(teams: TeamsStack) -> None:
    teams.runtime.script("first question", (0.3, events.text("first answer")), (0, events.done("s")))
    teams.runtime.script("second question", (0, events.text("second answer")), (0, events.done("s")))
    console = teams.console

    await console.personal(user="alice", text="first question", wait=False)
    await console.personal(user="alice", text="second question", wait=False)
    await teams.bot.background.drain()

    messages = await console.messages("a:1on1-aad-alice-0001")
    assert sorted(m["text"] for m in messages) == ["first answer", "second answer"]
    assert all(m["streamed"] and m["final"] for m in messages)
    calls = [c for c in await console.activities("a:1on1-aad-alice-0001") if c["op"] == "reply"]
    first_stream_end = next(i for i, c in enumerate(calls) if c["type"] == "message")
    stream_ids = {
        e.get("streamId")
        for c in calls[: first_stream_end + 1]
        for e in c["activity"].get("entities", [])
        if e.get("streamId")
    }
    assert len(stream_ids) == 1, "no second stream started before the first one ended"


async def test_a_failure_inside_the_turn_tells_the_person_without_leaking_the_error(
    teams: TeamsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_claim(key: str) -> bool:
        raise RuntimeError("secret internal detail")

    assert teams.bot.guard is not None
    monkeypatch.setattr(teams.bot.guard, "claim", broken_claim)

    chat = await teams.console.personal(user="alice", text="list buckets in staging")

    [message] = chat.messages
    assert "problem on its side" in message["text"]
    assert "secret internal detail" not in message["text"]
    assert teams.runtime.calls == []


async def test_installing_the_app_in_a_1on1_chat_greets_with_how_to_start(teams: TeamsStack) -> None:
    chat = await teams.console.install("carol")

    [welcome] = chat.messages
    assert "**CentralOps**" in welcome["text"] and "@CentralOps login" in welcome["text"]
