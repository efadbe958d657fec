"""The AWS MCP Server stand-in and the bridge's client: SigV4 required, sessions reused, CLI semantics."""

import asyncio

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bridge.aws_mcp import AwsMcpClient
from bridge.config import BridgeConfig
from bridge.credentials import Caller
from tests.bridge.conftest import STAGING, event
from tests.fixtures.bridge_stack import StandIn, aws_mcp_server

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def test_unsigned_and_wrongly_scoped_requests_are_rejected(stand_in: StandIn) -> None:
    assert httpx.get(f"{stand_in.url}/health").status_code == 200
    unsigned = httpx.post(stand_in.mcp_url, json=INIT, headers=HEADERS)
    assert unsigned.status_code == 401
    body = httpx.Request("POST", stand_in.mcp_url, json=INIT).content
    request = AWSRequest(method="POST", url=stand_in.mcp_url, data=body, headers=HEADERS)
    SigV4Auth(Credentials("AKIAEXAMPLEEXAMPLE12", "secret"), "s3", "us-east-1").add_auth(request)
    wrong_service = httpx.post(stand_in.mcp_url, content=body, headers=dict(request.headers.items()))
    assert wrong_service.status_code == 401
    assert stand_in.stats()["unsigned"] >= 2


async def test_the_bridge_signs_for_aws_mcp_and_reuses_one_session(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str
) -> None:
    bridge = make_bridge(config)
    for _ in range(3):
        out = await bridge.query(event("aws sts get-caller-identity", STAGING, requester))
        assert out["ok"] is True
        assert out["result"]["Account"] == STAGING  # the stand-in acted with the assumed role
    stats = stand_in.stats()
    assert stats["unsigned"] == 0
    assert stats["tool_calls"] == 3
    assert bridge.aws_mcp.sessions_opened == 1
    kinds = stats["by_kind"]
    assert kinds["POST initialize"] == 1 and kinds["POST notifications/initialized"] == 1
    assert kinds["POST tools/call"] == 3
    # the client may list tools once (output-schema check) and open the standalone GET stream once
    assert kinds.get("POST tools/list", 0) <= 1 and kinds.get("GET", 0) <= 1


async def test_expired_credentials_open_a_new_session(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str
) -> None:
    bridge = make_bridge(config)
    creds = await bridge.credentials.get(STAGING, "CentralOpsTargetRole", Caller(requester))
    clock = [creds.expires_at - 100]
    client = AwsMcpClient(stand_in.mcp_url, "us-east-1", clock=lambda: clock[0])
    try:
        await client.call(creds, "aws___call_aws", {"cli_command": "aws s3 ls"})
        clock[0] = creds.expires_at + 1
        await client.call(creds, "aws___call_aws", {"cli_command": "aws s3 ls"})
        assert client.sessions_opened == 2
    finally:
        await client.aclose()


async def test_url_parameters_are_never_fetched(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str
) -> None:
    import asyncio

    from tests.fixtures.aws import free_port

    hits: list[bytes] = []
    port = free_port()

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hits.append(await reader.read(100))
        writer.close()

    server = await asyncio.start_server(record, "127.0.0.1", port)
    try:
        out = await make_bridge(config).query(
            event(
                f"aws s3api list-objects-v2 --bucket stg-logs --prefix http://127.0.0.1:{port}/x",
                STAGING,
                requester,
            )
        )
    finally:
        server.close()
    # The AWS CLI v1 would download such a value where it runs: the bridge refuses it before any call.
    assert out["error"]["code"] == "remote_file", out
    assert hits == []
    assert stand_in.stats()["tool_calls"] == 0


async def test_sessions_beyond_the_cap_close_the_least_recently_used(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str
) -> None:
    from tests.bridge.conftest import DEVELOPMENT, PRODUCTION

    bridge = make_bridge(config)
    creds = {
        a: await bridge.credentials.get(a, "CentralOpsTargetRole", Caller(requester))
        for a in (STAGING, PRODUCTION, DEVELOPMENT)
    }
    client = AwsMcpClient(stand_in.mcp_url, "us-east-1", max_sessions=2)
    call = {"cli_command": "aws sts get-caller-identity"}
    try:
        await client.call(creds[STAGING], "aws___call_aws", call)
        await client.call(creds[PRODUCTION], "aws___call_aws", call)
        await client.call(creds[STAGING], "aws___call_aws", call)  # staging is now the most recent
        await client.call(creds[DEVELOPMENT], "aws___call_aws", call)  # closes production's session
        await client.call(creds[STAGING], "aws___call_aws", call)
        assert client.sessions_opened == 3
        await client.call(creds[PRODUCTION], "aws___call_aws", call)
        assert client.sessions_opened == 4
    finally:
        await client.aclose()


async def test_a_session_with_a_call_in_flight_is_never_closed_by_the_cap(
    make_bridge, config: BridgeConfig, stand_in: StandIn, requester: str
) -> None:
    from tests.bridge.conftest import DEVELOPMENT, PRODUCTION

    bridge = make_bridge(config)
    accounts = (STAGING, PRODUCTION, DEVELOPMENT)
    creds = [await bridge.credentials.get(a, "CentralOpsTargetRole", Caller(requester)) for a in accounts]
    stand_in.faults(latency_only=True, latency_ms=300)
    client = AwsMcpClient(stand_in.mcp_url, "us-east-1", max_sessions=1)
    call = {"cli_command": "aws sts get-caller-identity"}
    try:
        # Three accounts at once through a cap of one: none may close another's session mid-call.
        results = await asyncio.gather(*(client.call(c, "aws___call_aws", call) for c in creds))
        assert [r.is_error for r in results] == [False, False, False]
        assert client.sessions_opened == 3
        # Once idle, the cap applies again.
        await client.call(creds[0], "aws___call_aws", call)
        assert len(client._sessions) == 1
    finally:
        stand_in.faults(latency_ms=0)
        await client.aclose()


async def test_the_stand_in_answers_with_json_bodies_when_asked_and_the_bridge_reads_them(
    moto_url: str,
) -> None:
    from bridge.credentials import AwsCredentials

    with aws_mcp_server(moto_url, extra=("--latency-only", "--json-response")) as server:
        body = httpx.Request("POST", server.mcp_url, json=INIT).content
        request = AWSRequest(method="POST", url=server.mcp_url, data=body, headers=HEADERS)
        SigV4Auth(Credentials("AKIAEXAMPLEEXAMPLE12", "secret"), "aws-mcp", "us-east-1").add_auth(request)
        async with httpx.AsyncClient() as http:
            raw = await http.post(server.mcp_url, content=body, headers=dict(request.headers.items()))
        assert raw.status_code == 200 and raw.headers["content-type"].startswith("application/json")
        assert raw.json()["result"]["protocolVersion"] == "2025-06-18"
        client = AwsMcpClient(server.mcp_url, "us-east-1")
        creds = AwsCredentials("ASIAEXAMPLEEXAMPLE12", "secret", "token", 4_102_444_800.0)
        try:
            answers = await asyncio.gather(
                *(
                    client.call(creds, "aws___call_aws", {"cli_command": f"aws s3 ls --page-size {n}"})
                    for n in (1, 2)
                )
            )
        finally:
            await client.aclose()
        assert [a.is_error for a in answers] == [False, False]
        assert '"LatencyOnly": true' in answers[0].text and "--page-size 1" in answers[0].text
        assert server.stats()["tool_calls"] == 2 and client.sessions_opened == 1
