"""The approval gate: which calls wait for a second person, and the pending records.

The agent decides *before* a call runs whether it needs approval and, if so,
records a pending approval and ends its turn. The bot lets an approver mark
the record approved or denied; on ``resume`` the agent re-reads it and runs the
exact recorded call with its ``approval_id``. The bridge checks and consumes
the approval again: this gate keeps people informed, the bridge enforces.
"""

import logging
import shlex
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from agent.accounts import AccountEntry
from agent.dynamo import LazyTable
from centralops.approvals import PENDING, ApprovalItem, Risk
from centralops.errors import CentralOpsError

logger = logging.getLogger("centralops.agent.approvals")

# Operations that only read. Anything else is treated as a change.
_READ_PREFIXES = (
    "describe-",
    "list-",
    "get-",
    "head-",
    "lookup-",
    "search-",
    "batch-get-",
    "filter-",
    "validate-",
    "estimate-",
    "simulate-",
    "test-",
    "preview-",
)
_READ_OPERATIONS = {"ls", "scan", "query", "help", "wait", "presign", "tail", "select", "get"}


class ApprovalError(CentralOpsError):
    """An approval record could not be written or read."""

    code = "approval"


def operation_of(cli_command: str) -> tuple[str, str]:
    """The ``(service, operation)`` of an ``aws`` CLI command (``("s3", "ls")``).

    Global options before the service (``aws --region x s3 ls``) are skipped with their values.
    """
    try:
        words = shlex.split(cli_command)
    except ValueError:
        words = cli_command.split()
    if words and words[0] == "aws":
        words = words[1:]
    positional: list[str] = []
    skip_value = False
    for word in words:
        if skip_value:
            skip_value = False
        elif word.startswith("-"):
            skip_value = not positional and "=" not in word
        else:
            positional.append(word)
        if len(positional) == 2:
            break
    service = positional[0] if positional else ""
    operation = positional[1] if len(positional) > 1 else ""
    return service.lower(), operation.lower()


def is_mutating(cli_command: str) -> bool:
    """Whether the command changes something (classified by its operation, like the bridge does)."""
    _, operation = operation_of(cli_command)
    if not operation:
        return False
    return not (operation in _READ_OPERATIONS or operation.startswith(_READ_PREFIXES))


@dataclass(frozen=True)
class ApprovalPolicy:
    """Decides whether a call needs approval.

    Args:
        prod_fanout_limit: A call over more production accounts than this waits for approval.
        ttl_s: How long a pending approval stays valid.
    """

    prod_fanout_limit: int = 1
    ttl_s: int = 3600

    def review(self, cli_command: str, accounts: Sequence[AccountEntry]) -> tuple[Risk, str] | None:
        """``(risk, reason)`` when the call needs approval, ``None`` when it may run now."""
        if is_mutating(cli_command):
            service, operation = operation_of(cli_command)
            return "mutating", f"`{service} {operation}` changes resources; a second person must approve it."
        prod = [a for a in accounts if a.environment == "production"]
        if len(prod) > self.prod_fanout_limit:
            return "fanout", (
                f"It runs in {len(prod)} production accounts (more than {self.prod_fanout_limit} "
                "without approval)."
            )
        return None


@dataclass
class PendingCall:
    """The exact call an approval is bound to."""

    tool: str
    command: str
    account_ids: list[str]
    region: str | None = None

    def arguments(self, approval_id: str | None = None) -> dict[str, Any]:
        """The bridge tool's arguments (``requester`` and ``context`` are added by the guard)."""
        args: dict[str, Any] = {"tool_name": "aws___call_aws", "arguments": {"cli_command": self.command}}
        if self.tool == "query":
            args["account_id"] = self.account_ids[0]
        else:
            args["account_ids"] = list(self.account_ids)
        if self.region:
            args["region"] = self.region
        if approval_id:
            args["approval_id"] = approval_id
        return args


@dataclass(frozen=True)
class ApprovalRecord(ApprovalItem):
    """One approvals-table item (the kernel's shape), with the exact call it is bound to."""

    @property
    def call(self) -> PendingCall:
        """The recorded call (an item that records no tool was written for ``query`` when it names one account)."""
        return PendingCall(
            tool=self.tool or ("query" if len(self.accounts) == 1 else "query_accounts"),
            command=self.command,
            account_ids=list(self.accounts),
            region=self.region,
        )


RESULT_MAX = 32_000  # characters of an approved run's answer kept on its item (DynamoDB items hold 400 KB)


class ApprovalStore:
    """The approvals table.

    Args:
        table_name: The approvals table.
        dynamodb: A boto3 DynamoDB resource; created lazily when omitted.
        region: Region of the lazily created resource.
        endpoint_url: Endpoint of the lazily created resource (moto locally).
    """

    def __init__(
        self,
        table_name: str,
        *,
        dynamodb: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self._table = LazyTable(table_name, dynamodb=dynamodb, region=region, endpoint_url=endpoint_url)

    def create(
        self,
        *,
        requester: str,
        call: PendingCall,
        reason: str,
        risk: Risk,
        session_id: str,
        thread: Mapping[str, str],
        ttl_s: int,
    ) -> ApprovalRecord:
        """Write a pending approval and return it.

        Raises:
            ApprovalError: The record could not be written.
        """
        now = int(time.time())
        record = ApprovalRecord(
            approval_id=str(uuid.uuid4()),
            status=PENDING,
            requester=requester,
            command=call.command,
            accounts=tuple(call.account_ids),
            tool=call.tool,
            region=call.region,
            reason=reason,
            risk=risk,
            session_id=session_id,
            thread={k: str(v) for k, v in thread.items() if v},
            created_at=now,
            expires_at=now + ttl_s,
            ttl=now + ttl_s + 86400,
        )
        try:
            self._table().put_item(
                Item=record.to_item(), ConditionExpression="attribute_not_exists(approval_id)"
            )
        except (BotoCoreError, ClientError) as e:
            raise ApprovalError("The approval request could not be recorded; try again in a minute.") from e
        logger.info(
            "approval requested",
            extra={"approval_id": record.approval_id, "risk": risk, "accounts": call.account_ids},
        )
        return record

    def record_result(self, approval_id: str, result: str) -> None:
        """Keep what the approved run showed on its item (logged, never raised: the run already happened)."""
        try:
            self._table().update_item(
                Key={"approval_id": approval_id},
                UpdateExpression="SET #r = :r",
                ConditionExpression="attribute_exists(approval_id)",
                ExpressionAttributeNames={"#r": "result"},
                ExpressionAttributeValues={":r": result[:RESULT_MAX]},
            )
        except (BotoCoreError, ClientError) as e:
            logger.warning(
                "approved run result not kept", extra={"approval_id": approval_id, "error": type(e).__name__}
            )

    def get(self, approval_id: str) -> ApprovalRecord | None:
        """The record with this id, or ``None``.

        Raises:
            ApprovalError: The table could not be read.
        """
        try:
            item = self._table().get_item(Key={"approval_id": approval_id}, ConsistentRead=True).get("Item")
        except (BotoCoreError, ClientError) as e:
            raise ApprovalError("The approval could not be read; try again in a minute.") from e
        return ApprovalRecord.from_item(item) if item else None
