"""Approvals of mutating commands: check the record, then consume it with one conditional write."""

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from bridge.errors import ApprovalRefused, BridgeError
from bridge.redact import redact_command
from centralops.approvals import APPROVED, ApprovalItem

logger = logging.getLogger(__name__)
_deserialize = TypeDeserializer().deserialize


def _same_command(approved: str, requested: str, normalise: Callable[[str], str]) -> bool:
    try:
        return normalise(approved) == normalise(requested)
    except BridgeError:  # an approved command the parser refuses can never run
        return False


class Approvals:
    """Reads and consumes approval records.

    Args:
        table_name: The approvals table.
        client_factory: Creates the DynamoDB client on first use.
        normalise: Turns a command line into the bridge's normalised form (``Command.text``).
        clock: Epoch seconds (tests).
    """

    def __init__(
        self,
        table_name: str,
        client_factory: Callable[[], Any],
        normalise: Callable[[str], str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table_name
        self._factory = client_factory
        self._client: Any = None
        self._normalise = normalise
        self._clock = clock

    def _dynamodb(self) -> Any:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def consume(
        self,
        approval_id: str | None,
        *,
        command: str,
        accounts: Sequence[str],
        requester: str,
        region: str | None = None,
        tool: str = "query",
    ) -> None:
        """Check that ``approval_id`` allows exactly this run, and use it up.

        Args:
            approval_id: From the tool call; ``None`` when the call carries none.
            command: The normalised command (``Command.text``).
            accounts: The accounts the command is about to run in.
            requester: The verified requester.
            region: The call's ``region`` argument (``None`` when it names none); the command's own
                ``--region`` is bound through the command.
            tool: ``query`` or ``query_accounts``.

        Raises:
            ApprovalRefused: With a code saying which condition failed.
        """
        approval_id, item, now = self._verified(
            approval_id, command=command, accounts=accounts, requester=requester, region=region, tool=tool
        )
        try:
            self._dynamodb().update_item(
                TableName=self._table,
                Key={"approval_id": {"S": approval_id}},
                UpdateExpression="SET consumed_at = :now",
                ConditionExpression=(
                    "attribute_exists(approval_id) AND #status = :approved AND attribute_not_exists(consumed_at)"
                    " AND expires_at > :now AND requester = :requester AND #command = :command"
                    " AND decided_by <> :requester"
                ),
                ExpressionAttributeNames={"#status": "status", "#command": "command"},
                ExpressionAttributeValues={
                    ":now": {"N": str(now)},
                    ":approved": {"S": APPROVED},
                    ":requester": {"S": requester},
                    ":command": {"S": item.command},
                },
            )
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ApprovalRefused(
                    f"Approval {approval_id} was used or changed a moment ago. Request a new approval.",
                    code="approval_used",
                ) from e
            raise self._unavailable(e) from e
        except BotoCoreError as e:
            raise self._unavailable(e) from e
        logger.info("approval consumed", extra={"approval_id": approval_id, "requester": requester})

    def check(
        self,
        approval_id: str | None,
        *,
        command: str,
        accounts: Sequence[str],
        requester: str,
        region: str | None = None,
        tool: str = "query",
    ) -> None:
        """Refuse early, without using it up, an approval that :meth:`consume` would refuse now.

        Consuming still checks everything again in its one conditional write.

        Raises:
            ApprovalRefused: With a code saying which condition failed.
        """
        self._verified(
            approval_id, command=command, accounts=accounts, requester=requester, region=region, tool=tool
        )

    def _verified(
        self,
        approval_id: str | None,
        *,
        command: str,
        accounts: Sequence[str],
        requester: str,
        region: str | None,
        tool: str,
    ) -> tuple[str, ApprovalItem, int]:
        if not approval_id or not isinstance(approval_id, str):
            raise ApprovalRefused(
                f"`{redact_command(command)}` changes resources, so it needs an approval. Ask for one in chat; "
                "an approver's Approve button lets it run once.",
                code="approval_required",
            )
        now = int(self._clock())
        item = self._get(approval_id)
        self._check(item, approval_id, command=command, accounts=accounts, requester=requester, now=now)
        self._check_call(item, approval_id, region=region, tool=tool)
        return approval_id, item, now

    def _get(self, approval_id: str) -> ApprovalItem:
        try:
            item = (
                self._dynamodb()
                .get_item(TableName=self._table, Key={"approval_id": {"S": approval_id}}, ConsistentRead=True)
                .get("Item")
            )
        except (ClientError, BotoCoreError) as e:
            raise self._unavailable(e) from e
        if not item:
            raise ApprovalRefused(
                f"Approval {approval_id} does not exist. Request an approval in chat and retry with its id.",
                code="approval_not_found",
            )
        return ApprovalItem.from_item({k: _deserialize(v) for k, v in item.items()})

    def _check(
        self,
        item: ApprovalItem,
        approval_id: str,
        *,
        command: str,
        accounts: Sequence[str],
        requester: str,
        now: int,
    ) -> None:
        if item.status != APPROVED:
            raise ApprovalRefused(
                f"Approval {approval_id} is {item.status}, not approved. "
                "Wait for an approver's decision or request a new approval.",
                code="approval_not_approved",
            )
        if item.consumed_at is not None:
            raise ApprovalRefused(
                f"Approval {approval_id} has already been used; each approval runs once. Request a new one.",
                code="approval_used",
            )
        if item.expires_at <= now:
            raise ApprovalRefused(
                f"Approval {approval_id} has expired. Request a new approval.", code="approval_expired"
            )
        if item.requester != requester:
            raise ApprovalRefused(
                f"Approval {approval_id} was granted to someone else. Request your own approval.",
                code="approval_wrong_requester",
            )
        decided_by = item.decided_by or ""
        if not decided_by or decided_by.lower() == requester.lower():
            # The promise is a second person: whatever the chat front end allowed, the bridge checks it.
            raise ApprovalRefused(
                f"Approval {approval_id} was not granted by a second person; a change needs someone other "
                "than the requester to approve it. Ask another approver.",
                code="approval_self_approved",
            )
        if not _same_command(item.command, command, self._normalise):
            raise ApprovalRefused(
                f"Approval {approval_id} was granted for a different command. "
                "Run exactly the approved command, or request a new approval.",
                code="approval_wrong_command",
            )
        listed = item.accounts
        if sorted(set(listed)) != sorted(set(accounts)):
            raise ApprovalRefused(
                f"Approval {approval_id} was granted for account(s) {', '.join(sorted(listed))}, "
                f"not {', '.join(sorted(accounts))}. Run it in exactly those accounts or request a new approval.",
                code="approval_wrong_accounts",
            )

    @staticmethod
    def _check_call(item: ApprovalItem, approval_id: str, *, region: str | None, tool: str) -> None:
        approved_tool = item.tool
        if approved_tool != tool:
            raise ApprovalRefused(
                f"Approval {approval_id} was granted for the {approved_tool or 'unrecorded'} tool, not {tool}. "
                "Run it exactly as it was approved, or request a new approval.",
                code="approval_wrong_tool",
            )
        approved_region = item.region
        if approved_region != (region or None):
            raise ApprovalRefused(
                f"Approval {approval_id} was granted for region {approved_region or '(the account default)'}, "
                f"not {region or '(the account default)'}. Run it in the approved region or request a new approval.",
                code="approval_wrong_region",
            )

    @staticmethod
    def _unavailable(e: Exception) -> ApprovalRefused:
        logger.warning("approvals table call failed", extra={"error": repr(e)[:300]})
        return ApprovalRefused(
            "The approval could not be checked right now. Nothing was run; try again shortly.",
            code="approvals_unavailable",
        )
