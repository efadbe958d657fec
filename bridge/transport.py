"""HTTP for the AWS MCP Server client: SigV4 signing, one TLS context and retries.

The bridge's MCP client (``bridge.aws_mcp``) sends its requests through
``bridge.http11``'s connection pool; these sit on top of it.
"""

import asyncio
import functools
import hashlib
import hmac
import logging
import random
import ssl
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from bridge.credentials import AwsCredentials
from bridge.http11 import ConnectError, Pool, Response

logger = logging.getLogger(__name__)

SERVICE = "aws-mcp"
_SIGNED_HEADERS = ("content-type", "accept", "mcp-session-id", "mcp-protocol-version")
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Answers that promise the request was not processed: the only ones retried for a mutating command.
NOT_PROCESSED_STATUS = frozenset({429, 503})


class SigV4Signer:
    """Signs every request (body included) with AWS Signature Version 4 for the ``aws-mcp`` service.

    The canonical request, string to sign and signature follow the SigV4 specification (the
    tests hold every signature to botocore's ``SigV4Auth`` for the same request and time). The
    endpoint's canonical path, query and host are worked out once per URL, with botocore's own
    rules, and the signing key once per day: per request only the hashes and one HMAC remain.

    Args:
        credentials: The assumed role's credentials.
        region: The region of the AWS MCP Server endpoint.
        service: The signing name.
        clock: Epoch seconds (tests).
    """

    def __init__(
        self,
        credentials: AwsCredentials,
        region: str,
        service: str = SERVICE,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._access_key_id = credentials.access_key_id
        self._secret = credentials.secret_access_key
        self._token = credentials.session_token
        self._region = region
        self._service = service
        self._clock = clock
        self._key_day = ""
        self._key = b""

    def _signing_key(self, day: str) -> bytes:
        if day != self._key_day:
            key = _hmac(f"AWS4{self._secret}".encode(), day)
            for part in (self._region, self._service, "aws4_request"):
                key = _hmac(key, part)
            self._key_day, self._key = day, key
        return self._key

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
        """Add ``authorization``, ``x-amz-date`` and ``x-amz-security-token`` to ``headers``.

        The signed headers are the host, ``x-amz-date``, ``x-amz-security-token`` and those of
        ``_SIGNED_HEADERS`` present in ``headers``.
        """
        host, path, query = _canonical_target(url)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._clock()))
        headers["x-amz-date"] = stamp
        if self._token:
            headers["x-amz-security-token"] = self._token
        signed = {name: headers[name] for name in _SIGNED_HEADERS if name in headers}
        signed.update(host=host, **{"x-amz-date": stamp})
        if self._token:
            signed["x-amz-security-token"] = self._token
        names = sorted(signed)
        canonical = "\n".join(
            (
                method.upper(),
                path,
                query,
                "".join(f"{name}:{' '.join(signed[name].split())}\n" for name in names),
                ";".join(names),
                hashlib.sha256(body).hexdigest(),
            )
        )
        day = stamp[:8]
        scope = f"{day}/{self._region}/{self._service}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._signing_key(day), to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self._access_key_id}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


@functools.cache
def _canonical_target(url: str) -> tuple[str, str, str]:
    """The host header, canonical path and canonical query of an endpoint, by botocore's rules."""
    from botocore.auth import SigV4Auth, _host_from_url
    from botocore.awsrequest import AWSRequest

    rules = SigV4Auth(None, SERVICE, "us-east-1")  # no credentials: only its URL rules are used
    parts = urlsplit(url)
    query = rules.canonical_query_string(AWSRequest(method="POST", url=url))
    return _host_from_url(url), rules._normalize_url_path(parts.path), query


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
