"""AssumeRole into member accounts, with a cache and one call in flight per key.

Credentials are cached per (account, role, person, platform, channel) until five
minutes before they expire: the SourceIdentity and session tags are part of the
session, so one person's credentials are never handed to another.
"""

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bridge.errors import AccountError

logger = logging.getLogger(__name__)

REFRESH_BEFORE_S = 300.0
_SOURCE_IDENTITY = re.compile(r"[^\w+=,.@-]", re.ASCII)
_TAG_VALUE = re.compile(r"[^\w .:/=+@-]", re.ASCII)


@dataclass(frozen=True)
class Caller:
    """Who asks: the person the Gateway interceptor verified, and where the request came from.

    Attributes:
        requester: The derived identity (verified email, else the Cognito username); the SourceIdentity,
            the audit's requester and the approval's requester.
        platform: Where the request came from (informational, from the agent's ``context``).
        channel: The chat channel (informational, from the agent's ``context``).
        groups: The verified Cognito groups, for the entitlement rule.
        subject: The token's ``sub``.
    """

    requester: str
    platform: str = "unknown"
    channel: str = "unknown"
    groups: tuple[str, ...] = ()
    subject: str = ""


@dataclass(frozen=True)
class AwsCredentials:
    """Temporary credentials of an assumed role."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expires_at: float  # epoch seconds

    def __repr__(self) -> str:
        return f"AwsCredentials(access_key_id={self.access_key_id[:4]}..., expires_at={self.expires_at})"


def source_identity(requester: str) -> str:
    """The requester reduced to STS's SourceIdentity alphabet and length (2..64)."""
    value = _SOURCE_IDENTITY.sub("_", requester or "")[:64]
    return value if len(value) >= 2 else "centralops-unknown"


def tag_value(value: str) -> str:
    """A session-tag value STS accepts."""
    return _TAG_VALUE.sub("_", value or "unknown")[:256] or "unknown"


class CredentialProvider:
    """Assumes roles in member accounts and caches the credentials.

    Args:
        sts_factory: Creates the STS client on first use.
        clock: Wall clock in epoch seconds (tests).
    """

    def __init__(self, sts_factory: Callable[[], Any], *, clock: Callable[[], float] = time.time) -> None:
        self._factory = sts_factory
        self._sts: Any = None
        self._sts_lock = threading.Lock()
        self._clock = clock
        self._cache: dict[tuple[str, ...], AwsCredentials] = {}
        self._inflight: dict[tuple[str, ...], asyncio.Future[AwsCredentials]] = {}
        self.assume_role_calls = 0

    async def get(
        self, account_id: str, role_name: str, caller: Caller, *, external_id: str | None = None
    ) -> AwsCredentials:
        """Credentials for ``role_name`` in ``account_id`` on behalf of ``caller``.

        Concurrent calls for the same key share one AssumeRole.

        Raises:
            AccountError: STS refused or could not be reached.
        """
        identity = source_identity(caller.requester)
        key = (account_id, role_name, identity, tag_value(caller.platform), tag_value(caller.channel))
        cached = self._cache.get(key)
        if cached and cached.expires_at - REFRESH_BEFORE_S > self._clock():
            return cached
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[AwsCredentials] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            credentials = await asyncio.to_thread(
                self._assume, account_id, role_name, identity, key, external_id
            )
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            self._inflight.pop(key, None)
        self._cache[key] = credentials
        future.set_result(credentials)
        return credentials

    def _client(self) -> Any:
        with self._sts_lock:
            if self._sts is None:
                self._sts = self._factory()
            return self._sts

    def _assume(
        self, account_id: str, role_name: str, identity: str, key: tuple[str, ...], external_id: str | None
    ) -> AwsCredentials:
        self.assume_role_calls += 1
        params: dict[str, Any] = {
            "RoleArn": f"arn:aws:iam::{account_id}:role/{role_name}",
            "RoleSessionName": f"centralops-{identity}"[:64],
            "SourceIdentity": identity,
            "Tags": [{"Key": "platform", "Value": key[3]}, {"Key": "channel", "Value": key[4]}],
            "DurationSeconds": 3600,
        }
        if external_id:
            params["ExternalId"] = external_id
        try:
            out = self._client().assume_role(**params)["Credentials"]
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            raise AccountError(
                f"CentralOps could not assume {role_name} in account {account_id} ({code}). "
                "Check that the role exists there and trusts the CentralOps bridge"
                + (" with the configured ExternalId." if external_id else "."),
                code="assume_role_denied",
            ) from e
        except BotoCoreError as e:
            logger.warning("sts unreachable", extra={"account_id": account_id, "error": repr(e)[:300]})
            raise AccountError(
                f"STS could not be reached to enter account {account_id}. Try again shortly.",
                code="sts_unavailable",
            ) from e
        expiration = out["Expiration"]
        expires_at = expiration.timestamp() if isinstance(expiration, datetime) else float(expiration)
        return AwsCredentials(out["AccessKeyId"], out["SecretAccessKey"], out["SessionToken"], expires_at)
