"""HTTP/1.1 for the AWS MCP Server client: pooled keep-alive connections over asyncio streams.

The bridge sends one kind of request (a signed POST, sometimes a DELETE) to one
origin, many at once. A general HTTP library cost most of the bridge's CPU per
call (request and URL models, per-request pool scans, anyio cancel scopes,
h11 state machines). This module does what that one request needs and no
more:

- one write per request (head and body together); ``Content-Length`` bodies,
  no ``Expect``, no compression asked for (the answer is read as sent);
- answers framed by ``Content-Length``, ``Transfer-Encoding: chunked`` or the
  end of the connection; ``1xx`` interim answers are skipped;
- connections kept alive (HTTP/1.1's default) and reused last-in first-out; a
  connection is reused only when its answer was read to the end, the server
  did not ask to close, and nothing arrived on it while idle (a closed or
  half-closed socket is readable); at most ``max_idle`` are kept;
- TLS with the process's one context (``bridge.transport.tls_context``) and
  the origin's host name checked;
- a request on a reused connection that dies before any byte of an answer is
  sent again once on a fresh connection when the caller says it is safe: the
  server closed the idle connection, so it never read the request.

A connection carries no identity: every request is signed on its own.
"""

import asyncio
import contextlib
import re
import select
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 65_536
_READ = 65_536
_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VALUE = re.compile(r"[\x20-\x7e\t]*")  # visible ASCII: no line break can end a header early


class HttpError(Exception):
    """The request failed below HTTP: no connection, or no well-formed answer."""


class ConnectError(HttpError):
    """No connection could be made (refused, unresolvable, TLS handshake failed): nothing was sent."""


class ProtocolError(HttpError):
    """The connection broke or the answer was malformed."""


class _Stale(ProtocolError):
    """A reused connection closed before any byte of the answer: the server never read the request."""


@dataclass(frozen=True)
class Origin:
    """Where requests go: scheme, host, port, and the request target of the endpoint."""

    scheme: str
    host: str
    port: int
    target: str
    host_header: str

    @classmethod
    def parse(cls, url: str) -> "Origin":
        """The origin of an ``http://`` or ``https://`` URL.

        Raises:
            ValueError: Another scheme, or no host.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL with a host")
        default = 443 if parts.scheme == "https" else 80
        port = parts.port or default
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname
        shown = f"[{host}]" if ":" in host else host
        return cls(parts.scheme, host, port, target, shown if port == default else f"{shown}:{port}")


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.reused = False

    def idle_and_open(self) -> bool:
        """True when the connection can carry another request (nothing pending, not closed by the peer)."""
        if self.writer.is_closing() or self.reader.at_eof() or self.reader._buffer:  # type: ignore[attr-defined]
            return False
        sock = self.writer.get_extra_info("socket")
        if sock is None:
            return False
        try:
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLIN)
            ready = poller.poll(0)
        except (OSError, ValueError):
            return False
        return not ready  # an idle connection with something to read was closed or is broken

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


@dataclass
class Response:
    """An answer's status and headers; its body is read with ``read`` or ``chunks``, then ``aclose``."""

    status: int
    headers: dict[str, str]  # lower-case names
    _pool: "Pool"
    _conn: _Connection | None
    _length: int | None  # bytes left of a Content-Length body; None: chunked or until the end
    _chunked: bool
    _keep: bool
    _done: bool = False
    _chunk_left: int = field(default=0)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (may be called once).

        Raises:
            ProtocolError: The connection closed early or the framing is malformed.
        """
        conn = self._conn
        if conn is None or self._done:
            return
        reader = conn.reader
        try:
            if self._chunked:
                while True:
                    line = await reader.readline()
                    if not line.endswith(b"\n"):
                        raise ProtocolError("the connection closed inside a chunked answer")
                    try:
                        size = int(line.split(b";", 1)[0].strip(), 16)
                    except ValueError:
                        raise ProtocolError("malformed chunk size in the answer") from None
                    if size == 0:
                        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        break
                    data = await reader.readexactly(size)
                    await reader.readexactly(2)
                    yield data
            elif self._length is not None:
                while self._length > 0:
                    data = await reader.read(min(self._length, _READ))
                    if not data:
                        raise ProtocolError("the connection closed before the answer's end")
                    self._length -= len(data)
                    yield data
            else:
                while data := await reader.read(_READ):
                    yield data
                self._keep = False
        except asyncio.IncompleteReadError:
            raise ProtocolError("the connection closed inside a chunked answer") from None
        self._done = True

    async def read(self) -> bytes:
        """The whole body."""
        return b"".join([chunk async for chunk in self.chunks()])

    async def aclose(self) -> None:
        """Give the connection back when the answer was read to its end, else close it."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._done and self._keep:
            self._pool.release(conn)
        else:
            conn.close()


class Pool:
    """Keep-alive connections to one origin.

    Args:
        url: The endpoint (its path is the request target).
        tls: The TLS context for ``https``.
        connect_timeout_s: Budget to connect (and finish the TLS handshake).
        read_timeout_s: Budget to wait for an answer's head.
        max_idle: Idle connections kept.
    """

    def __init__(
        self,
        url: str,
        *,
        tls: ssl.SSLContext | None = None,
        connect_timeout_s: float = 25.0,
        read_timeout_s: float = 300.0,
        max_idle: int = 256,
    ) -> None:
        self.origin = Origin.parse(url)
        self._tls = tls if self.origin.scheme == "https" else None
        if self.origin.scheme == "https" and self._tls is None:
            self._tls = ssl.create_default_context()
        self._connect_timeout = connect_timeout_s
        self._read_timeout = read_timeout_s
        self._max_idle = max_idle
        self._idle: list[_Connection] = []
        self._closed = False
        self.connections_opened = 0

    async def _connect(self) -> _Connection:
        origin = self.origin
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(
                    origin.host,
                    origin.port,
                    ssl=self._tls,
                    server_hostname=origin.host if self._tls else None,
                    limit=MAX_HEAD_BYTES,
                )
        except TimeoutError:
            raise ConnectError(f"connecting to {origin.host}:{origin.port} timed out") from None
        except (OSError, ssl.SSLError) as e:
            raise ConnectError(f"{type(e).__name__}: {e}") from e
        self.connections_opened += 1
        return _Connection(reader, writer)

    def _take(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if conn.idle_and_open():
                conn.reused = True
                return conn
            conn.close()
        return None

    def release(self, conn: _Connection) -> None:
        """Keep an idle connection for the next request (or close it beyond ``max_idle``)."""
        if self._closed or len(self._idle) >= self._max_idle:
            conn.close()
        else:
            self._idle.append(conn)

    async def request(
        self,
        method: str,
        headers: Mapping[str, str],
        body: bytes = b"",
        *,
        safe_to_resend: bool = False,
    ) -> Response:
        """Send one request to the origin's endpoint; the answer's head is read, its body is not.

        Args:
            method: ``POST``, ``DELETE``...
            headers: Header names and values (``Host`` and ``Content-Length`` are added).
            body: The body.
            safe_to_resend: May be sent again on a fresh connection when a reused one turns out closed.

        Raises:
            ConnectError: No connection could be made.
            ProtocolError: The connection broke or the answer was malformed.
            TimeoutError: No answer within the read budget.
        """
        if self._closed:
            raise HttpError("the connection pool is closed")
        origin = self.origin
        for name, value in headers.items():
            if not _NAME.fullmatch(name) or not _VALUE.fullmatch(value):
                # A value echoed from a server (a session id) must not be able to add headers.
                raise ProtocolError(
                    f"refusing to send the header {name[:40]!r}: it is not a valid HTTP header"
                )
        lines = [f"{method} {origin.target} HTTP/1.1", f"host: {origin.host_header}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"content-length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        for attempt in (1, 2):
            conn = self._take() or await self._connect()
            try:
                return await self._exchange(conn, method, head + body)
            except _Stale:
                conn.close()
                if attempt == 2 or not safe_to_resend:
                    raise
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange(self, conn: _Connection, method: str, data: bytes) -> Response:
        conn.writer.write(data)
        reader = conn.reader
        try:
            async with asyncio.timeout(self._read_timeout):
                await conn.writer.drain()
                while True:
                    try:
                        raw = await reader.readuntil(b"\r\n\r\n")
                    except asyncio.IncompleteReadError as e:
                        if conn.reused and not e.partial:
                            raise _Stale("the server closed the idle connection") from None
                        raise ProtocolError("the server closed the connection without an answer") from None
                    except asyncio.LimitOverrunError:
                        raise ProtocolError("the answer's head is too large") from None
                    status, headers = _parse_head(raw)
                    if status >= 200 or status == 101:
                        break
        except TimeoutError:
            raise
        except OSError as e:
            if conn.reused and isinstance(e, ConnectionResetError | BrokenPipeError):
                raise _Stale("the server closed the idle connection") from None
            raise ProtocolError(f"{type(e).__name__}: {e}") from e
        keep = "close" not in headers.get("connection", "").lower()
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length: int | None = None
        if method == "HEAD" or status in (204, 304):
            length = 0
        elif not chunked and "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise ProtocolError("malformed Content-Length in the answer") from None
            if length < 0:
                raise ProtocolError("malformed Content-Length in the answer")
        elif not chunked:
            keep = False  # the body ends with the connection
        response = Response(status, headers, self, conn, length, chunked, keep)
        if length == 0:
            response._done = True
        return response

    async def aclose(self) -> None:
        """Close every idle connection; connections in use close when their answer is done."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _parse_head(raw: bytes) -> tuple[int, dict[str, str]]:
    """Status and lower-cased headers of an answer's head (repeated headers joined by a comma)."""
    text = raw.decode("latin-1")
    status_line, *lines = text.split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"malformed status line {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ProtocolError(f"malformed header line {line[:80]!r}")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return int(parts[1]), headers
