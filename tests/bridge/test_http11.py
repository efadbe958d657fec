"""The bridge's HTTP/1.1 pool against real sockets: framing, keep-alive, stale connections, TLS.

The MCP exchanges themselves run against uvicorn and the real ``mcp`` server in
``test_aws_mcp_server.py`` and ``test_aws_mcp_client.py``; here small asyncio
servers answer with exactly the bytes a case needs.
"""

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bridge.http11 import ConnectError, Pool, ProtocolError
from bridge.transport import NOT_PROCESSED_STATUS, RETRYABLE_STATUS, RetryingTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


@asynccontextmanager
async def _server(
    handler: Handler, tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[int, list[bytes]]]:
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def recording(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        original = reader.readuntil

        async def readuntil(separator: bytes = b"\n") -> bytes:
            data = await original(separator)
            if separator == b"\r\n\r\n":
                heads.append(data)
            return data

        reader.readuntil = readuntil  # type: ignore[method-assign]
        await serve(reader, writer)

    server = await asyncio.start_server(recording, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, heads
    finally:
        server.close()


def _answer(status: str, headers: list[str], body: bytes = b"") -> bytes:
    return (f"HTTP/1.1 {status}\r\n" + "".join(f"{h}\r\n" for h in headers) + "\r\n").encode() + body


async def _keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        _, body = await _read_request(reader)
        writer.write(_answer("200 OK", [f"content-length: {len(body) + 3}"], b"ok:" + body))
        await writer.drain()


async def test_a_request_is_one_write_with_host_and_length_and_connections_are_reused() -> None:
    async with _server(_keep_alive) as (port, heads):
        pool = Pool(f"http://127.0.0.1:{port}/mcp?x=1")
        for n in range(3):
            response = await pool.request("POST", {"content-type": "application/json"}, f"{n}".encode())
            assert response.status == 200 and await response.read() == f"ok:{n}".encode()
            await response.aclose()
        await pool.aclose()
    assert pool.connections_opened == 1
    assert heads[0].startswith(b"POST /mcp?x=1 HTTP/1.1\r\nhost: 127.0.0.1:")
    assert b"content-length: 1\r\n" in heads[0] and b"content-type: application/json\r\n" in heads[0]


async def test_chunked_answers_arrive_piece_by_piece_with_trailers_and_interim_answers_skipped() -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(_answer("100 Continue", []))
        writer.write(_answer("200 OK", ["Transfer-Encoding: chunked", "Content-Type: text/event-stream"]))
        writer.write(b"5;ext=1\r\nhello\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n")
        await writer.drain()
        await _keep_alive(reader, writer)

    async with _server(chunked) as (port, _):
        pool = Pool(f"http://127.0.0.1:{port}/")
        response = await pool.request("POST", {}, b"{}")
        assert response.status == 200 and response.headers["content-type"] == "text/event-stream"
        assert [c async for c in response.chunks()] == [b"hello", b" world"]
        await response.aclose()
        again = await pool.request("POST", {}, b"x")  # the connection was left clean: reused
        assert await again.read() == b"ok:x"
        await again.aclose()
        await pool.aclose()
    assert pool.connections_opened == 1


async def test_an_answer_ended_by_the_connection_is_read_and_the_connection_not_reused() -> None:
    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(_answer("200 OK", ["connection: close"], b"all of it"))
        await writer.drain()

    async with _server(until_close) as (port, _):
        pool = Pool(f"http://127.0.0.1:{port}/")
        for _ in range(2):
            response = await pool.request("POST", {}, b"")
            assert await response.read() == b"all of it"
            await response.aclose()
        await pool.aclose()
    assert pool.connections_opened == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: ten\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort",
    ],
)
async def test_a_malformed_or_cut_answer_is_a_protocol_error(answer: bytes) -> None:
    async def bad(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(answer)
        await writer.drain()

    async with _server(bad) as (port, _):
        pool = Pool(f"http://127.0.0.1:{port}/")
        with pytest.raises(ProtocolError):
            response = await pool.request("POST", {}, b"")
            await response.read()
        await pool.aclose()


async def test_an_idle_connection_the_server_closed_is_not_reused() -> None:
    async def one_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(_answer("200 OK", ["content-length: 2"], b"ok"))
        await writer.drain()  # then closes, without saying so in the answer

    async with _server(one_each) as (port, heads):
        pool = Pool(f"http://127.0.0.1:{port}/")
        for _ in range(2):
            response = await pool.request("POST", {}, b"", safe_to_resend=False)
            assert await response.read() == b"ok"
            await response.aclose()
            for conn in pool._idle:  # the server's FIN arrives, but the loop has not read it yet
                conn.writer.transport.pause_reading()  # type: ignore[attr-defined]
            await asyncio.sleep(0.05)
            assert not any(conn.reader.at_eof() for conn in pool._idle)
        await pool.aclose()
    assert pool.connections_opened == 2 and len(heads) == 2


async def test_a_reused_connection_found_closed_is_resent_only_when_safe() -> None:
    connections = 0

    async def closes_after_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        if connections > 1:
            await _keep_alive(reader, writer)
            return
        await _read_request(reader)
        writer.write(_answer("200 OK", ["content-length: 2"], b"ok"))
        await writer.drain()
        await _read_request(reader)  # the next request on it: closed unanswered, as a server timing out

    for safe in (True, False):
        connections = 0
        async with _server(closes_after_one) as (port, _):
            pool = Pool(f"http://127.0.0.1:{port}/")
            first = await pool.request("POST", {}, b"")
            assert await first.read() == b"ok"
            await first.aclose()
            if safe:
                again = await pool.request("POST", {}, b"again", safe_to_resend=True)
                assert await again.read() == b"ok:again"
                await again.aclose()
                assert pool.connections_opened == 2
            else:
                with pytest.raises(ProtocolError, match="closed"):
                    await pool.request("POST", {}, b"change", safe_to_resend=False)
                assert pool.connections_opened == 1
            await pool.aclose()


async def test_retries_follow_the_statuses_and_a_refused_connection_is_retried() -> None:
    calls = 0

    async def busy_then_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal calls
        while True:
            await _read_request(reader)
            calls += 1
            status = "500 Internal Server Error" if calls == 1 else "200 OK"
            writer.write(_answer(status, ["content-length: 0"]))
            await writer.drain()

    async with _server(busy_then_ok) as (port, _):
        read = RetryingTransport(Pool(f"http://127.0.0.1:{port}/"), retries=2, base_delay_s=0.01)
        assert (await read.send("POST", {}, b"", statuses=RETRYABLE_STATUS)).status == 200
        calls = 0
        change = RetryingTransport(Pool(f"http://127.0.0.1:{port}/"), retries=2, base_delay_s=0.01)
        assert (await change.send("POST", {}, b"", statuses=NOT_PROCESSED_STATUS)).status == 500
        assert calls == 1  # a 500 may come after the change ran: not sent again
    refused = RetryingTransport(Pool(f"http://127.0.0.1:{port}/"), retries=1, base_delay_s=0.01)
    with pytest.raises(ConnectError):
        await refused.send("POST", {}, b"")


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_tls_verifies_the_certificate_and_the_host_name(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    async with _server(_keep_alive, tls=server_tls) as (port, _):
        pool = Pool(f"https://localhost:{port}/mcp", tls=trusting)
        response = await pool.request("POST", {}, b"tls")
        assert await response.read() == b"ok:tls"
        await response.aclose()
        await pool.aclose()
        wrong_name = Pool(f"https://127.0.0.1:{port}/mcp", tls=trusting)
        with pytest.raises(ConnectError, match=r"certificate|match"):
            await wrong_name.request("POST", {}, b"")
        untrusted = Pool(f"https://localhost:{port}/mcp", tls=ssl.create_default_context())
        with pytest.raises(ConnectError, match="certificate"):
            await untrusted.request("POST", {}, b"")


@pytest.mark.parametrize(
    "headers",
    [
        {"mcp-session-id": "abc\r\nx-injected: 1"},
        {"mcp-session-id": "abc\nx-injected: 1"},
        {"mcp-session-id": "caf\u00e9"},
        {"bad name": "v"},
    ],
)
async def test_a_header_that_could_smuggle_another_is_never_sent(headers: dict[str, str]) -> None:
    async with _server(_keep_alive) as (port, heads):
        pool = Pool(f"http://127.0.0.1:{port}/")
        with pytest.raises(ProtocolError, match="not a valid HTTP header"):
            await pool.request("POST", headers, b"")
        await pool.aclose()
    assert heads == [] and pool.connections_opened == 0
