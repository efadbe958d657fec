"""The Lambda entry point as the Gateway calls it: a Lambda-shaped context, settings from the environment."""

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

import bridge.handler as entry
from centralops import settings
from tests.bridge.conftest import BUCKETS, PRODUCTION, STAGING, Org, event
from tests.fixtures.bridge_stack import ROOT, StandIn


@dataclass
class ClientContext:
    custom: dict[str, str] = field(default_factory=dict)


@dataclass
class LambdaContext:
    client_context: ClientContext | None
    function_name: str = "centralops-bridge"


def ctx(tool: str) -> LambdaContext:
    return LambdaContext(ClientContext({"bedrockAgentCoreToolName": tool}))


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, org: Org, stand_in: StandIn) -> Iterator[None]:
    env = {
        "AWS_ACCESS_KEY_ID": "central",
        "AWS_SECRET_ACCESS_KEY": "central",
        settings.AWS_REGION: "us-east-1",
        settings.AWS_ENDPOINT_URL: org.moto_url,
        settings.AWS_MCP_URL: stand_in.mcp_url,
        settings.AWS_MCP_REGION: "us-east-1",
        settings.ACCOUNTS_TABLE: org.tables.accounts,
        settings.APPROVALS_TABLE: org.tables.approvals,
        settings.AUDIT_TABLE: org.tables.audit,
        settings.LOG_FORMAT: "text",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setattr(entry, "_bridge", None)
    stand_in.reset()
    yield
    if entry._bridge is not None:
        entry._loop.run(entry._bridge.aclose())


def test_importing_the_handler_creates_no_aws_client() -> None:
    code = "import sys, bridge.handler; print(sorted(m for m in ('boto3', 'botocore.client', 'mcp') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_query_through_the_gateway_shaped_entry(lambda_env: None, requester: str) -> None:
    out = entry.handler(event("aws s3api list-buckets", STAGING, requester), ctx("bridge-lambda___query"))
    assert out["ok"] is True, out
    assert {b["Name"] for b in out["result"]["Buckets"]} == set(BUCKETS[STAGING])
    again = entry.handler(event("aws s3 ls", STAGING, requester), ctx("bridge-lambda___query"))
    assert again["ok"] is True
    bridge = entry.get_bridge()
    assert bridge.credentials.assume_role_calls == 1  # cached across invocations
    assert bridge.aws_mcp.sessions_opened == 1  # the MCP session survived between invocations


def test_query_accounts_through_the_entry(lambda_env: None, requester: str) -> None:
    out = entry.handler(
        event("aws s3api list-buckets", [PRODUCTION, STAGING], requester),
        ctx("bridge-lambda___query_accounts"),
    )
    assert [r["account_id"] for r in out["results"]] == [PRODUCTION, STAGING]
    assert out["ok_count"] == 2 and out["error_count"] == 0


def test_unknown_or_missing_tool_names_are_error_results(lambda_env: None, requester: str) -> None:
    for context in (ctx("bridge-lambda___delete_everything"), LambdaContext(None), object()):
        out = entry.handler(event("aws s3 ls", STAGING, requester), context)
        assert out["ok"] is False and out["error"]["code"] == "unknown_tool"
    assert entry.handler([], ctx("query"))["error"]["code"] == "invalid_arguments"  # type: ignore[arg-type]


def test_tool_name_prefix_is_stripped() -> None:
    assert entry.tool_name(ctx("bridge-lambda___query_accounts")) == "query_accounts"
    assert entry.tool_name(ctx("query")) == "query"


def test_a_malformed_setting_is_an_error_result(
    lambda_env: None, monkeypatch: pytest.MonkeyPatch, requester: str
) -> None:
    monkeypatch.setenv(settings.BRIDGE_MAX_CONCURRENCY, "lots")
    out = entry.handler(event("aws s3 ls", STAGING, requester), ctx("bridge-lambda___query"))
    assert out["error"]["code"] == "configuration"
    assert settings.BRIDGE_MAX_CONCURRENCY in out["error"]["message"]


async def test_the_local_gateway_invokes_the_real_bridge(lambda_env: None, requester: str) -> None:
    import json

    from mcp.client.client import Client

    from infra.local.gateway import build_server, load_tool_schema

    server = build_server(entry.handler, load_tool_schema())
    async with Client(server, mode="legacy") as client:
        tools = [t.name for t in (await client.list_tools()).tools]
        assert tools == ["bridge-lambda___query", "bridge-lambda___query_accounts"]
        result = await client.call_tool(
            "bridge-lambda___query", event("aws s3api list-buckets", STAGING, requester)
        )
        refused = await client.call_tool("bridge-lambda___query", event("aws s3 ls | sh", STAGING, requester))
    out = json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert out["ok"] is True and {b["Name"] for b in out["result"]["Buckets"]} == set(BUCKETS[STAGING])
    assert json.loads(refused.content[0].text)["error"]["code"] == "shell_syntax"  # type: ignore[union-attr]


def test_lambda_init_prepares_the_bridge_without_calling_aws(requester: str) -> None:
    # The endpoint refuses every connection: init must not need it; the first invocation does.
    code = (
        "import json, bridge.handler as h, bridge.resolve as r;"
        "print(json.dumps([h._bridge is not None, r.MODEL._driver is not None,"
        " h._bridge.credentials.assume_role_calls, h._bridge.aws_mcp.sessions_opened]))"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "AWS_LAMBDA_FUNCTION_NAME": "centralops-bridge",
        "AWS_ACCESS_KEY_ID": "central",
        "AWS_SECRET_ACCESS_KEY": "central",
        settings.AWS_REGION: "us-east-1",
        settings.AWS_ENDPOINT_URL: "http://127.0.0.1:9",
        settings.AWS_MCP_URL: "http://127.0.0.1:9/mcp",
    }
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[true, true, 0, 0]"


def test_a_failed_init_is_reported_by_the_first_invocation(
    lambda_env: None, monkeypatch: pytest.MonkeyPatch, requester: str
) -> None:
    monkeypatch.setenv(settings.BRIDGE_MAX_CONCURRENCY, "lots")
    entry.warm()  # logs, never raises: Lambda's init must not crash the function
    assert entry._bridge is None
    out = entry.handler(event("aws s3 ls", STAGING, requester), ctx("bridge-lambda___query"))
    assert out["error"]["code"] == "configuration"
