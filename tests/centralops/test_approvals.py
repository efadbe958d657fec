"""The approvals item: one shape for the agent that writes it, the bot that decides it, the bridge that consumes it."""

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from centralops.approvals import APPROVED, PENDING, ApprovalItem


def _written() -> ApprovalItem:
    return ApprovalItem(
        approval_id="a" * 32,
        requester="alice@example.com",
        command="aws ec2 stop-instances --instance-ids i-1",
        accounts=("222222222222",),
        tool="query",
        region="eu-west-1",
        reason="changes resources",
        risk="mutating",
        session_id="s" * 40,
        thread={"platform": "slack", "channel": "C1"},
        created_at=100,
        expires_at=3700,
        ttl=90100,
    )


def test_an_item_survives_dynamodb_typing_both_ways() -> None:
    item = _written()
    low = {k: TypeSerializer().serialize(v) for k, v in item.to_item().items()}
    plain = {k: TypeDeserializer().deserialize(v) for k, v in low.items()}
    assert isinstance(plain["expires_at"], Decimal)
    assert ApprovalItem.from_item(plain) == item
    assert item.status == PENDING


def test_optional_attributes_are_written_only_when_set() -> None:
    item = _written().to_item()
    assert {"decided_by", "decided_at", "consumed_at"}.isdisjoint(item)
    assert "region" not in ApprovalItem("b" * 32).to_item()


def test_a_decided_and_consumed_item_reads_back() -> None:
    raw: dict[str, Any] = {
        **_written().to_item(),
        "status": APPROVED,
        "decided_by": "bob@example.com",
        "decided_at": Decimal(200),
        "consumed_at": Decimal(300),
        "accounts": {"222222222222", "333333333333"},
    }
    item = ApprovalItem.from_item(raw)
    assert (item.status, item.decided_by, item.decided_at, item.consumed_at) == (
        APPROVED,
        "bob@example.com",
        200,
        300,
    )
    assert sorted(item.accounts) == ["222222222222", "333333333333"]


def test_a_minimal_item_takes_the_defaults_and_an_unknown_risk_reads_as_other() -> None:
    item = ApprovalItem.from_item({"approval_id": "c" * 32, "risk": "<b>bold</b>"})
    assert (item.status, item.tool, item.region, item.expires_at, item.risk) == (
        PENDING,
        "",
        None,
        0,
        "other",
    )
    assert item.thread == {}


def test_expiry_is_decided_on_expires_at_and_an_item_without_one_never_expires_here() -> None:
    item = _written()
    assert not item.expired(3699)
    assert item.expired(3700)
    assert not ApprovalItem("d" * 32).expired(10**12)
