"""moto's own server app, served with HTTP/1.1 keep-alive as the AWS endpoints it stands in for are.

``python -m moto.server`` serves through werkzeug's development server, which
ends every response with ``Connection: close``: each boto3 call of every
process then opens a new TCP connection, and moto a new thread, where real
DynamoDB, STS or S3 endpoints let a client reuse its connection. That local
artefact inflated the CPU each answer costs on the local stack (socket set-up
and tear-down in every client, a thread per request in moto).

This runner serves exactly what ``moto.server`` serves (its
``DomainDispatcherApplication(create_backend_app)`` on werkzeug's threaded
server, with moto's ``MotoRequestHandler``), with the same ``MOTO_PORT`` and
signal handling, but keeps a connection open after a response when that is
safe:

- the request is HTTP/1.1 and the client did not ask to close;
- its body has a ``Content-Length`` (or none) of at most
  :data:`MAX_BUFFERED_BODY`, and is read in full before the app runs, so a
  body the app leaves unread cannot be taken for the next request. Chunked
  bodies, and larger ones, close the connection after the response as before;
- the app did not raise (a response cut short by an error closes it).

A connection idle for ``--idle-timeout`` seconds (60 by default) is closed,
so idle clients do not hold a thread each forever.

Run: ``python -m infra.local.moto_server -H 127.0.0.1 -p 5100 [--idle-timeout 60]``.
"""

import argparse
import io
import os
import signal
from collections.abc import Iterable, Iterator
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import signal_handler
from werkzeug.serving import ThreadedWSGIServer

IDLE_TIMEOUT_S = 60.0
"""Seconds a connection may wait for its next request before it is closed."""

MAX_BUFFERED_BODY = 64 * 1024 * 1024
"""Largest request body read into memory up front; a larger one closes its connection after the response."""

_APP_FAILED = "centralops.moto_server.app_failed"


class _DrainedSocket:
    """Stands in for the connection during werkzeug's after-response drain, which then finds nothing.

    After every response werkzeug reads whatever is left on the socket, which is
    only safe when the connection closes next: on a kept connection it would
    swallow the client's next request. A pipe whose writing end is closed is
    always readable and reads nothing, so the drain ends at once.
    """

    def __init__(self) -> None:
        read_end, write_end = os.pipe()
        os.close(write_end)
        self._fd = read_end

    def fileno(self) -> int:
        return self._fd


class KeepAliveRequestHandler(MotoRequestHandler):
    """moto's request handler, keeping the connection open between requests when that is safe."""

    timeout = IDLE_TIMEOUT_S  # on the socket: an idle connection's wait for its next request ends here
    disable_nagle_algorithm = True  # headers and body go out as separate writes: do not hold the body back
    drained: _DrainedSocket  # one per server, set by KeepAliveMotoServer

    _keep_alive = False
    _saved: tuple[Any, Any] | None = None

    def make_environ(self) -> dict[str, Any]:
        """moto's environ, with the whole request body read up front when the connection may be kept."""
        environ = super().make_environ()
        length = _content_length(environ)
        if (
            self.close_connection
            or self.request_version != "HTTP/1.1"
            or "HTTP_TRANSFER_ENCODING" in environ
            or length is None
            or length > MAX_BUFFERED_BODY
        ):
            return environ
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise ConnectionResetError("the client closed the connection before it sent the whole body")
        environ["wsgi.input"] = io.BytesIO(body)
        self._keep_alive = True
        self._saved = (self.rfile, self.connection)
        self.rfile, self.connection = io.BytesIO(), self.drained
        return environ

    def run_wsgi(self) -> None:
        """Serve one request, then keep the connection only if the request and its response allow it."""
        try:
            super().run_wsgi()
        finally:
            if self._saved is not None:
                self.rfile, self.connection = self._saved
                self._saved = None
            if not self._keep_alive or getattr(self, "environ", {}).get(_APP_FAILED):
                self.close_connection = True
            self._keep_alive = False

    def send_header(self, keyword: str, value: str) -> None:
        """Leave out werkzeug's blanket ``Connection: close`` on a connection that stays open."""
        closing = keyword.lower() == "connection" and value.lower() == "close"
        if closing and self._keep_alive and not self.environ.get(_APP_FAILED):
            return
        super().send_header(keyword, value)

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        """A connection the client dropped is not read again."""
        self.close_connection = True

    def log_error(self, format: str, *args: Any) -> None:
        """An idle connection closed by the timeout is routine, not an error."""
        if format.startswith("Request timed out"):
            self.log("info", "closed a connection idle or stalled for %s s", self.timeout)
            return
        super().log_error(format, *args)


class _MarkFailures:
    """Marks the environ of a request whose app raised, so that its connection is not reused."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        chunks: Iterable[bytes] | None = None
        try:
            chunks = self.app(environ, start_response)
            yield from chunks
        except Exception:
            environ[_APP_FAILED] = True
            raise
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()


class KeepAliveMotoServer(ThreadedWSGIServer):
    """werkzeug's threaded server with :class:`KeepAliveRequestHandler` around moto's app."""

    def __init__(self, host: str, port: int, idle_timeout: float = IDLE_TIMEOUT_S, app: Any = None) -> None:
        """Bind ``host``:``port``; ``app`` is a WSGI app to serve instead of moto's (for tests)."""
        if app is None:
            app = DomainDispatcherApplication(create_backend_app)
            app.debug = True  # as moto.server sets it

        class Handler(KeepAliveRequestHandler):
            timeout = idle_timeout
            drained = _DrainedSocket()

        super().__init__(host, port, _MarkFailures(app), handler=Handler)


def _content_length(environ: dict[str, Any]) -> int | None:
    """The request's body length (0 without a header), or ``None`` if the header is not a length."""
    value = environ.get("CONTENT_LENGTH", "").strip()
    if not value:
        return 0
    if not value.isdigit():
        return None
    return int(value)


def main(argv: list[str] | None = None) -> None:
    """Serve moto on ``--host``/``--port`` until SIGINT or SIGTERM, as ``python -m moto.server`` does."""
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.moto_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("-H", "--host", default="127.0.0.1", help="which host to bind")
    parser.add_argument(
        "-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", 5000)), help="port to listen on"
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=IDLE_TIMEOUT_S,
        help=f"seconds before an idle connection is closed ({IDLE_TIMEOUT_S:g})",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # moto builds its own URLs (SQS queue URLs...) with it
    signal.signal(signal.SIGINT, signal_handler)
    signal.signal(signal.SIGTERM, signal_handler)
    server = KeepAliveMotoServer(args.host, args.port, args.idle_timeout)
    server.log_startup()
    server.serve_forever()


if __name__ == "__main__":
    main()
