"""The local AWS MCP Server: ``aws___call_aws`` run by the ``awscli`` package against moto.

An ``mcp`` server on streamable HTTP at ``/mcp`` that, like the real one,
accepts only SigV4-signed requests (credential scope service ``aws-mcp``) and
acts with the caller's credentials: moto does not check signatures, so the
access key id and session token of the signed request are enough for moto to
know the member account. It checks nothing else: the bridge is the boundary.

Test and benchmark hooks (loopback only): ``GET /health``, ``GET /stats``
(request and execution counters), ``POST /admin/faults`` (latency, failures,
per-account delays), ``POST /admin/reset``.

With ``--latency-only`` (or ``{"latency_only": true}`` posted to ``/admin/faults``)
it answers each call after the injected delay with a small JSON document
(``{"LatencyOnly": true, "Command", "Account"}``, padded to ``--response-bytes``)
without running the CLI: a remote AWS MCP Server costs the bridge a round trip,
not the stand-in's serial CLI execution.

With ``--json-response`` each request is answered with a JSON body instead of
an event stream (both are MCP's streamable HTTP; the server chooses); it costs
the stand-in less CPU per call.

Run: ``python -m infra.local.aws_mcp --port 5101 --aws-endpoint http://127.0.0.1:5100
[--latency-ms N] [--fail-first N] [--latency-only [--response-bytes N]] [--json-response]``.
"""

import argparse
import asyncio
import contextlib
import io
import json
import logging
import re
import shlex
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from centralops import logs

logger = logging.getLogger("infra.local.aws_mcp")

_SIGV4 = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<akid>[A-Z0-9]{16,128})/\d{8}/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)"
    r"/aws4_request, ?SignedHeaders=[a-z0-9;-]+, ?Signature=[0-9a-f]{64}$"
)
CALL_AWS_DESCRIPTION = """Execute an AWS CLI command.

Runs exactly one AWS CLI command (for example `aws s3 ls` or
`aws ec2 describe-instances --region us-east-1`) with the caller's
credentials and returns the CLI's output (JSON unless --output says
otherwise). Errors from the service are returned as tool errors with the
CLI's message. Prefer read-only commands, narrow queries with --query and
filters, and name the region explicitly."""


@dataclass
class Faults:
    """Injected behaviour, changed at start or through ``/admin/faults``."""

    latency_ms: int = 0
    fail_next: int = 0
    fail_status: int = 503
    account_latency_ms: dict[str, int] = field(default_factory=dict)
    latency_only: bool = False  # answer after the delay without running the CLI (a remote server's cost)
    response_bytes: int = 0  # latency-only: pad each answer to about this many bytes
    generation: int = 0  # bumped by /admin/reset: calls still waiting from before never execute
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set (and replaced) whenever the faults change: calls waiting out a delay re-read it."""

    def touch(self) -> None:
        """Wake the calls waiting out a delay, so they wait out the delay as it is now."""
        self.changed.set()
        self.changed = asyncio.Event()

    async def wait_out(self, account: str, since: float) -> bool:
        """Wait out the injected delay for ``account`` since ``since``, as the faults say while it waits.

        A delay raised past any test's length holds a call until a later ``/admin/faults`` lets it
        go. False when ``/admin/reset`` came meanwhile (the call is abandoned).
        """
        generation = self.generation
        while self.generation == generation:
            remaining = (self.latency_ms + self.account_latency_ms.get(account, 0)) / 1000
            remaining -= time.monotonic() - since
            if remaining <= 0:
                return True
            changed = self.changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
        return False


@dataclass
class Stats:
    """What the server saw."""

    requests: int = 0
    unsigned: int = 0
    tool_calls: int = 0
    executed: int = 0
    failed_injected: int = 0
    exec_ms: float = 0.0
    by_account: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    commands: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "unsigned": self.unsigned,
            "tool_calls": self.tool_calls,
            "executed": self.executed,
            "failed_injected": self.failed_injected,
            "exec_ms": round(self.exec_ms, 1),
            "by_account": dict(self.by_account),
            "by_kind": dict(self.by_kind),
            "commands": list(self.commands),
        }


WARM_SERVICES = ("s3", "ec2", "lambda", "sts")


class CliRunner:
    """Runs commands in-process with one reused ``awscli`` driver, one at a time (it writes to stdout)."""

    def __init__(self, aws_endpoint: str, region: str) -> None:
        self._endpoint = aws_endpoint
        self._region = region
        self._lock = threading.Lock()
        self._driver: Any = None
        self._accounts: dict[str, str] = {}

    def account_of(self, access_key_id: str, session_token: str | None) -> str:
        """The account moto maps these credentials to (cached per key)."""
        if access_key_id not in self._accounts:
            sts = boto3.client(
                "sts",
                endpoint_url=self._endpoint,
                region_name=self._region,
                aws_access_key_id=access_key_id,
                aws_secret_access_key="unused-moto-does-not-verify",  # noqa: S106 - not a secret
                aws_session_token=session_token,
            )
            self._accounts[access_key_id] = sts.get_caller_identity()["Account"]
        return self._accounts[access_key_id]

    def _ensure_driver(self) -> Any:
        from awscli.clidriver import create_clidriver

        if self._driver is None:
            self._driver = create_clidriver()
            # AWS CLI v1 fetches http(s):// parameter values; v2 (and so the real server) does not.
            profiles = self._driver.session.full_config["profiles"]
            profiles.setdefault("default", {})["cli_follow_urlparam"] = "false"
            for name in ("awscli", "botocore", "s3transfer"):
                logging.getLogger(name).setLevel(logging.WARNING)
        return self._driver

    def warm(self, services: tuple[str, ...] = WARM_SERVICES) -> None:
        """Build the driver and load the models of the usual services before serving.

        The real AWS MCP Server is a warm remote service: without this, the first command after the
        stand-in starts would pay about half a second that AWS never charges.
        """
        with self._lock:
            session = self._ensure_driver().session
            for service in services:
                session.get_service_model(service)

    def run(
        self, argv: list[str], access_key_id: str, session_token: str | None
    ) -> tuple[int, str, str, float]:
        """Run ``aws <argv>``; returns (exit code, stdout, stderr, milliseconds spent holding the lock)."""
        with self._lock:
            started = time.perf_counter()
            session = self._ensure_driver().session
            # The caller's identity, and nothing a previous command may have left behind.
            session.set_config_variable("profile", None)
            session.set_config_variable("region", self._region)
            session.set_credentials(access_key_id, "unused-moto-does-not-verify", session_token)
            if "--endpoint-url" not in argv:
                argv = [*argv, "--endpoint-url", self._endpoint]
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = self._driver.main(argv)
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else 2
            return code, out.getvalue(), err.getvalue(), (time.perf_counter() - started) * 1000


def build_server(runner: CliRunner, faults: Faults, stats: Stats) -> MCPServer:
    """The MCP server with its tool and admin routes."""
    server = MCPServer("aws-mcp", instructions="AWS MCP Server (local stand-in backed by moto).")
    started_as = (faults.latency_only, faults.response_bytes)

    async def _account(access_key_id: str, token: str | None) -> str:
        if faults.latency_only and not faults.account_latency_ms:
            return access_key_id  # no account mapping needed: nothing runs and no delay depends on it
        return await asyncio.to_thread(runner.account_of, access_key_id, token)

    @server.tool(name="aws___call_aws", description=CALL_AWS_DESCRIPTION)
    async def call_aws(cli_command: str, ctx: Context) -> str:
        request = ctx.request_context.request
        headers = request.headers if isinstance(request, Request) else {}
        match = _SIGV4.match(headers.get("authorization", ""))
        if not match:  # the middleware already refused these; kept for in-process use
            raise ToolError("Unsigned request.")
        access_key_id, token = match["akid"], headers.get("x-amz-security-token")
        stats.tool_calls += 1
        argv = shlex.split(cli_command)
        if not argv or argv[0] != "aws":
            raise ToolError("cli_command must start with `aws`.")
        account = await _account(access_key_id, token)
        if faults.latency_ms or faults.account_latency_ms.get(account, 0):
            # Outside the lock: concurrent calls overlap.
            if not await faults.wait_out(account, time.monotonic()):
                raise ToolError("Abandoned: the stand-in was reset while this call waited.")
        if faults.latency_only:
            stats.by_account[account] += 1
            stats.commands.append(cli_command)
            answer = {"LatencyOnly": True, "Command": cli_command, "Account": account}
            if faults.response_bytes > 0:
                answer["Padding"] = "x" * faults.response_bytes
            return json.dumps(answer)
        code, out, err, exec_ms = await asyncio.to_thread(runner.run, argv[1:], access_key_id, token)
        stats.executed += 1
        stats.exec_ms += exec_ms
        stats.by_account[account] += 1
        stats.commands.append(cli_command)
        if code != 0:
            raise ToolError(err.strip() or out.strip() or f"aws exited with status {code}")
        return out

    @server.custom_route("/health", methods=["GET"])
    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @server.custom_route("/stats", methods=["GET"])
    async def get_stats(_: Request) -> Response:
        return JSONResponse(stats.as_dict())

    @server.custom_route("/admin/faults", methods=["POST"])
    async def set_faults(request: Request) -> Response:
        body = await request.json()
        faults.latency_ms = int(body.get("latency_ms", faults.latency_ms))
        faults.fail_next = int(body.get("fail_next", faults.fail_next))
        faults.fail_status = int(body.get("fail_status", faults.fail_status))
        faults.account_latency_ms = {str(k): int(v) for k, v in body.get("account_latency_ms", {}).items()}
        faults.latency_only = bool(body.get("latency_only", faults.latency_only))
        faults.response_bytes = int(body.get("response_bytes", faults.response_bytes))
        faults.touch()
        return JSONResponse({"ok": True})

    @server.custom_route("/admin/reset", methods=["POST"])
    async def reset(_: Request) -> Response:
        fresh = Stats()
        for name in vars(fresh):
            setattr(stats, name, getattr(fresh, name))
        faults.fail_next, faults.account_latency_ms = 0, {}
        faults.latency_only, faults.response_bytes = started_as
        faults.generation += 1
        faults.touch()
        return JSONResponse({"ok": True})

    return server


class SigV4Gate:
    """ASGI middleware: counts ``/mcp`` requests, refuses unsigned ones, injects failures."""

    def __init__(self, app: ASGIApp, faults: Faults, stats: Stats) -> None:
        self.app = app
        self.faults = faults
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/mcp"):
            await self.app(scope, receive, send)
            return
        self.stats.requests += 1
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        match = _SIGV4.match(headers.get("authorization", ""))
        if not match or match["service"] != "aws-mcp" or "x-amz-date" not in headers:
            self.stats.unsigned += 1
            await _reply(
                send, 401, {"message": "Missing or invalid SigV4 Authorization for service aws-mcp."}
            )
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.stats.by_kind[f"{scope['method']} {_rpc_method(body)}".strip()] += 1
        if self.faults.fail_next > 0 and b'"tools/call"' in body:
            self.faults.fail_next -= 1
            self.stats.failed_injected += 1
            await _reply(send, self.faults.fail_status, {"message": "Service unavailable (injected)."})
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _rpc_method(body: bytes) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        return str(json.loads(body).get("method", "response"))
    return ""


async def _reply(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def build_app(
    aws_endpoint: str, *, region: str = "us-east-1", faults: Faults | None = None, json_response: bool = False
) -> ASGIApp:
    """The whole stand-in as an ASGI app (answers as event streams, or JSON bodies with ``json_response``)."""
    faults = faults or Faults()
    stats = Stats()
    runner = CliRunner(aws_endpoint, region)
    if not faults.latency_only:
        runner.warm()
    server = build_server(runner, faults, stats)
    return SigV4Gate(server.streamable_http_app(json_response=json_response), faults, stats)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.aws_mcp", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--port", type=int, default=5101)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--aws-endpoint", default="http://127.0.0.1:5100", help="moto server URL")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay added to every tool call")
    parser.add_argument("--fail-first", type=int, default=0, help="answer the first N tool calls with 503")
    parser.add_argument(
        "--latency-only",
        action="store_true",
        help="answer after the injected latency without running the CLI (how a remote server costs us)",
    )
    parser.add_argument("--response-bytes", type=int, default=0, help="with --latency-only: pad each answer")
    parser.add_argument(
        "--json-response",
        action="store_true",
        help="answer each request with a JSON body instead of an event stream (both are streamable HTTP)",
    )
    args = parser.parse_args(argv)
    logs.configure(fmt="text")
    faults = Faults(
        args.latency_ms, args.fail_first, latency_only=args.latency_only, response_bytes=args.response_bytes
    )
    app = build_app(args.aws_endpoint, region=args.region, faults=faults, json_response=args.json_response)
    logger.info("aws mcp stand-in listening", extra={"url": f"http://{args.host}:{args.port}/mcp"})
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
