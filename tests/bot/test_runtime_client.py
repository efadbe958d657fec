"""The Runtime SSE client against a real aiohttp SSE server: session ids, parsing, failures as events."""

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.chat import ChatPlace, ChatUser
from bot.runtime_client import RuntimeClient, session_id
from centralops import events
from tests.fixtures.aws import free_port
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
