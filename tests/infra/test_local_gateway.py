"""The local Gateway: JWT first, then the bridge's tools, invoked as Lambda would be."""

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from bridge.interceptor import Interceptor
from centralops.identity import CALLER_KEY
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
def gateway_url(cognito: CognitoPool, exchange: Exchange, bridge: RecordingBridge) -> Iterator[str]:
    # As configured in AWS: the authorizer accepts the Gateway's audience, the interceptor the agent as actor.
    verifier = CognitoVerifier(
        issuer=cognito.issuer,
        audience=org.GATEWAY_AUDIENCE,
        jwks_url=cognito.jwks_url,
        token_use=frozenset({"access"}),
    )
    interceptor = Interceptor(verifier, required_actor=exchange.clients.agent.client_id)
    with serve(build_app(bridge, verifier, interceptor=interceptor)) as url:
        yield f"{url}/mcp"


def _gateway_token(exchange: Exchange, pool: CognitoPool, username: str) -> str:
    """What the agent sends for ``username``: the Runtime token exchanged with the agent as actor."""
    return exchange.gateway_token(exchange.runtime_token(pool.id_token(username)))


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
    gateway_url: str, cognito: CognitoPool, exchange: Exchange, bridge: RecordingBridge
) -> None:
    args = {
        "account_id": "222222222222",
        "tool_name": "aws___call_aws",
        "arguments": {"cli_command": "aws s3 ls"},
    }
    token = _gateway_token(exchange, cognito, "alice@example.com")
    tools, result = await _call(gateway_url, token, "bridge-lambda___query", args)
    assert tools == ["bridge-lambda___query", "bridge-lambda___query_accounts"]
    [(event, tool)] = bridge.calls
    assert tool == "bridge-lambda___query"
    stamped = event.pop(CALLER_KEY)
    assert event == args
    assert stamped["username"] == stamped["email"] == "alice@example.com"
    assert stamped["groups"] == ["centralops-operators"]
    assert json.loads(result.content[0].text)["result"] == ["bucket-a"]


async def test_the_interceptor_replaces_a_forged_caller_and_requester_with_the_token_holder(
    gateway_url: str, cognito: CognitoPool, exchange: Exchange, bridge: RecordingBridge
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
    await _call(
        gateway_url, _gateway_token(exchange, cognito, "alice@example.com"), "bridge-lambda___query", args
    )
    [(event, _)] = bridge.calls
    assert "requester" not in event
    assert event["context"] == {}
    assert event[CALLER_KEY]["email"] == "alice@example.com"
    assert event[CALLER_KEY]["groups"] == ["centralops-operators"]


async def test_a_caller_the_interceptor_refuses_gets_a_json_rpc_error_and_the_bridge_is_not_called(
    gateway_url: str, cognito: CognitoPool, exchange: Exchange, bridge: RecordingBridge
) -> None:
    # A Gateway token whose email is not verified and whose username is an address: it could name anyone.
    token = cognito.mint(
        token_use="access",
        aud=org.GATEWAY_AUDIENCE,
        act={"sub": exchange.clients.agent.client_id},
        username="bob@example.com",
        email="bob@example.com",
        email_verified=False,
    )
    refusal = await _call_refused(gateway_url, token, "bridge-lambda___query", {"account_id": "222222222222"})
    assert "verify your email" in refusal.message
    assert refusal.data == {"code": "unverified_email"}
    assert bridge.calls == []


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


@pytest.mark.parametrize(
    ("actor", "code"),
    [("the bot", "wrong_actor"), ("nobody", "missing_actor")],
)
async def test_a_gateway_token_not_presented_by_the_agent_is_refused_by_the_interceptor(
    gateway_url: str, cognito: CognitoPool, exchange: Exchange, bridge: RecordingBridge, actor: str, code: str
) -> None:
    subject = exchange.runtime_token(cognito.id_token("alice@example.com"))
    if actor == "the bot":  # the right audience, exchanged by another service than the agent
        token = exchange.derive(exchange.clients.bot, subject, "ACCESS_TOKEN", org.GATEWAY_AUDIENCE)
    else:
        token = cognito.mint(token_use="access", aud=org.GATEWAY_AUDIENCE, username="alice@example.com")
    refusal = await _call_refused(gateway_url, token, "bridge-lambda___query", {"account_id": "222222222222"})
    assert refusal.data == {"code": code}
    assert bridge.calls == []
