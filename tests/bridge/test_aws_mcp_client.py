"""The bridge's MCP client against the real ``mcp`` server in its other modes (JSON answers, stateless).

The AWS MCP Server stand-in (SSE answers, stateful sessions) is covered in
``test_aws_mcp_server.py``; here an in-process ``mcp`` server answers with
plain JSON bodies or keeps no sessions, behind a gate that records who signed
each request and can fail the next tool call.
"""

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.aws_mcp import AwsMcpClient
from bridge.credentials import AwsCredentials
from bridge.errors import AwsMcpError
from tests.fixtures.aws import free_port

_KEY = re.compile(r"AWS4-HMAC-SHA256 Credential=(?P<akid>[^/]+)/\d{8}/[^/]+/aws-mcp/aws4_request")


@dataclass
class Gate:
    """Records each MCP request (method, signer, session) and fails the next tool calls on demand."""

    app: ASGIApp
    seen: list[tuple[str, str | None, str | None, bool]] = field(default_factory=list)
    fail_calls: int = 0
    tool_runs: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        match = _KEY.match(headers.get("authorization", ""))
        signed = bool(match) and "x-amz-date" in headers and "x-amz-security-token" in headers
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.seen.append(
            (scope["method"], match["akid"] if match else None, headers.get("mcp-session-id"), signed)
        )
        if self.fail_calls and b'"tools/call"' in body:
            self.fail_calls -= 1
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b"boom"})
            return

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _server(gate_box: list[Gate]) -> MCPServer:
    server = MCPServer("aws-mcp-test")

    @server.tool(name="aws___call_aws")
    async def call_aws(cli_command: str) -> str:
        gate_box[0].tool_runs += 1
        if "fail" in cli_command:
            raise ToolError("An error occurred (AccessDenied) when calling the operation: denied")
        return '{"ran": "' + cli_command + '"}'

    return server


@contextlib.contextmanager
def _serve(*, json_response: bool, stateless: bool) -> Iterator[tuple[str, Gate]]:
    box: list[Gate] = []
    app = _server(box).streamable_http_app(json_response=json_response, stateless_http=stateless)
    gate = Gate(app)
    box.append(gate)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(gate, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/mcp", gate
    finally:
        server.should_exit = True
        thread.join(10)


def _creds(n: int) -> AwsCredentials:
    return AwsCredentials(f"ASIATEST{n:012d}", "secret", f"token-{n}", time.time() + 3600)


CALL = {"cli_command": "aws sts get-caller-identity"}


@pytest.mark.parametrize(("json_response", "stateless"), [(True, False), (True, True)])
async def test_answers_in_json_or_without_sessions_reach_the_caller(
    json_response: bool, stateless: bool
) -> None:
    with _serve(json_response=json_response, stateless=stateless) as (url, gate):
        client = AwsMcpClient(url, "us-east-1")
        try:
            ok = await client.call(_creds(1), "aws___call_aws", CALL)
            assert ok.text == '{"ran": "aws sts get-caller-identity"}' and ok.is_error is False
            failed = await client.call(_creds(1), "aws___call_aws", {"cli_command": "aws s3 ls fail"})
            assert failed.is_error is True and "AccessDenied" in failed.text
            assert client.sessions_opened == 1
        finally:
            await client.aclose()
        assert gate.tool_runs == 2


async def test_every_request_is_signed_by_its_own_sessions_credentials() -> None:
    with _serve(json_response=True, stateless=False) as (url, gate):
        client = AwsMcpClient(url, "us-east-1")
        try:
            await asyncio.gather(*(client.call(_creds(n), "aws___call_aws", CALL) for n in (1, 2, 3, 1, 2)))
        finally:
            await client.aclose()  # ends each session with a signed DELETE
    assert gate.seen and all(signed for *_, signed in gate.seen)
    signers: dict[str, set[str | None]] = {}
    for _method, akid, session_id, _ in gate.seen:
        if session_id:
            signers.setdefault(session_id, set()).add(akid)
    assert len(signers) == 3  # one session per set of credentials
    assert all(len(keys) == 1 for keys in signers.values())  # nobody's request rode on another's session
    assert sum(1 for method, *_ in gate.seen if method == "DELETE") == 3


async def test_a_session_the_server_forgot_is_reopened_once_and_the_call_runs_once() -> None:
    with _serve(json_response=True, stateless=False) as (url, gate):
        client = AwsMcpClient(url, "us-east-1")
        try:
            await client.call(_creds(1), "aws___call_aws", CALL)
            (session,) = client._sessions.values()
            session.session_id = "forgotten-by-the-server"  # as after a server restart
            again = await client.call(_creds(1), "aws___call_aws", CALL)
            assert again.is_error is False
            assert client.sessions_opened == 2
        finally:
            await client.aclose()
        assert gate.tool_runs == 2


async def test_a_failed_call_drops_the_session_and_the_next_call_opens_a_fresh_one() -> None:
    with _serve(json_response=True, stateless=False) as (url, gate):
        client = AwsMcpClient(url, "us-east-1", retries=0)
        try:
            await client.call(_creds(1), "aws___call_aws", CALL)
            gate.fail_calls = 1
            with pytest.raises(AwsMcpError) as failed:
                await client.call(_creds(1), "aws___call_aws", CALL, idempotent=True)
            assert failed.value.code == "aws_mcp_error"
            assert not client._sessions  # nothing half-broken is kept
            assert (await client.call(_creds(1), "aws___call_aws", CALL)).is_error is False
            assert client.sessions_opened == 2
        finally:
            await client.aclose()


async def test_an_unreachable_server_is_reported_and_nothing_is_kept() -> None:
    client = AwsMcpClient(f"http://127.0.0.1:{free_port()}/mcp", "us-east-1", retries=0)
    try:
        with pytest.raises(AwsMcpError) as failed:
            await client.call(_creds(1), "aws___call_aws", CALL)
        assert failed.value.code == "aws_mcp_unavailable"
        assert "could not be reached" in failed.value.message
        assert not client._sessions and not client._busy
    finally:
        await client.aclose()
