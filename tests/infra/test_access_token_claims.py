"""The pre token generation trigger that puts the person's email into access tokens."""

from typing import Any

import pytest

from infra.stacks.triggers.access_token_claims import handler


def _event(attributes: dict[str, str]) -> dict[str, Any]:
    # The shape Cognito sends for event version 2 (trigger source of a token exchange included).
    return {
        "version": "2",
        "triggerSource": "TokenGeneration_Authentication",
        "request": {"userAttributes": attributes, "scopes": ["openid"]},
        "response": {"claimsAndScopeOverrideDetails": None},
    }


@pytest.mark.parametrize(("verified", "expected"), [("true", True), ("True", True), ("false", False)])
def test_the_email_and_whether_it_is_verified_are_added_to_access_tokens(
    verified: str, expected: bool
) -> None:
    event = handler(_event({"email": "alice@example.com", "email_verified": verified, "sub": "s"}), None)
    details = event["response"]["claimsAndScopeOverrideDetails"]
    assert details == {
        "accessTokenGeneration": {
            "claimsToAddOrOverride": {"email": "alice@example.com", "email_verified": expected}
        }
    }
    assert "idTokenGeneration" not in details


def test_a_user_without_email_gets_no_email_claims() -> None:
    event = handler(_event({"sub": "s"}), None)
    assert event["response"]["claimsAndScopeOverrideDetails"]["accessTokenGeneration"] == {
        "claimsToAddOrOverride": {}
    }
