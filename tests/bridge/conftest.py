"""Bridge fixtures: the real AWS MCP Server stand-in, a seeded registry in moto, and bridges wired to them."""

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from bridge.config import BridgeConfig
from bridge.credentials import CredentialProvider
from bridge.engine import Bridge
from centralops.identity import CALLER_KEY, VerifiedCaller
from tests.fixtures.bridge_fakes import DenyingSts
from tests.fixtures.bridge_stack import (
    StandIn,
    Tables,
    aws_mcp_server,
    central,
    member,
    register,
    seed_bridge_tables,
)

STAGING = "710000000001"
PRODUCTION = "710000000002"
DEVELOPMENT = "710000000003"
DISABLED = "710000000004"
DENIED = "710000000005"
SLOW = "710000000006"
WRITABLE = "710000000007"
PARTNER = "710000000008"
BUCKETS = {
    STAGING: ("stg-assets", "stg-logs"),
    PRODUCTION: ("prd-assets", "prd-logs", "prd-backups"),
    DEVELOPMENT: ("dev-sandbox",),
    DENIED: ("denied-bucket",),
    SLOW: ("slow-bucket",),
    WRITABLE: ("wr-logs",),
    PARTNER: ("partner-share",),
}


@dataclass(frozen=True)
class Org:
    moto_url: str
    tables: Tables


@pytest.fixture(scope="session")
def stand_in(moto_url: str) -> Iterator[StandIn]:
    """The local AWS MCP Server, one process for the session."""
    with aws_mcp_server(moto_url) as server:
        yield server


@pytest.fixture(scope="session")
def org(moto_url: str) -> Org:
    """Registry tables and member accounts with their own buckets."""
    tables = seed_bridge_tables(moto_url)
    register(moto_url, tables, STAGING, "staging", write_role_name="CentralOpsWriteRole")
    register(
        moto_url,
        tables,
        PRODUCTION,
        "production",
        write_role_name="CentralOpsWriteRole",
        allowed_groups=("centralops-operators",),
    )
    register(moto_url, tables, DEVELOPMENT, "development")
    register(moto_url, tables, DISABLED, "legacy", enabled=False)
    register(moto_url, tables, DENIED, "locked")
    register(moto_url, tables, SLOW, "faraway")
    register(moto_url, tables, WRITABLE, "sandbox", write_role_name="CentralOpsWriteRole")
    register(moto_url, tables, PARTNER, "partner", role_name="PartnerReadOnly", external_id="ext-7f3a")
    for account_id, buckets in BUCKETS.items():
        s3 = member(moto_url, account_id, "s3")
        for bucket in buckets:
            s3.create_bucket(Bucket=bucket)
    return Org(moto_url, tables)


@pytest.fixture
def requester() -> str:
    """A person of one's own, so audit records and approvals of one test are easy to find."""
    return f"tester-{uuid.uuid4().hex[:8]}@example.com"


@pytest.fixture
def config(org: Org, stand_in: StandIn) -> BridgeConfig:
    """Settings pointing at moto and the stand-in."""
    return BridgeConfig(
        region="us-east-1",
        endpoint_url=org.moto_url,
        aws_mcp_url=stand_in.mcp_url,
        aws_mcp_region="us-east-1",
        accounts_table=org.tables.accounts,
        approvals_table=org.tables.approvals,
        audit_table=org.tables.audit,
        account_timeout_s=20.0,
        call_timeout_s=15.0,
    )


@pytest.fixture
async def make_bridge(org: Org, stand_in: StandIn) -> AsyncIterator[Callable[..., Bridge]]:
    """Builds bridges (optionally with other settings or denied accounts) and closes them afterwards."""
    built: list[Bridge] = []
    stand_in.reset()

    def make(config: BridgeConfig, *, deny: set[str] | None = None, **overrides: Any) -> Bridge:
        factory: Callable[[str], Any] = lambda service: central(org.moto_url, service)  # noqa: E731
        sts = DenyingSts(central(org.moto_url, "sts"), deny or set())
        bridge = Bridge(
            replace(config, **overrides),
            client_factory=factory,
            credentials=CredentialProvider(lambda: sts),
        )
        built.append(bridge)
        return bridge

    yield make
    for bridge in built:
        await bridge.aclose()
    stand_in.reset()


def stamp(requester: str, groups: tuple[str, ...] = ("centralops-operators",)) -> dict[str, Any]:
    """The caller the Gateway interceptor stamps for a person with a verified email."""
    return VerifiedCaller(f"sub-{requester}", requester, groups, requester).to_stamp()


def event(
    command: str,
    account: str | list[str],
    requester: str,
    *,
    groups: tuple[str, ...] = ("centralops-operators",),
    **extra: Any,
) -> dict[str, Any]:
    """The tool arguments the bridge receives: the agent's, plus the interceptor's verified caller."""
    key = "account_ids" if isinstance(account, list) else "account_id"
    return {
        key: account,
        "tool_name": "aws___call_aws",
        "arguments": {"cli_command": command},
        "requester": requester,
        "context": {"platform": "slack", "channel": "C0TEST", "session_id": "s-1"},
        CALLER_KEY: stamp(requester, groups),
        **extra,
    }
