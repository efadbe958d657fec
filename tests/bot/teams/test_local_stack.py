"""One Teams question through the whole local stack: Teams-shaped activity → bot → Runtime → agent → member account.

The stack is started as ``make demo`` starts it, with the Teams edge in its
explicit anonymous mode and the Connector stand-in as a process of its own;
alice's and bob's Teams identities are linked the way the seeder links Slack
users (``IdentityStore.save("teams", tenant, Entra object id, ...)``).
"""

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from bot.dynamo import DynamoTable
from bot.identity import IdentityStore
from centralops import settings
from infra.local import org
from infra.local.org import StackInfo
from infra.local.stack import LocalStack, Ports
from infra.local.teams_console import TeamsConsole
from tests.fixtures.aws import free_port

pytestmark = pytest.mark.e2e

STAGING = org.account("staging")
PRODUCTION = org.account("production")


def _link_teams_people(info: StackInfo) -> None:
    aws = {
        "region_name": org.REGION,
        "endpoint_url": info.moto_url,
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
    }
    idp = boto3.client("cognito-idp", **aws)
    store = IdentityStore(
        DynamoTable(info.tables[settings.IDENTITY_LINKS_TABLE], client=boto3.client("dynamodb", **aws)),
        info.kms_key_id,
        kms=boto3.client("kms", **aws),
    )

    async def link() -> None:
        for name in ("alice", "bob"):
            person = org.person(name)
            assert person.teams_aad_id
            tokens = idp.admin_initiate_auth(
                UserPoolId=info.user_pool_id,
                ClientId=info.client_id,
                AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": person.username, "PASSWORD": person.password},
            )["AuthenticationResult"]
            await store.save(
                "teams",
                org.TEAMS_TENANT_ID,
                person.teams_aad_id,
                username=person.username,
                email=person.email,
                refresh_token=tokens["RefreshToken"],
            )

    asyncio.run(link())


@pytest.fixture(scope="module")
def connector_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(  # the stand-in as make demo would run it
        [sys.executable, "-m", "infra.local.teams_connector", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def teams_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    root: Path = tmp_path_factory.mktemp("teams-local-stack")
    local = LocalStack(root, Ports.free(), env={settings.TEAMS_ANONYMOUS: "true"})
    info = local.start()
    try:
        _link_teams_people(info)
        yield info
    finally:
        local.stop()


@pytest.fixture
async def console(teams_stack: StackInfo, connector_url: str) -> AsyncIterator[TeamsConsole]:
    teams = TeamsConsole(teams_stack.bot_url, connector_url)
    try:
        yield teams
    finally:
        await teams.close()


async def test_a_1on1_question_lists_exactly_stagings_buckets(console: TeamsConsole) -> None:
    chat = await console.personal(user="alice", text="list buckets in staging")

    shown = chat.render()
    assert chat.messages[0]["streamed"]
    for bucket in STAGING.buckets:
        assert bucket in shown
    for bucket in PRODUCTION.buckets:
        assert bucket not in shown


async def test_a_channel_mention_answers_with_productions_function_count(console: TeamsConsole) -> None:
    post = await console.channel(user="bob", text="how many lambda functions in production?")

    assert f"**{len(PRODUCTION.functions)}** Lambda functions" in post.render()
