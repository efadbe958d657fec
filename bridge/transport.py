"""HTTP for the AWS MCP Server client: SigV4 signing, one TLS context and retries, as ``httpx2`` pieces.

The bridge's MCP client (``bridge.aws_mcp``) speaks HTTP through an
``httpx2.AsyncClient``; these plug into it.
"""

import asyncio
import functools
import logging
import random
import ssl
from collections.abc import Generator

import httpx2
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bridge.credentials import AwsCredentials

logger = logging.getLogger(__name__)

SERVICE = "aws-mcp"
_SIGNED_HEADERS = ("content-type", "accept", "mcp-session-id", "mcp-protocol-version")
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Answers that promise the request was not processed: the only ones retried for a mutating command.
NOT_PROCESSED_STATUS = frozenset({429, 503})


class SigV4HttpAuth(httpx2.Auth):
    """Signs every request (body included) with botocore's SigV4 for the ``aws-mcp`` service.

    Args:
        credentials: The assumed role's credentials.
        region: The region of the AWS MCP Server endpoint.
        service: The signing name.
    """

    requires_request_body = True

    def __init__(self, credentials: AwsCredentials, region: str, service: str = SERVICE) -> None:
        self._signer = SigV4Auth(
            Credentials(credentials.access_key_id, credentials.secret_access_key, credentials.session_token),
            service,
            region,
        )

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        """Sign the request (``httpx2``'s auth hook)."""
        self.sign(request)
        yield request

    def sign(self, request: httpx2.Request) -> None:
        """Add ``Authorization``, ``X-Amz-Date`` and ``X-Amz-Security-Token`` to the request."""
        headers = {name: request.headers[name] for name in _SIGNED_HEADERS if name in request.headers}
        aws_request = AWSRequest(
            method=request.method, url=str(request.url), data=request.content, headers=headers
        )
        self._signer.add_auth(aws_request)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in aws_request.headers:
                request.headers[name] = aws_request.headers[name]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every AWS MCP session of the process.

    Building one loads the system's CA certificates: about 20 ms of CPU, which each new session
    (each account of a wide fan-out) paid again. The context is read-only once built and safe to share.
    """
    import httpcore2

    return httpcore2.default_ssl_context()


class RetryingTransport(httpx2.AsyncBaseTransport):
    """Retries requests the server did not process: throttling, 5xx answers and refused connections.

    A request that reached the server and got no answer is not retried, so a
    command never runs twice because of a retry.

    Args:
        retries: Retries after the first attempt.
        base_delay_s: First backoff; doubles each retry, with jitter.
        inner: The transport that sends (a pooled ``AsyncHTTPTransport`` by default).
        statuses: The answers that are retried (``NOT_PROCESSED_STATUS`` for mutating commands:
            a 500 or a gateway timeout may come after the command ran).
        limits: The connection pool's limits (when ``inner`` is not given).
    """

    def __init__(
        self,
        retries: int = 3,
        base_delay_s: float = 0.2,
        inner: httpx2.AsyncBaseTransport | None = None,
        statuses: frozenset[int] = RETRYABLE_STATUS,
        limits: httpx2.Limits | None = None,
    ) -> None:
        self._statuses = statuses
        self._retries = retries
        self._base = base_delay_s
        self._inner = inner or httpx2.AsyncHTTPTransport(
            verify=tls_context(), limits=limits or httpx2.Limits()
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send, retrying with backoff while the answer says "try again"."""
        attempt = 0
        while True:
            try:
                response = await self._inner.handle_async_request(request)
            except (httpx2.ConnectError, httpx2.ConnectTimeout):
                if attempt >= self._retries:
                    raise
                delay = self._delay(attempt, None)
            else:
                if response.status_code not in self._statuses or attempt >= self._retries:
                    return response
                delay = self._delay(attempt, response.headers.get("retry-after"))
                await response.aclose()
                logger.info(
                    "aws mcp server asked to retry",
                    extra={
                        "status": response.status_code,
                        "attempt": attempt + 1,
                        "delay_s": round(delay, 3),
                    },
                )
            attempt += 1
            await asyncio.sleep(delay)

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), 10.0)
            except ValueError:
                pass
        return self._base * (2**attempt) * (0.5 + random.random())  # noqa: S311 - jitter, not crypto

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._inner.aclose()
