"""Identity links in DynamoDB, the refresh token encrypted by KMS."""

import asyncio
import base64
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from bot.dynamo import DynamoTable, from_attributes, storage_error, to_attributes
from bot.identity.errors import IdentityError
from centralops.platforms import login_command

logger = logging.getLogger("centralops.bot.identity")


def link_key(platform: str, team: str, user: str) -> str:
    """The identity-links partition key of one chat user."""
    return f"{platform}#{team}#{user}"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class IdentityLink:
    """One chat user linked to one Cognito user (the refresh token stays in the store)."""

    link_id: str
    platform: str
    team: str
    user: str
    username: str
    email: str
    linked_at: str

    @property
    def display_name(self) -> str:
        """What to show people: the email, else the Cognito username (a UUID in email-as-username pools)."""
        return self.email or self.username


class IdentityStore:
    """Identity links in DynamoDB, with the refresh token encrypted by KMS.

    Args:
        table: The identity-links table (partition key ``link_id``).
        kms_key_id: The KMS key (id, ARN or alias) that encrypts refresh tokens.
        kms: A boto3 KMS client; created on first use (in a worker thread) when omitted.
        region: Region of the lazily created KMS client (the bot's ``BotConfig.region``).
        endpoint_url: Endpoint of the lazily created KMS client (the local moto server).
    """

    def __init__(
        self,
        table: DynamoTable,
        kms_key_id: str,
        *,
        kms: Any | None = None,
        region: str = "us-east-1",
        endpoint_url: str | None = None,
    ):
        self.table = table
        self._kms_key_id = kms_key_id
        self._kms = kms
        self._region = region
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()

    def _kms_client(self) -> Any:
        with self._lock:  # boto3's default session is not safe for concurrent client creation
            if self._kms is None:
                self._kms = boto3.session.Session().client(
                    "kms", region_name=self._region, endpoint_url=self._endpoint_url
                )
        return self._kms

    async def _call(self, operation: str, what: str, **kwargs: Any) -> Any:
        try:
            return await self.table.call(operation, **kwargs)
        except (BotoCoreError, ClientError) as e:
            raise storage_error(e, what, IdentityError) from e

    async def _kms_call(self, operation: str, platform: str, **kwargs: Any) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            result: dict[str, Any] = getattr(self._kms_client(), operation)(**kwargs)
            return result

        try:
            result = await asyncio.to_thread(run)
        except (ClientError, BotoCoreError) as e:
            code = (
                e.response.get("Error", {}).get("Code", "error")
                if isinstance(e, ClientError)
                else type(e).__name__
            )
            logger.warning("kms call failed", extra={"operation": operation, "error_code": code})
            raise IdentityError(
                f"CentralOps could not {operation} the stored sign-in. "
                f"Try again in a minute; if it persists, run `{login_command(platform)}` to link again."
            ) from e
        return result

    async def save(
        self, platform: str, team: str, user: str, *, username: str, email: str, refresh_token: str
    ) -> IdentityLink:
        """Create or replace the link of one chat user."""
        link = IdentityLink(link_key(platform, team, user), platform, team, user, username, email, _now_iso())
        encrypted = await self._kms_call(
            "encrypt",
            platform,
            KeyId=self._kms_key_id,
            Plaintext=refresh_token.encode(),
            EncryptionContext={"link_id": link.link_id},
        )
        item = {
            "link_id": link.link_id,
            "platform": platform,
            "team": team,
            "user": user,
            "username": username,
            "email": email,
            "linked_at": link.linked_at,
            "refresh_token": base64.b64encode(encrypted["CiphertextBlob"]).decode(),
        }
        await self._call("put_item", "save your link", Item=to_attributes(item))
        logger.info("identity linked", extra={"link_id": link.link_id, "username": username})
        return link

    async def _item(self, link_id: str) -> dict[str, Any] | None:
        result = await self._call(
            "get_item", "read your link", Key={"link_id": {"S": link_id}}, ConsistentRead=True
        )
        item = result.get("Item")
        return from_attributes(item) if item else None

    @staticmethod
    def _link(item: Mapping[str, Any]) -> IdentityLink:
        return IdentityLink(
            link_id=str(item["link_id"]),
            platform=str(item.get("platform", "")),
            team=str(item.get("team", "")),
            user=str(item.get("user", "")),
            username=str(item.get("username", "")),
            email=str(item.get("email", "")),
            linked_at=str(item.get("linked_at", "")),
        )

    async def _decrypt(self, item: Mapping[str, Any]) -> str:
        result = await self._kms_call(
            "decrypt",
            str(item.get("platform") or str(item["link_id"]).split("#", 1)[0]),
            CiphertextBlob=base64.b64decode(str(item["refresh_token"])),
            EncryptionContext={"link_id": str(item["link_id"])},
        )
        return bytes(result["Plaintext"]).decode()

    async def get(self, platform: str, team: str, user: str) -> IdentityLink | None:
        """The link of one chat user, or ``None``."""
        item = await self._item(link_key(platform, team, user))
        return self._link(item) if item else None

    async def refresh_token(self, platform: str, team: str, user: str) -> str | None:
        """The decrypted refresh token of one chat user, or ``None`` when not linked."""
        item = await self._item(link_key(platform, team, user))
        return await self._decrypt(item) if item else None

    async def pop(self, platform: str, team: str, user: str) -> tuple[IdentityLink, str] | None:
        """Delete the link and return it with its decrypted refresh token (``None`` if there was none)."""
        result = await self._call(
            "delete_item",
            "remove your link",
            Key={"link_id": {"S": link_key(platform, team, user)}},
            ReturnValues="ALL_OLD",
        )
        if not result.get("Attributes"):
            return None
        item = from_attributes(result["Attributes"])
        logger.info("identity unlinked", extra={"link_id": item["link_id"]})
        try:
            return self._link(item), await self._decrypt(item)
        except IdentityError:
            return self._link(item), ""

    async def delete(self, platform: str, team: str, user: str) -> bool:
        """Delete the link; ``True`` when there was one."""
        result = await self._call(
            "delete_item",
            "remove your link",
            Key={"link_id": {"S": link_key(platform, team, user)}},
            ReturnValues="ALL_OLD",
        )
        return bool(result.get("Attributes"))
