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

import boto3
import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from centralops import settings
from infra.local import org
from infra.local.org import StackInfo

ALICE = org.person("alice")
QUERY = {
    "account_id": "222222222222",
    "tool_name": "aws___call_aws",
    "arguments": {"cli_command": "aws s3 ls"},
    "requester": "bob@example.com",  # a forged requester: the interceptor replaces it
}


class Tokens:
    """Real tokens of the local pool, obtained the way each party obtains them."""

    def __init__(self, info: StackInfo) -> None:
        self.info = info
        self.idp = boto3.client(
            "cognito-idp",
            endpoint_url=info.moto_url,
            region_name=org.REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        self.dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=info.moto_url,
            region_name=org.REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        self.stand_in = boto3.client(
            "cognito-idp",
            endpoint_url=info.hosted_ui_url,
            region_name=org.REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def signed_in(self, person: org.Person) -> dict[str, str]:
        """What the person gets by signing in with their password."""
        result: dict[str, str] = self.idp.admin_initiate_auth(
            UserPoolId=self.info.user_pool_id,
            ClientId=self.info.client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": person.username, "PASSWORD": person.password},
        )["AuthenticationResult"]
        return result

    def _secret(self, client_id: str) -> str:
        described = self.idp.describe_user_pool_client(UserPoolId=self.info.user_pool_id, ClientId=client_id)
        return str(described["UserPoolClient"]["ClientSecret"])

    def exchanged(self, client_id: str, subject: str, subject_type: str, audience: str) -> str:
        """``subject`` exchanged for ``audience`` by ``client_id``, acting with its own actor token."""
        secret = self._secret(client_id)
        actor = httpx.post(
            f"{self.info.hosted_ui_url}/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
        ).json()["access_token"]
        return str(
            self.stand_in.get_derived_token(
                ClientId=client_id,
                ClientSecret=secret,
                SubjectToken=subject,
                SubjectTokenType=subject_type,
                ActorToken=actor,
                ActorTokenType="ACCESS_TOKEN",
                Resources=[audience],
            )["IssuedToken"]
        )

    def runtime_token(self, person: org.Person) -> str:
        """What the bot sends the Runtime for this person."""
        return self.exchanged(
            self.info.bot_client_id, self.signed_in(person)["IdToken"], "ID_TOKEN", org.RUNTIME_AUDIENCE
        )

    def gateway_token(self, person: org.Person) -> str:
        """What the agent sends the Gateway for this person."""
        return self.exchanged(
            self.info.agent_client_id, self.runtime_token(person), "ACCESS_TOKEN", org.GATEWAY_AUDIENCE
        )


@pytest.fixture(scope="module")
def tokens(info: StackInfo) -> Tokens:
    return Tokens(info)


def _aws_calls(info: StackInfo) -> int:
    stats = httpx.get(info.aws_mcp_url.removesuffix("/mcp") + "/stats").json()
    return int(stats["tool_calls"])


REFUSED: dict[str, Callable[[Tokens], str]] = {
    "the person's own ID token": lambda t: t.signed_in(ALICE)["IdToken"],
    "the person's own access token (no act)": lambda t: t.signed_in(ALICE)["AccessToken"],
    "the Runtime's token (another audience)": lambda t: t.runtime_token(ALICE),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_token_not_exchanged_for_the_gateway_is_refused_before_any_aws_call(
    info: StackInfo, tokens: Tokens, case: str
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
    info: StackInfo, tokens: Tokens
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
    info: StackInfo, tokens: Tokens
) -> None:
    before = _aws_calls(info)
    result = await _call_tool(info, tokens.gateway_token(ALICE))
    assert not isinstance(result, MCPError)
    answer = json.loads(result.content[0].text)
    assert answer["ok"] is True, answer
    assert _aws_calls(info) == before + 1
    # The person comes from the exchanged token (its verified email), not from the forged requester.
    audit = tokens.dynamodb.scan(TableName=info.tables[settings.AUDIT_TABLE])["Items"]
    assert {item["requester"]["S"] for item in audit if item.get("command", {}).get("S") == "aws s3 ls"} == {
        ALICE.email
    }
