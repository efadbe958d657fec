"""One Teams question through the whole local stack: Teams-shaped activity → bot → Runtime → agent → member account.

The shared stack runs the Teams edge in its explicit anonymous mode with the
Connector stand-in as a process of its own, and the seeder links alice's and
bob's Teams identities as it links their Slack ones.
"""

from collections.abc import AsyncIterator

import pytest

from infra.local import org
from infra.local.consoles.teams import TeamsConsole
from infra.local.org import StackInfo

pytestmark = pytest.mark.e2e

STAGING = org.account("staging")
PRODUCTION = org.account("production")


@pytest.fixture
async def teams(info: StackInfo) -> AsyncIterator[TeamsConsole]:
    console = TeamsConsole(info.bot_url, info.teams_connector_url)
    try:
        yield console
    finally:
        await console.close()


async def test_a_1on1_question_lists_exactly_stagings_buckets(teams: TeamsConsole) -> None:
    chat = await teams.personal(user="alice", text="list buckets in staging")

    shown = chat.render()
    assert chat.messages[0]["streamed"]
    for bucket in STAGING.buckets:
        assert bucket in shown
    for bucket in PRODUCTION.buckets:
        assert bucket not in shown


async def test_a_channel_mention_answers_with_productions_function_count(teams: TeamsConsole) -> None:
    post = await teams.channel(user="bob", text="how many lambda functions in production?")

    assert f"**{len(PRODUCTION.functions)}** Lambda functions" in post.render()
