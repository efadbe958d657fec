"""The Runtime SSE client against a real aiohttp SSE server: session ids, parsing, failures as events."""

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from jose import jwt

from bot.chat import ChatPlace, ChatUser
from bot.runtime_client import RuntimeClient, session_id
from centralops import events
from centralops.exchange import TokenExchanger
from centralops.tokens import CognitoVerifier
from infra.local import org
from tests.fixtures.aws import CognitoPool, free_port
from tests.fixtures.exchange import Exchange
from tests.fixtures.slack_runtime import FakeRuntime
from tests.fixtures.slack_stack import serve

WHO = ChatUser("slack", "T1", "U1", "alice")
WHERE = ChatPlace("slack", "T1", "C1", "1700000000.000100")


@pytest.fixture
async def runtime() -> AsyncIterator[tuple[FakeRuntime, str]]:
    fake = FakeRuntime()
    runner, url = await serve(fake.app())
    yield fake, f"{url}/invocations"
    await runner.cleanup()


async def collect(client: RuntimeClient, **kwargs: object) -> list[events.Event]:
    out = [e async for e in client.invoke(id_token="tok", prompt="p", who=WHO, where=WHERE, **kwargs)]  # type: ignore[arg-type]
    await client.close()
    return out


def test_session_id_is_stable_per_thread_and_within_the_runtime_bounds() -> None:
    a = session_id("slack", "T1", "C1", "1.1")
    assert a == session_id("slack", "T1", "C1", "1.1")
    assert 33 <= len(a) <= 256
    assert len({a, session_id("slack", "T1", "C1", "1.2"), session_id("teams", "T1", "C1", "1.1")}) == 3


async def test_events_are_parsed_in_order_and_the_request_follows_the_contract(
    runtime: tuple[FakeRuntime, str],
) -> None:
    fake, url = runtime
    fake.script("resume:approved", [events.status("s"), events.text("a"), events.text("b"), events.done("x")])
    got = await collect(RuntimeClient(url), resume={"approval_id": "ap1", "decision": "approved"})
    assert [e["type"] for e in got] == ["status", "text", "text", "done"]
    [call] = fake.invocations
    assert call.bearer == "tok" and call.body["access_token"] == "tok"
    assert call.body["resume"] == {"approval_id": "ap1", "decision": "approved"}
    assert call.session_id == session_id("slack", "T1", "C1", WHERE.thread or "")


async def test_unreachable_runtime_becomes_one_error_event() -> None:
    got = await collect(RuntimeClient(f"http://127.0.0.1:{free_port()}/invocations"))
    assert [(e["type"], e.get("code")) for e in got] == [("error", "runtime_unreachable")]


async def test_silence_longer_than_the_timeout_becomes_an_error(runtime: tuple[FakeRuntime, str]) -> None:
    fake, url = runtime
    fake.script("p", [events.status("s"), 2.0, events.done("x")])
    got = await collect(RuntimeClient(url, timeout_s=0.2))
    assert got[-1]["type"] == "error" and got[-1].get("code") == "runtime_timeout"


async def test_refused_and_cut_off_streams_become_errors(runtime: tuple[FakeRuntime, str]) -> None:
    fake, url = runtime
    fake.script("p", [events.text("half")])
    got = await collect(RuntimeClient(url))
    assert got[-1].get("code") == "runtime_cut_off"
    fake.status = 403
    got = await collect(RuntimeClient(url))
    assert [e.get("code") for e in got] == ["runtime_unauthorized"]


async def test_garbage_lines_are_skipped() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b': comment\n\ndata: not json\n\ndata: {"type":"weird"}\n\n')
        await response.write(events.encode_sse(events.text("ok")) + events.encode_sse(events.done("x")))
        return response

    app = web.Application()
    app.router.add_post("/invocations", handler)
    runner, url = await serve(app)
    try:
        got = await collect(RuntimeClient(f"{url}/invocations"))
    finally:
        await runner.cleanup()
    assert [e["type"] for e in got] == ["text", "done"]


def _bot_exchanger(exchange: Exchange, **overrides: object) -> TokenExchanger:
    values: dict[str, object] = {
        "client_id": exchange.clients.bot.client_id,
        "client_secret": exchange.clients.bot.client_secret,
        "token_url": f"{exchange.url}/oauth2/token",
        "audience": org.RUNTIME_AUDIENCE,
        "endpoint_url": exchange.url,
    }
    values.update(overrides)
    return TokenExchanger(**values)  # type: ignore[arg-type]


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")


async def test_the_runtime_gets_a_token_for_its_audience_naming_the_bot_never_the_id_token(
    runtime: tuple[FakeRuntime, str], exchange: Exchange, cognito: CognitoPool, aws_credentials: None
) -> None:
    fake, url = runtime
    fake.script("p", [events.done("x")])
    id_token = cognito.id_token("alice@example.com")
    client = RuntimeClient(url, exchanger=_bot_exchanger(exchange))
    got = [e async for e in client.invoke(id_token=id_token, prompt="p", who=WHO, where=WHERE)]
    await client.close()
    assert [e["type"] for e in got] == ["done"]
    [call] = fake.invocations
    assert call.bearer == call.body["access_token"] != id_token
    verifier = CognitoVerifier(
        issuer=cognito.issuer,
        audience=org.RUNTIME_AUDIENCE,
        jwks_url=cognito.jwks_url,
        token_use=frozenset({"access"}),
        required_actor=exchange.clients.bot.client_id,
    )
    claims = verifier.verify(call.bearer)
    assert claims["sub"] == jwt.get_unverified_claims(id_token)["sub"]


async def test_a_token_cognito_refuses_to_exchange_asks_to_sign_in_and_never_calls_the_runtime(
    runtime: tuple[FakeRuntime, str], exchange: Exchange, cognito: CognitoPool, aws_credentials: None
) -> None:
    fake, url = runtime
    client = RuntimeClient(url, exchanger=_bot_exchanger(exchange))
    got = [
        e
        async for e in client.invoke(id_token=cognito.mint(expires_in=-60), prompt="p", who=WHO, where=WHERE)
    ]
    await client.close()
    assert [(e["type"], e.get("code")) for e in got] == [("error", "runtime_unauthorized")]
    assert "/aws login" in str(got[0].get("message"))
    assert fake.invocations == []


async def test_an_exchange_outage_is_told_as_one_and_never_calls_the_runtime(
    runtime: tuple[FakeRuntime, str], exchange: Exchange, cognito: CognitoPool, aws_credentials: None
) -> None:
    fake, url = runtime
    exchanger = _bot_exchanger(exchange, token_url=f"http://127.0.0.1:{free_port()}/oauth2/token")
    client = RuntimeClient(url, exchanger=exchanger)
    got = [
        e
        async for e in client.invoke(
            id_token=cognito.id_token("bob@example.com"), prompt="p", who=WHO, where=WHERE
        )
    ]
    await client.close()
    assert [(e["type"], e.get("code")) for e in got] == [("error", "identity_unavailable")]
    assert "Try again" in str(got[0].get("message"))
    assert fake.invocations == []


async def test_a_teams_user_whose_token_cognito_refuses_is_told_the_teams_login_command(
    runtime: tuple[FakeRuntime, str], exchange: Exchange, cognito: CognitoPool, aws_credentials: None
) -> None:
    fake, url = runtime
    client = RuntimeClient(url, exchanger=_bot_exchanger(exchange))
    teams = ChatPlace("teams", "tenant", "conv", None)
    got = [
        e
        async for e in client.invoke(
            id_token=cognito.mint(expires_in=-60),
            prompt="p",
            who=ChatUser("teams", "tenant", "aad", "a"),
            where=teams,
        )
    ]
    await client.close()
    [error] = got
    assert "Run `login`" in str(error.get("message")) and "/aws" not in str(error.get("message"))
    assert fake.invocations == []
