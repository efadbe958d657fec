"""Linking on the whole local stack: /aws login → hosted UI → callback → queries run as you → /aws logout."""

import httpx
import pytest

from infra.local import org
from infra.local.consoles.slack import SlackConsole
from tests.fixtures.identity_stack import Browser

pytestmark = pytest.mark.e2e

CAROL = org.person("carol")
STAGING = org.account("staging")


async def test_a_person_links_queries_as_themselves_and_logs_out(slack: SlackConsole) -> None:
    try:
        await _link_query_logout(slack)
    finally:
        # carol starts unlinked in every other test of the session.
        await slack.slash("carol", "logout", "C0OPS")


async def _link_query_logout(slack: SlackConsole) -> None:
    asked = await slack.slash("carol", "list buckets in staging", "C0OPS")
    assert "/aws login" in asked.render()
    assert STAGING.buckets[0] not in asked.render()

    login = await slack.slash("carol", "login", "C0OPS")
    _, button = login.button("Sign in to CentralOps")
    async with httpx.AsyncClient(timeout=30) as http:
        page = await Browser(http).sign_in_as(button["url"], CAROL.email, CAROL.password)
        assert page.status_code == 200, page.text
        assert "linked" in page.text.lower()

        replay = await http.get(button["url"])
        assert replay.status_code != 302, "a sign-in link works once"
        assert "run /aws login again" in replay.text

    whoami = await slack.slash("carol", "whoami", "C0OPS")
    assert f"linked to `{CAROL.email}`" in whoami.render()

    answered = await slack.slash("carol", "list buckets in staging", "C0OPS")
    for bucket in STAGING.buckets:
        assert bucket in answered.render()

    logout = await slack.slash("carol", "logout", "C0OPS")
    assert "Unlinked" in logout.render()

    again = await slack.slash("carol", "list buckets in staging", "C0OPS")
    assert "/aws login" in again.render()
    assert STAGING.buckets[0] not in again.render()
