"""The accounts item and the one entitlement rule."""

from typing import Any

import pytest

from centralops.accounts import AccountItem, entitled


@pytest.mark.parametrize(
    ("allowed", "groups", "expected"),
    [
        ((), (), True),
        ((), ("ops",), True),
        (("ops",), (), False),
        (("ops",), ("dev",), False),
        (("ops",), ("dev", "ops"), True),
        (("ops", "sre"), ("sre",), True),
        (("ops",), ("OPS",), False),
    ],
)
def test_empty_allowed_groups_is_everyone_else_an_intersection(
    allowed: tuple[str, ...], groups: tuple[str, ...], expected: bool
) -> None:
    assert entitled(allowed, groups) is expected
    assert AccountItem("1" * 12, "x", allowed_groups=allowed).entitles(groups) is expected


def test_an_item_round_trips_and_environment_is_lower_cased() -> None:
    item: dict[str, Any] = {
        "account_id": "333333333333",
        "name": "production",
        "environment": " Production ",
        "aliases": ["prod"],
        "enabled": True,
        "allowed_groups": {"centralops-operators"},
        "default_region": "eu-west-1",
        "write_role_name": "CentralOpsWriteRole",
    }
    account = AccountItem.from_item(item)
    assert account.environment == "production"
    assert account.allowed_groups == ("centralops-operators",)
    assert account.role_name is None
    assert AccountItem.from_item(account.to_item()) == account
    assert "role_name" not in account.to_item()


def test_a_minimal_item_takes_the_defaults() -> None:
    account = AccountItem.from_item({"account_id": "444444444444"})
    assert (account.name, account.environment, account.enabled, account.allowed_groups) == (
        "444444444444",
        "",
        True,
        (),
    )


def test_an_account_is_named_by_id_name_or_alias_in_any_case() -> None:
    account = AccountItem("333333333333", "Production", aliases=("Prod", "live"))
    assert all(account.matches(ref) for ref in ("333333333333", " production ", "PROD", "Live"))
    assert not any(account.matches(ref) for ref in ("prod-eu", "33333333333", ""))


def test_a_disabled_account_is_queryable_by_nobody() -> None:
    assert AccountItem("1" * 12, "x", allowed_groups=("ops",)).queryable_by(["ops"])
    assert not AccountItem("1" * 12, "x", enabled=False).queryable_by(["ops"])
    assert not AccountItem("1" * 12, "x", allowed_groups=("ops",)).queryable_by(["dev"])
