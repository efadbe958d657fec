"""Full fan-out results kept by the bridge in the central results bucket, read to attach to a thread.

The agent's ``file`` event names an object; the bot reads only objects of its
own configured results bucket under the bridge's ``results/`` prefix, and at
most :data:`MAX_BYTES`, so an event cannot make it read anything else.
"""

import asyncio
import logging
import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from centralops.errors import CentralOpsError
from centralops.events import FileEvent

logger = logging.getLogger(__name__)

PREFIX = "results/"
MAX_BYTES = 50_000_000


class ResultsUnavailableError(CentralOpsError):
    """The full results could not be read."""

    code = "results_unavailable"


class ResultFiles:
    """Reads result documents from the results bucket.

    Args:
        bucket: The central results bucket; ``None`` when none is configured.
        client: A boto3 S3 client; created lazily when omitted.
        region: Region of the lazily created client.
        endpoint_url: Endpoint of the lazily created client (moto locally).
    """

    def __init__(
        self,
        bucket: str | None,
        *,
        client: Any = None,
        region: str = "us-east-1",
        endpoint_url: str | None = None,
    ) -> None:
        self.bucket = bucket
        self._client = client
        self._region = region
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()

    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3

                self._client = boto3.session.Session().client(
                    "s3", region_name=self._region, endpoint_url=self._endpoint_url
                )
            return self._client

    async def read(self, event: FileEvent) -> bytes:
        """The document the event names.

        Raises:
            ResultsUnavailableError: Not an object of the results bucket, too large, or unreadable.
        """
        bucket, key = event.get("bucket"), str(event.get("key") or "")
        if not self.bucket or bucket != self.bucket or not key.startswith(PREFIX) or ".." in key:
            logger.warning("result file refused", extra={"bucket": bucket, "key": key[:200]})
            raise ResultsUnavailableError(
                "The full results could not be attached here; the answer above shows each account's output cut."
            )

        def get() -> bytes:
            out = self._s3().get_object(Bucket=self.bucket, Key=key)
            if int(out.get("ContentLength") or 0) > MAX_BYTES:
                raise ResultsUnavailableError(
                    "The full results are too large to attach; ask about fewer accounts or narrow the command."
                )
            body: bytes = out["Body"].read()
            return body

        try:
            return await asyncio.to_thread(get)
        except (BotoCoreError, ClientError) as e:
            logger.warning("result file not read", extra={"key": key[:200], "error": str(e)})
            raise ResultsUnavailableError(
                "The full results could not be read (they expire after a few days); "
                "ask again to get them anew."
            ) from e
