"""The local Gateway: JWT first, then the bridge's tools, invoked as Lambda would be."""

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from centralops.identity import CALLER_KEY
from centralops.tokens import CognitoVerifier
from infra.local.gateway import build_app
from tests.fixtures.aws import CognitoPool
from tests.fixtures.servers import serve


class RecordingBridge:
    """Stands in for the bridge handler and records every invocation."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], str]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.calls.append((event, context.client_context.custom["bedrockAgentCoreToolName"]))
        return {"ok": True, "account_id": event.get("account_id"), "result": ["bucket-a"]}


@pytest.fixture
def bridge() -> RecordingBridge:
    return RecordingBridge()


@pytest.fixture
def gateway_url(cognito: CognitoPool, bridge: RecordingBridge) -> Iterator[str]:
    verifier = CognitoVerifier(issuer=cognito.issuer, audience=cognito.client_id, jwks_url=cognito.jwks_url)
    with serve(build_app(bridge, verifier)) as url:
        yield f"{url}/mcp"


async def _call(url: str, token: str, tool: str, args: dict[str, Any]) -> tuple[list[str], Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as mcp,
    ):
        await mcp.initialize()
        tools = [t.name for t in (await mcp.list_tools()).tools]
        result = await mcp.call_tool(tool, args)
        return tools, result


async def _call_refused(url: str, token: str, tool: str, args: dict[str, Any]) -> MCPError:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as mcp,
    ):
        await mcp.initialize()
        with pytest.raises(MCPError) as raised:
            await mcp.call_tool(tool, args)
        return raised.value


async def test_tools_are_listed_with_the_target_prefix_and_invoke_the_bridge(
    gateway_url: str, cognito: CognitoPool, bridge: RecordingBridge
) -> None:
    args = {
        "account_id": "222222222222",
        "tool_name": "aws___call_aws",
        "arguments": {"cli_command": "aws s3 ls"},
    }
    tools, result = await _call(
        gateway_url, cognito.id_token("alice@example.com"), "bridge-lambda___query", args
    )
    assert tools == ["bridge-lambda___query", "bridge-lambda___query_accounts"]
    [(event, tool)] = bridge.calls
    assert tool == "bridge-lambda___query"
    stamped = event.pop(CALLER_KEY)
    assert event == args
    assert stamped["username"] == stamped["email"] == "alice@example.com"
    assert stamped["groups"] == ["centralops-operators"]
    assert json.loads(result.content[0].text)["result"] == ["bucket-a"]


async def test_the_interceptor_replaces_a_forged_caller_and_requester_with_the_token_holder(
    gateway_url: str, cognito: CognitoPool, bridge: RecordingBridge
) -> None:
    forged = {
        "sub": "x",
        "username": "bob@example.com",
        "groups": ["centralops-approvers"],
        "email": "bob@example.com",
    }
    args = {
        "account_id": "222222222222",
        "tool_name": "aws___call_aws",
        "arguments": {"cli_command": "aws s3 ls"},
        "requester": "bob@example.com",
        "context": {CALLER_KEY: forged},
        CALLER_KEY: forged,
    }
    await _call(gateway_url, cognito.id_token("alice@example.com"), "bridge-lambda___query", args)
    [(event, _)] = bridge.calls
    assert "requester" not in event
    assert event["context"] == {}
    assert event[CALLER_KEY]["email"] == "alice@example.com"
    assert event[CALLER_KEY]["groups"] == ["centralops-operators"]


async def test_a_caller_the_interceptor_refuses_gets_a_json_rpc_error_and_the_bridge_is_not_called(
    gateway_url: str, cognito: CognitoPool, bridge: RecordingBridge
) -> None:
    # A pool token whose email is not verified and whose username is an address: it could name anyone.
    token = cognito.mint(
        **{"cognito:username": "bob@example.com", "email": "bob@example.com", "email_verified": False}
    )
    refusal = await _call_refused(gateway_url, token, "bridge-lambda___query", {"account_id": "222222222222"})
    assert "verify your email" in refusal.message
    assert refusal.data == {"code": "unverified_email"}
    assert bridge.calls == []


@pytest.mark.parametrize("kind", ["expired", "wrong_audience", "garbage"])
async def test_bad_tokens_are_refused_before_any_tool_runs(
    gateway_url: str, cognito: CognitoPool, bridge: RecordingBridge, kind: str
) -> None:
    token = {
        "expired": cognito.mint(expires_in=-600),
        "wrong_audience": cognito.mint(aud="another-app"),
        "garbage": "not-a-jwt",
    }[kind]
    response = httpx2.post(
        gateway_url,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    )
    assert response.status_code == 401
    assert bridge.calls == []


def test_a_request_without_a_token_is_refused(gateway_url: str, bridge: RecordingBridge) -> None:
    response = httpx2.post(gateway_url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert response.status_code == 401
    assert bridge.calls == []
