"""Messages name the command of the reader's platform: `/aws login` in Slack, `login` in Teams."""

from typing import Any

import pytest

from agent.auth import authenticate
from centralops.errors import InvalidTokenError
from centralops.platforms import login_command, login_hint


def test_each_platform_has_its_login_command_and_an_unknown_one_gets_both() -> None:
    assert (login_command("slack"), login_command("teams")) == ("/aws login", "login")
    assert login_hint("teams") == "`login`"
    assert "`/aws login` in Slack" in login_hint(None) and "`login` in Teams" in login_hint(None)


@pytest.mark.parametrize(
    ("context", "expected", "absent"),
    [
        ({"platform": "teams"}, "`login`", "/aws login"),
        ({"platform": "slack"}, "`/aws login`", "Teams"),
        ({}, "`login` in Teams", None),
    ],
)
def test_a_request_without_a_token_is_told_its_own_platforms_login(
    context: dict[str, str], expected: str, absent: str | None
) -> None:
    payload: dict[str, Any] = {"prompt": "list buckets", "context": context}
    with pytest.raises(InvalidTokenError) as raised:
        authenticate(None, {}, payload)  # type: ignore[arg-type]  # refused before any verification
    assert expected in raised.value.message
    if absent:
        assert absent not in raised.value.message
