"""A failing registry or approvals table: the caller reads what to do, the log keeps what failed."""

import logging
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from bridge.approvals import Approvals
from bridge.errors import AccountError, ApprovalRefused
from bridge.registry import Registry

TABLE = "centralops-prod-accounts-7f3a"


class _Failing:
    """A DynamoDB client whose every call fails the way botocore reports it."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Any:
        def fail(**_: Any) -> Any:
            raise self.error

        return fail


_THROTTLED = ClientError(
    {
        "Error": {
            "Code": "ProvisionedThroughputExceededException",
            "Message": f"Rate exceeded for table {TABLE}",
        }
    },
    "GetItem",
)
_UNREACHABLE = EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com/")


@pytest.mark.parametrize("error", [_THROTTLED, _UNREACHABLE], ids=["client_error", "unreachable"])
def test_a_registry_that_cannot_be_read_says_what_to_do_and_logs_why(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    registry = Registry(TABLE, lambda: _Failing(error), default_role_name="CentralOpsTargetRole")
    with caplog.at_level(logging.WARNING), pytest.raises(AccountError) as raised:
        registry.get("222222222222")
    message = raised.value.message
    assert raised.value.code == "registry_unavailable"
    assert "Try again" in message
    assert TABLE not in message and "dynamodb.eu-west-1" not in message and "Exception" not in message
    assert any(str(error)[:40] in r.getMessage() + str(getattr(r, "error", "")) for r in caplog.records)


@pytest.mark.parametrize("error", [_THROTTLED, _UNREACHABLE], ids=["client_error", "unreachable"])
def test_an_approvals_table_that_cannot_be_read_says_nothing_ran_and_logs_why(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    approvals = Approvals(TABLE, lambda: _Failing(error), normalise=lambda c: c)
    with caplog.at_level(logging.WARNING), pytest.raises(ApprovalRefused) as raised:
        approvals.consume(
            "a" * 32, command="aws ec2 stop-instances", accounts=["222222222222"], requester="a@x"
        )
    message = raised.value.message
    assert raised.value.code == "approvals_unavailable"
    assert "Nothing was run" in message
    assert TABLE not in message and "dynamodb.eu-west-1" not in message and "Exception" not in message
    assert any(str(error)[:40] in str(getattr(r, "error", "")) for r in caplog.records)
