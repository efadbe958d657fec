"""Open audit intents: list them, and close each with what an admin found (``python -m bridge.reconcile``).

An intent without an outcome means the bridge stopped (killed, out of time,
the audit table unreachable) after storing the intent and before storing how
the command ended. The command may have run. Check the member account's
CloudTrail (the session's ``SourceIdentity`` names the person), then record
what you found: ``executed``, ``not_executed`` or ``unknown``, with a note.

    python -m bridge.reconcile list [--older-than MINUTES] [--account ID] [--json]
    python -m bridge.reconcile resolve AUDIT_ID --outcome executed|not_executed|unknown --note TEXT

It runs with the admin's own AWS credentials, which need the deployment's
``<prefix>-audit-reconciler`` managed policy (read the ``pending`` index,
update audit items); the admin is recorded as STS names them, never as typed.
By default only intents older than 15 minutes (Lambda's longest run, so no
bridge can still be working on them) are listed.
"""

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bridge.audit import INTENT, PENDING_INDEX, PENDING_KEY, RECONCILED, iso
from bridge.errors import BridgeError
from centralops.errors import CentralOpsError

OUTCOMES = ("executed", "not_executed", "unknown")
DEFAULT_OLDER_THAN_MIN = 15.0
MAX_NOTE = 1000


class ReconcileError(BridgeError):
    """A listing or a reconciliation failed; the message says what to do."""

    code = "reconcile_failed"


@dataclass(frozen=True)
class OpenIntent:
    """An audit intent with no outcome: who asked what, where, when."""

    audit_id: str
    time: str
    requester: str
    account_id: str
    command: str
    classification: str
    tool: str
    approval_id: str | None
    platform: str | None
    channel: str | None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "OpenIntent":
        """From a DynamoDB item of the ``pending`` index."""

        def text(name: str) -> str | None:
            value = item.get(name, {}).get("S")
            return str(value) if value is not None else None

        return cls(
            audit_id=text("audit_id") or "",
            time=text("time") or "",
            requester=text("requester") or "unknown",
            account_id=text("account_id") or "unknown",
            command=text("command") or "",
            classification=text("classification") or "",
            tool=text("tool") or "",
            approval_id=text("approval_id"),
            platform=text("platform"),
            channel=text("channel"),
        )

    def age_s(self, now: float) -> float:
        """Seconds since the intent was stored."""
        return now - datetime.fromisoformat(self.time).timestamp()


class Reconciler:
    """Reads open intents from the sparse ``pending`` index and closes them.

    Args:
        table_name: The audit table.
        client_factory: Creates the DynamoDB client on first use.
        clock: Epoch seconds (tests).
    """

    def __init__(
        self, table_name: str, client_factory: Callable[[], Any], *, clock: Callable[[], float] = time.time
    ) -> None:
        self._table = table_name
        self._factory = client_factory
        self._client: Any = None
        self._clock = clock

    def _dynamodb(self) -> Any:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def pending(self, *, older_than_s: float = 0.0, account_id: str | None = None) -> list[OpenIntent]:
        """Open intents stored at least ``older_than_s`` ago (of one account, if given), oldest first."""
        cutoff = iso(self._clock() - older_than_s)
        intents = [OpenIntent.from_item(i) for i in self._items(account_id)]
        return sorted((i for i in intents if i.time <= cutoff), key=lambda i: (i.time, i.account_id))

    def _items(self, account_id: str | None) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"TableName": self._table, "IndexName": PENDING_INDEX}
        if account_id:  # one account is one key of the index
            kwargs["KeyConditionExpression"] = "#key = :account"
            kwargs["ExpressionAttributeNames"] = {"#key": PENDING_KEY}
            kwargs["ExpressionAttributeValues"] = {":account": {"S": account_id}}
        try:
            while True:
                page = self._dynamodb().query(**kwargs) if account_id else self._dynamodb().scan(**kwargs)
                yield from page.get("Items", [])
                if "LastEvaluatedKey" not in page:
                    return
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as e:
            raise _unavailable(e, self._table) from e

    def resolve(self, audit_id: str, *, outcome: str, note: str, by: str) -> None:
        """Close one open intent with what the admin ``by`` found.

        Raises:
            ReconcileError: Bad arguments, the record is not open (completed or reconciled
                meanwhile), or the table could not be written.
        """
        if outcome not in OUTCOMES:
            raise ReconcileError(f"The outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}.")
        note = note.strip()
        if not note or len(note) > MAX_NOTE:
            raise ReconcileError(
                f"Say in a note (1 to {MAX_NOTE} characters) what you checked, e.g. the CloudTrail event."
            )
        try:
            self._dynamodb().update_item(
                TableName=self._table,
                Key={"audit_id": {"S": audit_id}},
                UpdateExpression=(
                    "SET #status = :reconciled, outcome = :outcome, reconciled_by = :by, "
                    "reconciled_at = :at, reconcile_note = :note REMOVE #pending"
                ),
                ConditionExpression="#status = :intent",
                ExpressionAttributeNames={"#status": "status", "#pending": PENDING_KEY},
                ExpressionAttributeValues={
                    ":reconciled": {"S": RECONCILED},
                    ":intent": {"S": INTENT},
                    ":outcome": {"S": outcome},
                    ":by": {"S": by},
                    ":at": {"S": iso(self._clock())},
                    ":note": {"S": note},
                },
            )
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ReconcileError(
                    f"Audit record {audit_id} is not an open intent: it does not exist, or its outcome "
                    "was stored or reconciled meanwhile. List the open ones again.",
                    code="not_open",
                ) from e
            raise _unavailable(e, self._table) from e
        except BotoCoreError as e:
            raise _unavailable(e, self._table) from e


def _unavailable(e: Exception, table: str) -> ReconcileError:
    return ReconcileError(
        f"The audit table {table} could not be read or written ({e}). Check the table name "
        "(CENTRALOPS_AUDIT_TABLE) and that your credentials carry the audit-reconciler policy.",
        code="audit_unavailable",
    )


def render(intents: list[OpenIntent], now: float) -> str:
    """One block per open intent, for a person."""
    if not intents:
        return "No open audit intents."
    lines = [f"{len(intents)} open audit intent(s), oldest first:"]
    for i in intents:
        where = f"account {i.account_id}"
        if i.platform or i.channel:
            where += f" (from {i.platform or '?'} channel {i.channel or '?'})"
        lines += [
            "",
            f"{i.audit_id}  {i.time}  ({i.age_s(now) / 60:.0f} min ago)",
            f"  who:   {i.requester}",
            f"  what:  {i.command}  [{i.classification}, {i.tool}"
            + (f", approval {i.approval_id}]" if i.approval_id else "]"),
            f"  where: {where}",
        ]
    lines += ["", "Close one: python -m bridge.reconcile resolve AUDIT_ID --outcome ... --note ..."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    import boto3

    from bridge.config import BridgeConfig

    parser = argparse.ArgumentParser(prog="python -m bridge.reconcile", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="open intents, oldest first")
    listing.add_argument("--older-than", type=float, default=DEFAULT_OLDER_THAN_MIN, metavar="MINUTES")
    listing.add_argument("--account", help="only this account id")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    closing = commands.add_parser("resolve", help="close one open intent with what you found")
    closing.add_argument("audit_id")
    closing.add_argument("--outcome", choices=OUTCOMES, required=True)
    closing.add_argument("--note", required=True)
    args = parser.parse_args(argv)
    try:
        config = BridgeConfig.from_env()
    except CentralOpsError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2

    def client(service: str) -> Any:
        return boto3.client(service, region_name=config.region, endpoint_url=config.endpoint_url)

    reconciler = Reconciler(config.audit_table, lambda: client("dynamodb"))
    try:
        if args.command == "list":
            intents = reconciler.pending(older_than_s=args.older_than * 60, account_id=args.account)
            if args.json:
                for intent in intents:
                    print(json.dumps(asdict(intent)))
            else:
                print(render(intents, time.time()))
            return 0
        try:
            by = str(client("sts").get_caller_identity()["Arn"])
        except (ClientError, BotoCoreError) as e:
            raise ReconcileError(f"Your AWS identity could not be read ({e}); sign in to AWS first.") from e
        reconciler.resolve(args.audit_id, outcome=args.outcome, note=args.note, by=by)
        print(f"Audit record {args.audit_id} reconciled as {args.outcome} by {by}.")
        return 0
    except ReconcileError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
