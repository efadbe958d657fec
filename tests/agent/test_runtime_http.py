"""The Runtime contract over HTTP: ``python -m agent`` as AgentCore Runtime would run it."""

import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.local import org
from tests.fixtures.agent_stack import AgentWorld, agent_process, invoke_http, of_type, texts
from tests.fixtures.aws import CognitoPool, free_port
from tests.fixtures.exchange import Exchange


@pytest.fixture(scope="module")
def agent_url(world: AgentWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One agent process for the module."""
    log = tmp_path_factory.mktemp("agent") / "agent.log"
    with agent_process(world, str(log)) as url:
        yield url


def _sid() -> str:
    return f"slack-T1-C1-{uuid.uuid4().hex}"  # 33+ characters, as AgentCore requires


def test_streams_typed_events_over_sse(agent_url: str, env: AgentWorld, alice: str) -> None:
    sid = _sid()
    evs = invoke_http(agent_url, {"prompt": "list buckets in staging"}, token=alice, session_id=sid)
    kinds = [e["type"] for e in evs]
    assert kinds[0] == "status"
    assert kinds[-1] == "done" and evs[-1]["session_id"] == sid
    assert "tool" in kinds and "followups" in kinds
    assert "acme-staging-assets" in texts(evs)


def test_token_in_the_body_is_accepted(agent_url: str, env: AgentWorld, alice: str) -> None:
    evs = invoke_http(
        agent_url, {"prompt": "how many buckets in dev", "access_token": alice}, token=None, session_id=_sid()
    )
    assert "**development** has **1** S3 bucket." in texts(evs)


BAD_TOKENS = {
    "missing": lambda pool, ex: None,
    "garbage": lambda pool, ex: "not-a-jwt",
    "wrong_audience": lambda pool, ex: pool.mint(aud="some-other-client", email="alice@example.com"),
    "expired": lambda pool, ex: pool.mint(expires_in=-3600, email="alice@example.com"),
    "a person's own ID token": lambda pool, ex: pool.id_token("alice@example.com"),
    "a person's own access token": lambda pool, ex: pool.tokens("alice@example.com")["AccessToken"],
    "the Gateway's token": lambda pool, ex: ex.gateway_token(
        ex.runtime_token(pool.id_token("alice@example.com"))
    ),
    "a Runtime token another client exchanged": lambda pool, ex: ex.derive(
        ex.clients.agent, pool.id_token("alice@example.com"), "ID_TOKEN", org.RUNTIME_AUDIENCE
    ),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_bad_token_gets_an_error_before_any_tool_call(
    agent_url: str, env: AgentWorld, cognito: CognitoPool, exchange: Exchange, case: str
) -> None:
    token = BAD_TOKENS[case](cognito, exchange)
    evs = invoke_http(agent_url, {"prompt": "run aws s3 ls in staging"}, token=token, session_id=_sid())
    assert [e["type"] for e in evs] == ["error", "done"]
    assert evs[0]["code"] == "invalid_token"
    assert evs[0]["message"]
    assert env.bridge.bridge_calls() == []


def test_ping_reports_busy_while_work_runs(agent_url: str, env: AgentWorld, alice: str) -> None:
    assert httpx.get(f"{agent_url}/ping").json()["status"] == "Healthy"
    env.bridge.hold = threading.Event()
    env.bridge.entered.clear()
    result: dict[str, object] = {}

    def ask() -> None:
        result["events"] = invoke_http(
            agent_url, {"prompt": "run aws s3 ls in staging"}, token=alice, session_id=_sid()
        )

    worker = threading.Thread(target=ask)
    worker.start()
    try:
        assert env.bridge.entered.wait(timeout=30)
        assert httpx.get(f"{agent_url}/ping").json()["status"] == "HealthyBusy"
    finally:
        env.bridge.hold.set()
        worker.join(timeout=60)
        env.bridge.hold = None
    assert httpx.get(f"{agent_url}/ping").json()["status"] == "Healthy"
    assert "acme-staging-assets" in texts(result["events"])  # type: ignore[arg-type]


def test_followup_uses_memory_across_an_agent_restart(world: AgentWorld, alice: str, tmp_path: Path) -> None:
    world.bridge.calls.clear()
    sid = _sid()
    with agent_process(world, str(tmp_path / "first.log")) as url:
        first = invoke_http(
            url, {"prompt": "how many lambda functions run in staging?"}, token=alice, session_id=sid
        )
    assert "**staging** has **2** Lambda functions." in texts(first)

    with agent_process(world, str(tmp_path / "second.log")) as url:
        again = invoke_http(url, {"prompt": "and in production?"}, token=alice, session_id=sid)
        other = invoke_http(url, {"prompt": "and in production?"}, token=alice, session_id=_sid())
    assert "**production** has **5** Lambda functions." in texts(again)
    _, event = world.bridge.calls[-1]
    assert event["arguments"] == {"cli_command": "aws lambda list-functions"}
    # A thread without that history has nothing to follow up on.
    assert "outside it" in texts(other)
    assert not of_type(other, "tool")


def test_json_response_when_only_json_is_accepted(agent_url: str, env: AgentWorld, alice: str) -> None:
    sid = _sid()
    response = httpx.post(
        f"{agent_url}/invocations",
        json={"prompt": "how many lambda functions in production"},
        headers={
            "Authorization": f"Bearer {alice}",
            "Accept": "application/json",
            "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": sid,
        },
        timeout=60,
    )
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["session_id"] == sid
    assert body["text"] == (
        "**production** has **5** Lambda functions.\n\n_Ran `aws lambda list-functions` in production._"
    )
    assert [e["type"] for e in body["events"]][-1] == "done"


def _run_agent(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent"], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_missing_setting_is_named_at_start(world: AgentWorld) -> None:
    env = world.environ(free_port())
    del env["CENTRALOPS_GATEWAY_URL"]
    done = _run_agent(env)
    assert done.returncode == 2
    assert "CENTRALOPS_GATEWAY_URL" in done.stderr


def test_a_busy_port_is_reported_with_what_to_do(world: AgentWorld) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        done = _run_agent(world.environ(busy.getsockname()[1]))
    assert done.returncode == 1
    assert "cannot listen on" in done.stderr
    assert "CENTRALOPS_AGENT_PORT" in done.stderr


def test_a_token_naming_only_an_unverified_address_is_refused_before_any_tool_call(
    agent_url: str, env: AgentWorld, cognito: CognitoPool, exchange: Exchange
) -> None:
    token = cognito.mint(  # a Runtime token as the bot would send it, naming only an unverified address
        token_use="access",
        aud=org.RUNTIME_AUDIENCE,
        act={"sub": exchange.clients.bot.client_id},
        username="bob@example.com",
        email="bob@example.com",
        email_verified="false",
    )
    evs = invoke_http(agent_url, {"prompt": "run aws s3 ls in staging"}, token=token, session_id=_sid())
    assert [e["type"] for e in evs] == ["error", "done"]
    assert evs[0]["code"] == "unverified_email"
    assert "verify your email" in evs[0]["message"]
    assert env.bridge.bridge_calls() == []
