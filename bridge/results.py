"""The shapes the bridge returns and audits, built from plain values."""

import json
from typing import Any

from bridge.audit import AuditRecord
from bridge.credentials import Caller
from centralops.identity import CALLER_KEY, VerifiedCaller

Result = dict[str, Any]
AUDIT_UNAVAILABLE = "audit_unavailable"  # an account whose intent could not be stored


def error(account_id: str, code: str, message: str, **extra: Any) -> Result:
    """An error result: ``{"ok": false, ..., "error": {code, message, account_id}}``."""
    return {
        "ok": False,
        **extra,
        "account_id": account_id,
        "error": {"code": code, "message": message, "account_id": account_id},
    }


def parse_json(text: str) -> Any:
    """The CLI output as JSON when it is JSON, else the stripped text."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except ValueError:
            pass
    return stripped


def caller_of(event: dict[str, Any]) -> Caller:
    """Who asks: only the caller the Gateway interceptor stamped under ``CALLER_KEY``.

    A ``requester`` field in the arguments is ignored: any holder of a token can write one. The
    ``context`` (platform, channel) is informational and names no one.

    Raises:
        IdentityError: The stamp is absent or malformed (``missing_caller``) or names nobody.
    """
    verified = VerifiedCaller.from_stamp(event.get(CALLER_KEY))
    raw = event.get("context")
    context: dict[str, Any] = raw if isinstance(raw, dict) else {}
    return Caller(
        requester=verified.requester,
        platform=str(context.get("platform") or "unknown"),
        channel=str(context.get("channel") or "unknown"),
        groups=verified.groups,
        subject=verified.subject,
    )


def outcome(result: Result) -> str:
    """The audit outcome of a result that was not refused by the checks."""
    if result["ok"]:
        return "executed"
    code = result["error"]["code"]
    if code == AUDIT_UNAVAILABLE:
        return "refused"  # its intent could not be stored, so it never ran
    return "aws_error" if code == "aws_error" else "failed"


def audit_records(
    results: list[Result], caller: Caller, event: dict[str, Any], tool: str, forced: str | None
) -> list[AuditRecord]:
    """One audit record per result; ``forced`` sets the outcome (``refused``) for all."""
    return [
        AuditRecord(
            **_who(caller, event, tool),
            account_id=r["account_id"],
            command=r.get("command", ""),
            classification=r.get("classification", "invalid"),
            outcome=forced or outcome(r),
            duration_ms=int(r.get("ms", 0)),
            error_code=None if r["ok"] else r["error"]["code"],
        )
        for r in results
    ]


def audit_intents(
    account_ids: list[str],
    caller: Caller,
    event: dict[str, Any],
    tool: str,
    command: str,
    classification: str,
) -> list[AuditRecord]:
    """One intent per account: the command is about to run there (no outcome yet)."""
    return [
        AuditRecord(
            **_who(caller, event, tool),
            account_id=a,
            command=command,
            classification=classification,
            outcome="",
            duration_ms=0,
        )
        for a in account_ids
    ]


def _who(caller: Caller, event: dict[str, Any], tool: str) -> dict[str, Any]:
    approval_id = event.get("approval_id")
    return {
        "requester": caller.requester,
        "tool": tool,
        "approval_id": approval_id if isinstance(approval_id, str) else None,
        "platform": caller.platform,
        "channel": caller.channel,
    }


def not_recorded(account_id: str, *, mutating: bool, **extra: Any) -> Result:
    """The result of an account whose intent could not be stored: the command did not run there."""
    if mutating:
        message = (
            "The audit record that must precede this change could not be written, so it was run in no "
            "account and your approval is still unused. Nothing changed. Try again in a minute with the "
            "same approval; if it keeps failing, tell an administrator (the bridge's log has the cause)."
        )
    else:
        message = (
            f"The audit record that must precede the command could not be written, so it was not run in "
            f"account {account_id}. Nothing ran there. Try again in a minute; if it keeps failing, tell "
            "an administrator (the bridge's log has the cause)."
        )
    return error(account_id, AUDIT_UNAVAILABLE, message, **extra)
