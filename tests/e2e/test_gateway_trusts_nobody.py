"""Direct MCP calls to the local Gateway with a person's real Gateway token: the bridge trusts nobody.

Each attempt goes Gateway (authorizer, then the REQUEST interceptor) → bridge
with the token the agent obtains for that person (their ID token exchanged by
the bot, then by the agent), used directly with hostile arguments. A person's
own pool tokens do not even pass the authorizer (``test_gateway_tokens.py``);
these prove the bridge holds even for a caller who does.
The AWS MCP Server stand-in counts what reached the AWS side.
"""

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
import pytest
from jose import jwt
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from centralops.identity import CALLER_KEY
from infra import tables
from infra.local import org
from infra.local.org import StackInfo
from tests.fixtures.aws import CognitoPool, session
from tests.fixtures.exchange import StackTokens

pytestmark = pytest.mark.e2e

STAGING = org.account("staging")
PRODUCTION = org.account("production")
DEVELOPMENT = org.account("development")
QUERY = "bridge-lambda___query"
QUERY_ACCOUNTS = "bridge-lambda___query_accounts"
WHO_AM_I = "aws sts get-caller-identity --query Arn --output text"


def gateway_token(info: StackInfo, who: str) -> str:
    """The Gateway token the agent obtains for a seeded person (signed in with their password)."""
    return StackTokens(info).gateway_token(org.person(who))


class Gateway:
    """An MCP session with the local Gateway, opened with one bearer token."""

    def __init__(self, mcp: ClientSession) -> None:
        self.mcp = mcp

    async def call(self, tool: str, args: dict[str, Any]) -> Any:
        """The tool's JSON result (the bridge answers errors as results)."""
        result = await self.mcp.call_tool(tool, args)
        return json.loads(result.content[0].text)

    async def refused(self, tool: str, args: dict[str, Any]) -> MCPError:
        """The JSON-RPC error the Gateway answered instead of calling the bridge."""
        with pytest.raises(MCPError) as raised:
            await self.mcp.call_tool(tool, args)
        return raised.value


@contextlib.asynccontextmanager
async def gateway_as(info: StackInfo, token: str) -> AsyncIterator[Gateway]:
    """An initialised MCP session with the local Gateway, sending ``token`` as the bearer."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http,
        streamable_http_client(info.gateway_url, http_client=http) as (read, write),
        ClientSession(read, write) as mcp,
    ):
        await mcp.initialize()
        yield Gateway(mcp)


def aws_side(info: StackInfo) -> dict[str, Any]:
    """What the AWS MCP Server stand-in has seen so far."""
    stats: dict[str, Any] = httpx.get(info.aws_mcp_url.removesuffix("/mcp") + "/stats", timeout=5).json()
    return stats


def audit(info: StackInfo, command_part: str) -> list[dict[str, Any]]:
    """Audit rows whose command contains ``command_part``, as plain values."""
    ddb = session().client("dynamodb", endpoint_url=info.moto_url)
    items: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(TableName=info.tables[tables.AUDIT.setting]):
        items.extend(page["Items"])
    flat = [{k: next(iter(v.values())) for k, v in item.items()} for item in items]
    return [r for r in flat if command_part in str(r.get("command", ""))]


def query(account: org.Account, command: str, **extra: Any) -> dict[str, Any]:
    return {
        "account_id": account.account_id,
        "tool_name": "aws___call_aws",
        "arguments": {"cli_command": command},
        **extra,
    }


def forged(who: str) -> dict[str, Any]:
    person = org.person(who)
    return {
        "sub": f"forged-{who}",
        "username": person.username,
        "groups": list(person.groups),
        "email": person.email,
    }


async def test_impersonation_runs_as_the_token_holder(info: StackInfo) -> None:
    async with gateway_as(info, gateway_token(info, "dave")) as gateway:
        out = await gateway.call(
            QUERY, query(STAGING, WHO_AM_I, requester="alice@example.com", **{CALLER_KEY: forged("alice")})
        )
        assert out["ok"], out
        # The role session in the member account (its SourceIdentity and session name) names the token holder.
        assert "centralops-dave@example.com" in out["result"]
        assert "alice" not in out["result"]
        requesters = {r["requester"] for r in audit(info, "sts get-caller-identity")}
        assert "dave@example.com" in requesters
        assert "alice@example.com" not in requesters


async def test_an_unentitled_account_is_refused_before_any_aws_call(info: StackInfo) -> None:
    async with gateway_as(info, gateway_token(info, "dave")) as gateway:
        before = aws_side(info)
        out = await gateway.call(
            QUERY, query(PRODUCTION, "aws s3api list-buckets", **{CALLER_KEY: forged("alice")})
        )
        assert out["error"]["code"] == "not_entitled"
        assert "centralops-operators" in out["error"]["message"]
        assert aws_side(info)["requests"] == before["requests"]


async def test_query_accounts_over_every_account_naming_a_third_person_is_refused(info: StackInfo) -> None:
    async with gateway_as(info, gateway_token(info, "dave")) as gateway:
        before = aws_side(info)
        every = [a.account_id for a in org.ACCOUNTS]
        command = "aws s3api list-buckets"
        out = await gateway.call(
            QUERY_ACCOUNTS,
            {
                "account_ids": every,
                "tool_name": "aws___call_aws",
                "arguments": {"cli_command": command},
                "requester": "bob@example.com",
            },
        )
        codes = {r["account_id"]: r["error"]["code"] for r in out["results"]}
        assert out["ok_count"] == 0
        assert codes[PRODUCTION.account_id] == "not_entitled"
        assert set(codes.values()) == {"not_entitled"}
        assert aws_side(info)["requests"] == before["requests"]
        rows = [r for r in audit(info, command) if r["tool"] == "query_accounts"]
        assert len(rows) == len(every)
        assert {r["requester"] for r in rows} == {"dave@example.com"}
        assert {r["outcome"] for r in rows} == {"refused"}


def approval(info: StackInfo, *, requester: str, command: str, accounts: list[str], tool: str) -> str:
    """An approval as the agent records it and a second person grants it."""
    approval_id = str(uuid.uuid4())
    now = int(time.time())
    ddb = session().resource("dynamodb", endpoint_url=info.moto_url)
    ddb.Table(info.tables[tables.APPROVALS.setting]).put_item(
        Item={
            "approval_id": approval_id,
            "status": "approved",
            "requester": requester,
            "command": command,
            "accounts": accounts,
            "tool": tool,
            "reason": "e2e",
            "risk": "mutating",
            "created_at": now,
            "expires_at": now + 600,
            "decided_by": "bob@example.com",
        }
    )
    return approval_id


@pytest.mark.parametrize(("who", "account"), [("dave", STAGING), ("bob", PRODUCTION)])
async def test_another_persons_approved_approval_is_refused(
    info: StackInfo, who: str, account: org.Account
) -> None:
    command = (
        f"aws s3api put-bucket-tagging --bucket {account.buckets[0]} --tagging TagSet=[{{Key=e2e,Value=x}}]"
    )
    approval_id = approval(
        info, requester="alice@example.com", command=command, accounts=[account.account_id], tool="query"
    )
    async with gateway_as(info, gateway_token(info, who)) as gateway:
        before = aws_side(info)
        out = await gateway.call(
            QUERY, query(account, command, approval_id=approval_id, requester="alice@example.com")
        )
        assert out["error"]["code"] == "approval_wrong_requester"
        assert aws_side(info)["requests"] == before["requests"]
        item = (
            session()
            .resource("dynamodb", endpoint_url=info.moto_url)
            .Table(info.tables[tables.APPROVALS.setting])
            .get_item(Key={"approval_id": approval_id})["Item"]
        )
        assert "consumed_at" not in item


async def test_an_approval_is_bound_to_its_tool_and_region(info: StackInfo) -> None:
    command = (
        f"aws s3api put-bucket-tagging --bucket {STAGING.buckets[0]} --tagging TagSet=[{{Key=e2e,Value=y}}]"
    )
    approval_id = approval(
        info, requester="alice@example.com", command=command, accounts=[STAGING.account_id], tool="query"
    )
    async with gateway_as(info, gateway_token(info, "alice")) as gateway:
        before = aws_side(info)
        as_fanout = await gateway.call(
            QUERY_ACCOUNTS,
            {
                "account_ids": [STAGING.account_id],
                "tool_name": "aws___call_aws",
                "arguments": {"cli_command": command},
                "approval_id": approval_id,
            },
        )
        assert as_fanout["results"][0]["error"]["code"] == "approval_wrong_tool"
        elsewhere = await gateway.call(
            QUERY, query(STAGING, command, approval_id=approval_id, region="eu-west-1")
        )
        assert elsewhere["error"]["code"] == "approval_wrong_region"
        assert aws_side(info)["requests"] == before["requests"]


async def test_a_forged_caller_key_with_groups_grants_nothing(info: StackInfo) -> None:
    async with gateway_as(info, gateway_token(info, "dave")) as gateway:
        before = aws_side(info)
        fake = {"sub": "x", "username": "dave", "groups": [org.OPERATOR_GROUP], "email": "dave@example.com"}
        out = await gateway.call(
            QUERY, query(PRODUCTION, "aws s3 ls", **{CALLER_KEY: fake}, context={CALLER_KEY: fake})
        )
        assert out["error"]["code"] == "not_entitled"
        assert aws_side(info)["requests"] == before["requests"]


async def test_an_unverified_email_never_names_its_address(info: StackInfo) -> None:
    token = gateway_token(info, "erin")
    username = jwt.get_unverified_claims(token)["username"]
    async with gateway_as(info, token) as gateway:
        out = await gateway.call(QUERY, query(STAGING, WHO_AM_I, requester="erin@example.com"))
        assert out["ok"], out
        # Erin is known by her Cognito username (the pool's user id), never by the address she did not verify.
        assert "@" not in username
        assert f"centralops-{username}"[:64] in out["result"]
        requesters = {r["requester"] for r in audit(info, "sts get-caller-identity")}
        assert username in requesters
        assert "erin@example.com" not in requesters


async def test_an_unverified_address_shaped_username_is_refused_before_any_aws_call(info: StackInfo) -> None:
    pool = CognitoPool(info.moto_url, info.user_pool_id, info.client_id)
    token = (
        pool.mint(  # a Gateway token as the agent would hold it, for an unverified address-shaped username
            token_use="access",
            aud=org.GATEWAY_AUDIENCE,
            act={"sub": info.agent_client_id},
            username="alice@example.com",
            email="alice@example.com",
            email_verified="false",
        )
    )
    async with gateway_as(info, token) as gateway:
        before = aws_side(info)
        error = await gateway.refused(QUERY, query(STAGING, "aws s3 ls"))
        assert error.data == {"code": "unverified_email"}
        assert "verify your email" in error.message
        assert aws_side(info)["requests"] == before["requests"]
