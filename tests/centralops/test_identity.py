"""The identity rule: verified email, else a username that is not an address; never someone else."""

from typing import Any

import pytest

from centralops.identity import IdentityError, VerifiedCaller, actor_of, requester_of


@pytest.mark.parametrize(
    ("claims", "requester"),
    [
        (
            {"email": "Alice@Example.com", "email_verified": True, "cognito:username": "u-1"},
            "alice@example.com",
        ),
        (
            {"email": "alice@example.com", "email_verified": "true", "cognito:username": "u-1"},
            "alice@example.com",
        ),
        ({"email": "alice@example.com", "email_verified": False, "cognito:username": "u-1"}, "u-1"),
        ({"email": "alice@example.com", "email_verified": "false", "cognito:username": "u-1"}, "u-1"),
        ({"email": "alice@example.com", "cognito:username": "u-1"}, "u-1"),
        ({"email": "alice@example.com", "email_verified": "yes", "cognito:username": "u-1"}, "u-1"),
        ({"email": "", "email_verified": True, "cognito:username": "carol"}, "carol"),
        ({"username": "svc-reporting"}, "svc-reporting"),
    ],
)
def test_the_requester_is_the_verified_email_else_the_username(
    claims: dict[str, Any], requester: str
) -> None:
    caller = VerifiedCaller.from_claims({"sub": "s-1", **claims})
    assert caller.requester == requester
    assert caller.email == (requester if "@" in requester else None)


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        (
            {"cognito:username": "bob@example.com", "email": "bob@example.com", "email_verified": False},
            "unverified_email",
        ),
        ({"cognito:username": "bob@example.com"}, "unverified_email"),
        ({"email": "bob@example.com", "email_verified": "false"}, "missing_identity"),
        ({}, "missing_identity"),
    ],
)
def test_an_unverified_address_never_becomes_the_requester(claims: dict[str, Any], code: str) -> None:
    with pytest.raises(IdentityError) as raised:
        VerifiedCaller.from_claims({"sub": "s-1", **claims})
    assert raised.value.code == code
    assert "Sign in" in raised.value.message or "verify your email" in raised.value.message


def test_groups_keep_only_names_once() -> None:
    caller = VerifiedCaller.from_claims(
        {"sub": "s", "cognito:username": "u", "cognito:groups": ["ops", "ops", 3, "", None, "dev"]}
    )
    assert caller.groups == ("ops", "dev")
    single = VerifiedCaller.from_claims({"sub": "s", "cognito:username": "u", "cognito:groups": "ops"})
    assert single.groups == ("ops",)


def test_a_stamp_round_trips_and_carries_email_only_when_verified() -> None:
    verified = VerifiedCaller.from_claims(
        {
            "sub": "s",
            "cognito:username": "u",
            "cognito:groups": ["ops"],
            "email": "a@example.com",
            "email_verified": True,
        }
    )
    assert VerifiedCaller.from_stamp(verified.to_stamp()) == verified
    unverified = VerifiedCaller.from_claims({"sub": "s", "cognito:username": "u", "email": "a@example.com"})
    assert "email" not in unverified.to_stamp()
    assert VerifiedCaller.from_stamp(unverified.to_stamp()).requester == "u"


def test_requester_of_lowercases_emails_and_refuses_address_usernames() -> None:
    assert requester_of("A@B.example", "ignored") == "a@b.example"
    assert requester_of(None, "ops-bot") == "ops-bot"
    with pytest.raises(IdentityError):
        requester_of(None, "x@y.example")


@pytest.mark.parametrize(
    ("act", "actor"),
    [
        ({"sub": "agent"}, "agent"),
        ({"sub": "agent", "act": {"sub": "bot"}}, "agent"),
        ({"act": {"sub": "agent"}}, None),
        ({"sub": ""}, None),
        ("agent", None),
        (None, None),
    ],
)
def test_the_immediate_actor_is_act_sub(act: Any, actor: str | None) -> None:
    assert actor_of({"act": act} if act is not None else {}) == actor
