"""Direct MCP calls to the local Gateway: only a token the agent exchanged for the Gateway gets in.

A person who holds their own pool tokens, a token meant for another hop (the
Runtime's), or a Gateway token another service exchanged, calls the Gateway's
MCP endpoint directly. Each is refused before any AWS call, counted at the AWS
MCP stand-in: the first three by the Gateway's authorizer (401), the last by
its REQUEST interceptor (a JSON-RPC error; the bridge is never invoked).
"""

import json
from collections.abc import Callable
from typing import Any

import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from centralops import settings
from infra.local import org
from infra.local.org import StackInfo
from tests.fixtures.exchange import StackTokens

ALICE = org.person("alice")
QUERY = {
    "account_id": "222222222222",
    "tool_name": "aws___call_aws",
    "arguments": {"cli_command": "aws s3 ls"},
    "requester": "bob@example.com",  # a forged requester: the interceptor replaces it
}


@pytest.fixture(scope="module")
def tokens(info: StackInfo) -> StackTokens:
    return StackTokens(info)


def _aws_calls(info: StackInfo) -> int:
    stats = httpx.get(info.aws_mcp_url.removesuffix("/mcp") + "/stats").json()
    return int(stats["tool_calls"])


REFUSED: dict[str, Callable[[StackTokens], str]] = {
    "the person's own ID token": lambda t: t.signed_in(ALICE)["IdToken"],
    "the person's own access token (no act)": lambda t: t.signed_in(ALICE)["AccessToken"],
    "the Runtime's token (another audience)": lambda t: t.runtime_token(ALICE),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_token_not_exchanged_for_the_gateway_is_refused_before_any_aws_call(
    info: StackInfo, tokens: StackTokens, case: str
) -> None:
    token = REFUSED[case](tokens)
    before = _aws_calls(info)
    response = httpx.post(
        info.gateway_url,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "bridge-lambda___query", "arguments": QUERY},
        },
    )
    assert response.status_code == 401
    assert _aws_calls(info) == before


async def _call_tool(info: StackInfo, token: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        streamable_http_client(info.gateway_url, http_client=http) as (read, write),
        ClientSession(read, write) as mcp,
    ):
        await mcp.initialize()
        try:
            return await mcp.call_tool("bridge-lambda___query", QUERY)
        except MCPError as e:
            return e


async def test_a_gateway_token_another_service_exchanged_is_refused_by_the_interceptor(
    info: StackInfo, tokens: StackTokens
) -> None:
    # The right audience, but exchanged by the bot's client: act names the bot, not the agent.
    token = tokens.exchanged(
        info.bot_client_id, tokens.runtime_token(ALICE), "ACCESS_TOKEN", org.GATEWAY_AUDIENCE
    )
    before = _aws_calls(info)
    refusal = await _call_tool(info, token)
    assert isinstance(refusal, MCPError)
    assert refusal.data == {"code": "wrong_actor"}
    assert _aws_calls(info) == before


async def test_the_token_the_agent_exchanged_runs_the_call_as_its_person(
    info: StackInfo, tokens: StackTokens
) -> None:
    def audit_rows() -> dict[str, str]:
        items = tokens.dynamodb.scan(TableName=info.tables[settings.AUDIT_TABLE])["Items"]
        return {item["audit_id"]["S"]: item["requester"]["S"] for item in items}

    before, calls = audit_rows(), _aws_calls(info)
    result = await _call_tool(info, tokens.gateway_token(ALICE))
    assert not isinstance(result, MCPError)
    answer = json.loads(result.content[0].text)
    assert answer["ok"] is True, answer
    assert _aws_calls(info) == calls + 1
    # The person comes from the exchanged token (its verified email), not from the forged requester.
    new = [requester for audit_id, requester in audit_rows().items() if audit_id not in before]
    assert new == [ALICE.email]
