"""The bridge's work for ``query`` and ``query_accounts``: check, enter the account, call, shape, audit."""

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge import commands
from bridge.approvals import Approvals
from bridge.audit import AuditLog
from bridge.aws_mcp import AwsMcpClient
from bridge.config import BridgeConfig
from bridge.credentials import Caller, CredentialProvider
from bridge.errors import AccountError, BridgeError, CommandRefused
from bridge.fanout import fan_out
from bridge.offload import fit
from bridge.redact import cap, redact, redact_command, redact_text
from bridge.registry import Registry
from bridge.results import (
    Result,
    audit_intents,
    audit_records,
    caller_of,
    error,
    not_recorded,
    outcome,
    parse_json,
)
from bridge.writeahead import WriteAhead
from centralops.identity import IdentityError

logger = logging.getLogger(__name__)

CALL_AWS = "aws___call_aws"
_boto_lock = threading.Lock()
MAX_ACCOUNTS = 1_000


@dataclass(frozen=True)
class _Plan:
    """A checked request, ready to run in each account."""

    command: commands.Command
    tool_name: str
    region: str | None
    approval_id: str | None
    caller: Caller
    mutating: bool
    tool: str = "query"
    region_argument: str | None = None

    @functools.cached_property
    def shape(self) -> dict[str, str]:
        """The command as echoed and audited (secrets removed), and its classification: once per call."""
        return {"command": redact_command(self.command.text), "classification": self.command.classification}

    @functools.cached_property
    def wire(self) -> dict[str | None, str]:
        """The command line sent to the AWS MCP Server, per region (filled as regions are met)."""
        return {}


class Bridge:
    """The bridge's collaborators, created lazily from the configuration unless injected.

    Args:
        config: Settings.
        registry: Account registry (from ``config.accounts_table`` when omitted).
        credentials: AssumeRole provider.
        aws_mcp: AWS MCP Server client.
        approvals: Approvals store.
        audit: Audit log.
        client_factory: ``client_factory("sts")`` makes a boto3 client for the bridge's own account.
    """

    def __init__(
        self,
        config: BridgeConfig,
        *,
        registry: Registry | None = None,
        credentials: CredentialProvider | None = None,
        aws_mcp: AwsMcpClient | None = None,
        approvals: Approvals | None = None,
        audit: AuditLog | None = None,
        client_factory: Callable[[str], Any] | None = None,
    ) -> None:
        self.config = config
        self._boto_session: Any = None
        factory = client_factory or self._boto_client
        self._results_s3 = lambda: factory("s3")  # the full results of wide fan-outs
        self.registry = registry or Registry(
            config.accounts_table,
            lambda: factory("dynamodb"),
            default_role_name=config.default_role_name,
            default_external_id=config.external_id,
            ttl_s=config.registry_ttl_s,
        )
        self.credentials = credentials or CredentialProvider(lambda: factory("sts"))
        self.aws_mcp = aws_mcp or AwsMcpClient(
            config.aws_mcp_url,
            config.aws_mcp_region,
            call_timeout_s=config.call_timeout_s,
            retries=config.mcp_retries,
            max_sessions=config.max_sessions,
        )
        self.approvals = approvals or Approvals(
            config.approvals_table, lambda: factory("dynamodb"), self._normalise
        )
        self.audit = audit or AuditLog(config.audit_table, lambda: factory("dynamodb"))

    def _boto_client(self, service: str) -> Any:
        # One boto3 session for all the bridge's clients: each new session reloads the endpoint and
        # service catalogues (about 0.1 s of CPU); creating clients from one is not thread-safe.
        from botocore.config import Config

        with _boto_lock:
            if self._boto_session is None:
                import boto3

                self._boto_session = boto3.session.Session()
            return self._boto_session.client(
                service,
                region_name=self.config.region,
                endpoint_url=self.config.endpoint_url,
                config=Config(max_pool_connections=64, retries={"mode": "standard", "max_attempts": 3}),
            )

    def _normalise(self, text: str) -> str:
        return self._parse(text).text

    def _parse(self, text: object) -> commands.Command:
        return commands.parse(
            text, local_endpoint_url=self.config.local_endpoint_url, max_chars=self.config.max_command_chars
        )

    async def query(self, event: dict[str, Any]) -> Result:
        """One command in one account."""
        account_id = event.get("account_id")
        if not isinstance(account_id, str):
            return error("", "invalid_arguments", "account_id must be a 12-digit account id string.")
        return (await self._run([account_id], event, "query"))[0]

    async def query_accounts(self, event: dict[str, Any]) -> Result:
        """One command in many accounts; one result per account, in the order given."""
        ids = event.get("account_ids")
        # A fan-out split into several calls gives each call its share of the inline budget, so together
        # they return no more inline than one call would. A share can only lower the budget.
        share = 1 if event.get("inline_share") is None else event["inline_share"]
        budget = self.config.max_response_bytes
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            message = "inline_share must be a number above 0 and at most 1: this call's part of the response budget."
            results = [error("", "invalid_arguments", message)]
        elif not isinstance(ids, list) or not ids or not all(isinstance(a, str) for a in ids):
            results = [
                error("", "invalid_arguments", "account_ids must be a non-empty list of account id strings.")
            ]
        elif len(ids) > MAX_ACCOUNTS:
            message = f"{len(ids)} accounts in one call; the limit is {MAX_ACCOUNTS}. Split the request."
            results = [error("", "too_many_accounts", message)]
        else:
            budget = max(1, int(budget * share))
            results = await self._run(list(dict.fromkeys(ids)), event, "query_accounts")
        ok = sum(1 for r in results if r["ok"])
        response = {"results": results, "ok_count": ok, "error_count": len(results) - ok}
        return await asyncio.to_thread(
            fit,
            response,
            max_bytes=budget,
            bucket=self.config.results_bucket,
            s3=self._results_s3,
            requester=caller_of(event).requester,
        )

    async def _run(self, account_ids: list[str], event: dict[str, Any], tool: str) -> list[Result]:
        started = time.monotonic()
        caller = Caller(requester="")  # unknown until the stamp is read
        raw = (
            (event.get("arguments") or {}).get("cli_command")
            if isinstance(event.get("arguments"), dict)
            else None
        )
        text = raw if isinstance(raw, str) else ""
        plan: _Plan | None = None
        dry_run = event.get("dry_run") is True
        try:
            caller = caller_of(event)
            plan = self._plan(event, caller, tool)
            await self._entitle(plan, account_ids)
            if dry_run:
                if plan.mutating:
                    await self._check_write_roles(plan, account_ids)
                return await self._dry_run(plan, account_ids, started)
            if plan.mutating:
                await self._check_write_roles(plan, account_ids)
                await asyncio.to_thread(
                    self.approvals.check, plan.approval_id, **self._bound(plan, account_ids)
                )
        except (BridgeError, IdentityError) as e:
            ms = int((time.monotonic() - started) * 1000)
            command = redact_command(plan.command.text if plan else text)
            if plan:
                classification = plan.command.classification
            else:
                classification = "denied" if e.code == "denied_operation" else "invalid"
            results = [
                error(a, e.code, e.message, command=command, classification=classification, ms=ms)
                for a in account_ids
            ]
            await self._audit(results, caller, event, tool, "refused")
            return results
        # Write-ahead audit: no account runs the command before its intent is stored (a read starts
        # as soon as its own batch is; a change waits for all); outcomes are recorded as they arrive
        # (timed-out accounts, which may still have run, when the call ends).
        shape = plan.shape
        trail = WriteAhead(self.audit, audit_intents(account_ids, caller, event, tool, **shape))
        trail.start()
        blocked: set[str] = set()
        if plan.mutating:
            blocked = await trail.begin()
            if refused := await self._approve(plan, account_ids, blocked, started):
                return await self._settle(trail, refused, "refused")

        def done(result: Result) -> Result:
            code = None if result["ok"] else result["error"]["code"]
            trail.complete(result["account_id"], outcome(result), int(result.get("ms", 0)), code)
            return result

        async def work(account_id: str) -> Result:
            if account_id in blocked or not await trail.ready(account_id):
                return done(not_recorded(account_id, mutating=False, **shape, ms=0))
            return done(await self._one(account_id, plan))

        results = await fan_out(
            account_ids,
            work,
            concurrency=self.config.max_concurrency,
            timeout_s=self.config.account_timeout_s,
            on_timeout=lambda a, ms: error(
                a,
                "account_timeout",
                f"Account {a} did not answer within {self.config.account_timeout_s:g} s. "
                "Narrow the command or retry this account alone.",
                command=redact_command(plan.command.text),
                classification=plan.command.classification,
                ms=ms,
            ),
            budget_s=self.config.total_budget_s,
            on_budget=lambda a, ms: error(
                a,
                "budget_exhausted",
                f"Account {a} had not answered when the whole request reached its "
                f"{self.config.total_budget_s:g} s budget. Ask about fewer accounts or narrow the command.",
                command=redact_command(plan.command.text),
                classification=plan.command.classification,
                ms=ms,
            ),
        )
        return await self._settle(trail, results, None)

    def _plan(self, event: dict[str, Any], caller: Caller, tool: str) -> _Plan:
        tool_name = event.get("tool_name")
        if tool_name != CALL_AWS:
            raise BridgeError(
                f"tool_name must be {CALL_AWS!r}, not {tool_name!r}: it is the only AWS MCP Server tool "
                "CentralOps runs.",
                code="unknown_tool",
            )
        arguments = event.get("arguments")
        if not isinstance(arguments, dict) or set(arguments) - {"cli_command"}:
            raise CommandRefused(
                'arguments must be {"cli_command": "aws ..."} and nothing else.', code="invalid_arguments"
            )
        command = self._parse(arguments.get("cli_command"))
        region = event.get("region") or None
        if region is not None and (not isinstance(region, str) or not commands.REGION.match(region)):
            raise CommandRefused(
                f"{region!r} is not an AWS region name such as us-east-1.", code="invalid_region"
            )
        if region and command.region and region != command.region:
            raise CommandRefused(
                f"The call asks for region {region} but the command names --region {command.region}. Use one.",
                code="region_conflict",
            )
        approval_id = event.get("approval_id") if isinstance(event.get("approval_id"), str) else None
        mutating = command.classification == "mutating"
        return _Plan(
            command, CALL_AWS, region or command.region, approval_id, caller, mutating, tool, region or None
        )

    async def _entitle(self, plan: _Plan, account_ids: list[str]) -> None:
        """Refuse the whole call when the verified caller may not query one of its accounts.

        Unknown, disabled or unreadable accounts are left to their own per-account errors. The entries
        are read in batches and cached, so the accounts' own lookups that follow read nothing.
        """
        entries = await asyncio.to_thread(self.registry.prefetch, account_ids)
        refused = [e for e in entries.values() if e.enabled and not e.entitles(plan.caller.groups)]
        if not refused:
            return
        names = ", ".join(e.name for e in refused)
        groups = sorted({g for e in refused for g in e.allowed_groups})
        them = "it" if len(refused) == 1 else "them"
        raise BridgeError(
            f"You ({plan.caller.requester}) are not entitled to query {names}: limited to the group(s) "
            f"{', '.join(groups)}. Nothing was run. Leave {them} out, or ask an administrator to add you "
            "to one of those groups.",
            code="not_entitled",
        )

    async def _dry_run(self, plan: _Plan, account_ids: list[str], started: float) -> list[Result]:
        """Every check, no AWS call: the classification per account, or why the account would refuse."""
        shape = {"command": redact_command(plan.command.text), "classification": plan.command.classification}
        results: list[Result] = []
        for account_id in account_ids:
            ms = int((time.monotonic() - started) * 1000)
            try:
                entry = await asyncio.to_thread(self.registry.get, account_id)
            except BridgeError as e:
                results.append(error(account_id, e.code, e.message, **shape, ms=ms))
                continue
            results.append(
                {
                    "ok": True,
                    "dry_run": True,
                    "account_id": account_id,
                    "account_name": entry.name,
                    **shape,
                    "api_call": plan.command.api_call,
                    "ms": ms,
                }
            )
        return results

    async def _check_write_roles(self, plan: _Plan, account_ids: list[str]) -> None:
        entries = await asyncio.gather(*(asyncio.to_thread(self.registry.get, a) for a in account_ids))
        missing = [e.name for e in entries if not e.write_role_name]
        if missing:
            raise BridgeError(
                f"`{redact_command(plan.command.text)}` changes resources, and {', '.join(missing)} has no write role "
                "registered for CentralOps, so it cannot run there even with approval. "
                "Ask an administrator to set write_role_name, or make the change yourself.",
                code="no_write_role",
            )

    @staticmethod
    def _bound(plan: _Plan, account_ids: list[str]) -> dict[str, Any]:
        """What an approval must name to let this run."""
        return {
            "command": plan.command.text,
            "accounts": account_ids,
            "requester": plan.caller.requester,
            "region": plan.region_argument,
            "tool": plan.tool,
        }

    async def _approve(
        self, plan: _Plan, account_ids: list[str], blocked: set[str], started: float
    ) -> list[Result] | None:
        """Use the approval up once every intent is stored; else the refusal of every account.

        A change runs in all its approved accounts or none, so one unstored intent stops it all and
        leaves the approval unused.
        """
        shape = {"command": redact_command(plan.command.text), "classification": plan.command.classification}
        ms = int((time.monotonic() - started) * 1000)
        if blocked:
            return [not_recorded(a, mutating=True, **shape, ms=ms) for a in account_ids]
        try:
            await asyncio.to_thread(
                self.approvals.consume, plan.approval_id, **self._bound(plan, account_ids)
            )
        except BridgeError as e:
            return [error(a, e.code, e.message, **shape, ms=ms) for a in account_ids]
        return None

    async def _settle(self, trail: WriteAhead, results: list[Result], forced: str | None) -> list[Result]:
        """Complete every account's intent with its result, wait for the writes, meter the call."""
        for r in results:
            code = None if r["ok"] else r["error"]["code"]
            trail.complete(r["account_id"], forced or outcome(r), int(r.get("ms", 0)), code)
        self.audit.settled(await trail.close())
        return results

    async def _one(self, account_id: str, plan: _Plan) -> Result:
        started = time.monotonic()
        shape = plan.shape

        def ms() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            if self.registry.cached(account_id):
                entry = self.registry.get(account_id)
            else:
                entry = await asyncio.to_thread(self.registry.get, account_id)
            role = entry.write_role_name if plan.mutating else entry.role_name
            if not role:  # checked before the approval was consumed; kept for safety
                raise AccountError(f"{entry.name} has no write role.", code="no_write_role")
            creds = await self.credentials.get(account_id, role, plan.caller, external_id=entry.external_id)
            region = plan.region or entry.default_region or self.config.region
            answer = await self.aws_mcp.call(
                creds, plan.tool_name, {"cli_command": self._wire(plan, region)}, idempotent=not plan.mutating
            )
        except BridgeError as e:
            return error(account_id, e.code, redact_text(e.message), **shape, ms=ms())
        except Exception:
            logger.exception("account failed unexpectedly", extra={"account_id": account_id})
            message = (
                "The bridge failed unexpectedly in this account. Try again; the bridge's log has details."
            )
            return error(account_id, "internal_error", message, **shape, ms=ms())
        if answer.is_error:
            message = redact_text(
                answer.text.removeprefix(f"Error executing tool {plan.tool_name}: ").strip()
            )
            return error(
                account_id, "aws_error", message or "The AWS CLI failed without a message.", **shape, ms=ms()
            )
        result, truncated = cap(redact(parse_json(answer.text)), self.config.max_output_chars)
        return {
            "ok": True,
            "account_id": account_id,
            "account_name": entry.name,
            "region": region,
            **shape,
            "result": result,
            "truncated": truncated,
            "ms": ms(),
        }

    @staticmethod
    def _wire(plan: _Plan, region: str) -> str:
        known = plan.wire.get(region)
        if known is not None:
            return known
        text = plan.command.text
        if not plan.command.region:
            text += f" --region {region}"
        if not plan.command.has_output:
            text += " --output json"
        plan.wire[region] = text
        return text

    async def _audit(
        self, results: list[Result], caller: Caller, event: dict[str, Any], tool: str, forced: str | None
    ) -> None:
        await asyncio.to_thread(self.audit.write, audit_records(results, caller, event, tool, forced))

    async def aclose(self) -> None:
        """Close the AWS MCP sessions."""
        await self.aws_mcp.aclose()
