"""HTTP for the AWS MCP Server client: SigV4 signing, one TLS context and retries.

The bridge's MCP client (``bridge.aws_mcp``) sends its requests through
``bridge.http11``'s connection pool; these sit on top of it.
"""

import asyncio
import functools
import logging
import random
import ssl
from collections.abc import Mapping

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bridge.credentials import AwsCredentials
from bridge.http11 import ConnectError, Pool, Response

logger = logging.getLogger(__name__)

SERVICE = "aws-mcp"
_SIGNED_HEADERS = ("content-type", "accept", "mcp-session-id", "mcp-protocol-version")
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Answers that promise the request was not processed: the only ones retried for a mutating command.
NOT_PROCESSED_STATUS = frozenset({429, 503})


class SigV4Signer:
    """Signs every request (body included) with botocore's SigV4 for the ``aws-mcp`` service.

    Args:
        credentials: The assumed role's credentials.
        region: The region of the AWS MCP Server endpoint.
        service: The signing name.
    """

    def __init__(self, credentials: AwsCredentials, region: str, service: str = SERVICE) -> None:
        self._signer = SigV4Auth(
            Credentials(credentials.access_key_id, credentials.secret_access_key, credentials.session_token),
            service,
            region,
        )

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
        """Add ``Authorization``, ``X-Amz-Date`` and ``X-Amz-Security-Token`` to ``headers``.

        The signed headers are the host and those of ``_SIGNED_HEADERS`` present in ``headers``.
        """
        signed = {name: headers[name] for name in _SIGNED_HEADERS if name in headers}
        aws_request = AWSRequest(method=method, url=url, data=body, headers=signed)
        self._signer.add_auth(aws_request)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in aws_request.headers:
                headers[name.lower()] = aws_request.headers[name]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every AWS MCP session of the process.

    Building one loads the system's CA certificates (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set):
    about 20 ms of CPU, which each new connection would pay again. Certificates and host names are
    verified. The context is read-only once built and safe to share.
    """
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH)


class RetryingTransport:
    """Retries requests the server did not process: throttling, 5xx answers and refused connections.

    A request that reached the server and got no answer is not retried, so a
    command never runs twice because of a retry.

    Args:
        pool: The connection pool that sends.
        retries: Retries after the first attempt.
        base_delay_s: First backoff; doubles each retry, with jitter.
    """

    def __init__(self, pool: Pool, retries: int = 3, base_delay_s: float = 0.2) -> None:
        self._pool = pool
        self._retries = retries
        self._base = base_delay_s

    async def send(
        self,
        method: str,
        headers: Mapping[str, str],
        body: bytes = b"",
        *,
        statuses: frozenset[int] = RETRYABLE_STATUS,
    ) -> Response:
        """Send, retrying with backoff while the answer says "try again".

        Args:
            method: The HTTP method.
            headers: The request's headers, signature included.
            body: The body.
            statuses: The answers that are retried (``NOT_PROCESSED_STATUS`` for mutating commands:
                a 500 or a gateway timeout may come after the command ran). A connection the server
                had closed while idle is sent again only under ``RETRYABLE_STATUS``.
        """
        attempt = 0
        while True:
            try:
                response = await self._pool.request(
                    method, headers, body, safe_to_resend=statuses == RETRYABLE_STATUS
                )
            except ConnectError:
                if attempt >= self._retries:
                    raise
                delay = self._delay(attempt, None)
            else:
                if response.status not in statuses or attempt >= self._retries:
                    return response
                delay = self._delay(attempt, response.headers.get("retry-after"))
                await response.aclose()
                logger.info(
                    "aws mcp server asked to retry",
                    extra={"status": response.status, "attempt": attempt + 1, "delay_s": round(delay, 3)},
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
        await self._pool.aclose()
