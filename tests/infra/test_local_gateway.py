"""The local Gateway: JWT first, then the bridge's tools, invoked as Lambda would be."""

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from centralops.tokens import CognitoVerifier
from infra.local import org
from infra.local.gateway import build_app
from tests.fixtures.aws import CognitoPool
from tests.fixtures.exchange import Exchange
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
    verifier = CognitoVerifier(
        issuer=cognito.issuer,
        audience=org.GATEWAY_AUDIENCE,
        jwks_url=cognito.jwks_url,
        token_use=frozenset({"access"}),
    )
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


async def test_tools_are_listed_with_the_target_prefix_and_invoke_the_bridge(
    gateway_url: str, cognito: CognitoPool, exchange: Exchange, bridge: RecordingBridge
) -> None:
    args = {
        "account_id": "222222222222",
        "tool_name": "aws___call_aws",
        "arguments": {"cli_command": "aws s3 ls"},
    }
    token = exchange.gateway_token(exchange.runtime_token(cognito.id_token("alice@example.com")))
    tools, result = await _call(gateway_url, token, "bridge-lambda___query", args)
    assert tools == ["bridge-lambda___query", "bridge-lambda___query_accounts"]
    assert bridge.calls == [(args, "bridge-lambda___query")]
    assert json.loads(result.content[0].text)["result"] == ["bucket-a"]


BAD_TOKENS = {
    "expired": lambda pool, ex: pool.mint(expires_in=-600, token_use="access", aud=org.GATEWAY_AUDIENCE),
    "wrong_audience": lambda pool, ex: pool.mint(token_use="access", aud="another-app"),
    "garbage": lambda pool, ex: "not-a-jwt",
    "a person's own ID token": lambda pool, ex: pool.id_token("alice@example.com"),
    "a person's own access token": lambda pool, ex: pool.tokens("alice@example.com")["AccessToken"],
    "the Runtime's token": lambda pool, ex: ex.runtime_token(pool.id_token("alice@example.com")),
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
async def test_bad_tokens_are_refused_before_any_tool_runs(
    gateway_url: str, cognito: CognitoPool, exchange: Exchange, bridge: RecordingBridge, kind: str
) -> None:
    token = BAD_TOKENS[kind](cognito, exchange)
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
