"""The local stack's moto runner keeps connections alive, as AWS endpoints do, without mixing requests up.

Against the real runner process (``python -m infra.local.moto_server``) with
boto3 and ``http.client`` as clients; the connection count is taken where the
client opens its TCP connections, so a server that closes after each response
shows up (as plain ``python -m moto.server`` does, which proves the count).
A small app served in-process covers an app that fails.
"""

import contextlib
import http.client
import io
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import urllib3.util.connection
from botocore.exceptions import ClientError

from infra.local.moto_server import KeepAliveMotoServer
from tests.fixtures.aws import REGION, moto_server

RUNNER = "infra.local.moto_server"


@pytest.fixture(scope="module")
def keep_alive_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def short_idle_url() -> Iterator[str]:
    with moto_server("--idle-timeout", "1") as url:
        yield url


@pytest.fixture
def tcp_connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every TCP connection urllib3 (under boto3) opens from now on, by address."""
    opened: list[tuple[str, int]] = []
    real = urllib3.util.connection.create_connection

    def counting(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        opened.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", counting)
    return opened


def _client(url: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def _aws_calls(url: str) -> int:
    """DynamoDB, STS and S3 calls (bodies both ways, errors with and without a body); returns the requests sent."""
    dynamodb, sts, s3 = _client(url, "dynamodb"), _client(url, "sts"), _client(url, "s3")
    sent: list[str] = []
    for client in (dynamodb, sts, s3):
        client.meta.events.register("before-send", lambda request, **_: sent.append(request.url))
    table, bucket = f"t-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}, "v": {"S": "x" * 5000}})
    assert dynamodb.get_item(TableName=table, Key={"pk": {"S": "a"}})["Item"]["v"]["S"] == "x" * 5000
    assert sts.get_caller_identity()["Account"]
    assert sts.assume_role(RoleArn="arn:aws:iam::222222222222:role/R", RoleSessionName="keep-alive")[
        "Credentials"
    ]
    s3.create_bucket(Bucket=bucket)
    big = bytes(range(256)) * 8192  # 2 MiB: botocore sends it with Expect: 100-continue
    s3.put_object(Bucket=bucket, Key="small", Body=b"hello")
    s3.put_object(Bucket=bucket, Key="big", Body=big)
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"hello"
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == big
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=bucket, Key="missing")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as missing_head:
        s3.head_object(Bucket=bucket, Key="missing")
    assert missing_head.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert s3.head_object(Bucket=bucket, Key="small")["ContentLength"] == 5
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"hello"
    return len(sent)


def test_each_boto3_client_makes_all_its_calls_over_one_connection(
    keep_alive_url: str, tcp_connects: list[tuple[str, int]]
) -> None:
    assert _aws_calls(keep_alive_url) >= 14
    assert len(tcp_connects) == 3  # one per client: DynamoDB, STS, S3


def test_the_count_sees_a_server_that_closes_after_each_response(tcp_connects: list[tuple[str, int]]) -> None:
    with moto_server(runner="moto.server") as url:
        requests = _aws_calls(url)
    assert len(tcp_connects) >= requests  # werkzeug's server ends every response with Connection: close


def _request(conn: http.client.HTTPConnection, method: str, path: str, **kwargs: Any) -> tuple[int, bytes]:
    conn.request(method, path, **kwargs)
    response = conn.getresponse()
    body = response.read()
    assert not response.will_close, response.getheaders()
    return response.status, body


def _connection(url: str, timeout: float = 10) -> http.client.HTTPConnection:
    host, port = url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=timeout)


def test_a_body_the_app_does_not_read_is_not_taken_for_the_next_request(keep_alive_url: str) -> None:
    conn = _connection(keep_alive_url)
    smuggled = b"DELETE /moto-api/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    status, _ = _request(conn, "GET", "/moto-api/", body=smuggled)
    assert status == 200
    first = conn.sock
    status, body = _request(conn, "GET", "/moto-api/data.json")
    assert (status, conn.sock) == (200, first)
    assert isinstance(json.loads(body), dict)


class _Replay:
    """What a server sent on one connection, read back response by response with ``http.client``."""

    class _Stream(io.BytesIO):
        def close(self) -> None:
            """``http.client`` closes the stream after each response; the next one follows in it."""

    def __init__(self, data: bytes) -> None:
        self._stream = self._Stream(data)

    def makefile(self, mode: str) -> io.BytesIO:
        return self._stream

    def responses(self, count: int) -> list[tuple[int, bytes]]:
        out = []
        for _ in range(count):
            response = http.client.HTTPResponse(self)  # type: ignore[arg-type]
            response.begin()
            out.append((response.status, response.read()))
        assert self._stream.read() == b"", "more responses than requests"
        return out


def test_pipelined_requests_are_answered_in_turn_on_one_connection(keep_alive_url: str) -> None:
    host, port = keep_alive_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        smuggled = b"DELETE /moto-api/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        sock.sendall(
            b"POST /moto-api/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(smuggled), smuggled)
            + b"GET /moto-api/data.json HTTP/1.1\r\nHost: x\r\n\r\n"
            + b"GET /moto-api/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        received = b""
        while chunk := sock.recv(65536):  # the server closes after the third, as it was asked
            received += chunk
    (_, _), (data_status, data), (last_status, _) = _Replay(received).responses(3)
    assert (data_status, last_status) == (200, 200)
    assert isinstance(json.loads(data), dict)


def test_a_chunked_body_is_still_served_and_its_connection_closed(keep_alive_url: str) -> None:
    bucket = f"b-{uuid.uuid4().hex[:8]}"
    _client(keep_alive_url, "s3").create_bucket(Bucket=bucket)
    conn = _connection(keep_alive_url)
    parts = [b"first part, ", b"second part"]
    conn.request("PUT", f"/{bucket}/chunked", body=iter(parts), encode_chunked=True)
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    assert response.will_close
    stored = _client(keep_alive_url, "s3").get_object(Bucket=bucket, Key="chunked")["Body"].read()
    assert stored == b"".join(parts)


def test_a_client_that_asks_to_close_gets_its_connection_closed(keep_alive_url: str) -> None:
    conn = _connection(keep_alive_url)
    conn.request("GET", "/moto-api/", headers={"Connection": "close"})
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    assert response.will_close


def test_an_idle_connection_is_closed_after_the_timeout(short_idle_url: str) -> None:
    conn = _connection(short_idle_url)
    status, _ = _request(conn, "GET", "/moto-api/")
    assert status == 200
    assert conn.sock is not None
    conn.sock.settimeout(30)  # fails the test (TimeoutError) rather than hang if the server keeps it
    assert conn.sock.recv(1) == b""


@contextlib.contextmanager
def _serving(app: Any) -> Iterator[str]:
    server = KeepAliveMotoServer("127.0.0.1", 0, app=app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _failing_app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    if environ["PATH_INFO"] == "/before-headers":
        raise RuntimeError("failed before its response")
    start_response("200 OK", [("Content-Length", "10")])
    yield b"12345"
    if environ["PATH_INFO"] == "/mid-body":
        raise RuntimeError("failed after its headers")
    yield b"67890"


def test_a_response_cut_short_by_an_app_error_closes_the_connection() -> None:
    with _serving(_failing_app) as url:
        conn = _connection(url)
        assert _request(conn, "GET", "/fine") == (200, b"1234567890")
        sock = conn.sock
        assert sock is not None
        conn.request("GET", "/mid-body")
        conn.getresponse()
        sock.settimeout(30)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk  # whatever followed the cut; then the server closes (recv returns b"")
        conn.close()

        conn = _connection(url)
        conn.request("GET", "/before-headers")
        response = conn.getresponse()
        response.read()
        assert response.status == 500
        assert response.will_close
