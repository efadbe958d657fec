"""Teams activities → who, where, what: the identity keys, thread ids and text the core sees."""

from microsoft_agents.activity import Activity

from bot.chat import ChatPlace
from bot.teams.activities import clean_text, continuation, conversation_id, inbound, split_conversation
from bot.teams.cards import teams_markdown
from infra.local.consoles.teams import CHANNEL, TeamsConsole

console = TeamsConsole("http://127.0.0.1:9", "http://127.0.0.1:9")


def _channel_post(text: str, thread: str | None = None) -> Activity:
    activity = console.message_activity(
        "alice", text, {}, {"team": {"id": "19:team@thread.tacv2"}}, mention=True
    )
    activity["conversation"] = {
        "id": thread or f"{CHANNEL};messageid={activity['id']}",
        "conversationType": "channel",
        "tenantId": console.tenant_id,
    }
    return Activity.model_validate(activity)


def test_a_person_is_keyed_by_tenant_and_entra_object_id() -> None:
    activity = Activity.model_validate(
        console.message_activity("bob", "hi", console.personal_conversation("bob"), {}, mention=False)
    )

    found = inbound(activity)

    assert found is not None
    assert (found.who.platform, found.who.team, found.who.user) == (
        "teams",
        console.tenant_id,
        "aad-bob-0002",
    )
    assert found.surface == "personal"
    assert found.where.thread == found.where.channel == "a:1on1-aad-bob-0002"


def test_a_channel_post_starts_a_thread_and_replies_share_it() -> None:
    post = _channel_post("list buckets")
    reply = _channel_post("and prod?", thread=f"{CHANNEL};messageid={post.id}")

    first, second = inbound(post), inbound(reply)

    assert first is not None and second is not None
    assert first.where == second.where == ChatPlace("teams", console.tenant_id, CHANNEL, str(post.id))
    assert conversation_id(first.where) == f"{CHANNEL};messageid={post.id}"
    assert split_conversation("19:chat@thread.v2") == ("19:chat@thread.v2", None)


def test_an_activity_without_a_person_is_not_a_request() -> None:
    activity = Activity.model_validate(
        {"type": "message", "text": "hi", "conversation": {"id": "a:x"}, "from": {"id": "28:other-bot"}}
    )

    assert inbound(activity) is None


def test_mention_markup_html_and_a_typed_bot_name_are_removed() -> None:
    assert clean_text("<at>Bob</at> can you list buckets", "CentralOps") == "Bob can you list buckets"
    assert clean_text("@CentralOps&nbsp;whoami", "CentralOps") == "whoami"
    assert clean_text("<p>run s3 ls in <b>staging</b></p>", "CentralOps") == "run s3 ls in staging"
    assert clean_text("CentralOpsy things", "CentralOps") == "CentralOpsy things"


def test_a_continuation_replies_to_the_thread_root_of_its_place() -> None:
    post = _channel_post("list buckets")
    place = ChatPlace("teams", console.tenant_id, CHANNEL, "1700000000999")

    resumed = continuation(post.get_conversation_reference(), place, post.channel_data)

    assert resumed.conversation is not None
    assert resumed.conversation.id == f"{CHANNEL};messageid=1700000000999"
    assert resumed.id == "1700000000999"
    assert resumed.channel_data == post.channel_data


def test_slack_bold_becomes_teams_bold_and_lists_stay() -> None:
    assert teams_markdown("*CentralOps* answers\n* item") == "**CentralOps** answers\n* item"
    assert teams_markdown("already **bold**") == "already **bold**"
