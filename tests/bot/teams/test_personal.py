"""A 1:1 chat: commands and a streamed answer, through the real SDK and the Connector stand-in."""

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
