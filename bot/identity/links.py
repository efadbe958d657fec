"""Identity links in DynamoDB, the refresh token encrypted by KMS."""

import asyncio
import base64
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from bot.identity.errors import IdentityError
from centralops import settings

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


def _region() -> str | None:
    return os.environ.get(settings.AWS_REGION) or None


class Table:
    """A lazily created DynamoDB table handle (``dynamodb`` is a boto3 DynamoDB service resource)."""

    def __init__(self, table_name: str, dynamodb: Any | None) -> None:
        self.name = table_name
        self._dynamodb = dynamodb
        self._table: Any | None = None

    @property
    def resource(self) -> Any:
        if self._dynamodb is None:
            self._dynamodb = boto3.resource("dynamodb", region_name=_region())
        return self._dynamodb

    @property
    def table(self) -> Any:
        if self._table is None:
            self._table = self.resource.Table(self.name)
        return self._table

    async def call(self, operation: str, what: str, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(getattr(self.table, operation), **kwargs)
        except ClientError as e:
            raise IdentityError(
                f"CentralOps could not {what} (DynamoDB table {self.name}: "
                f"{e.response.get('Error', {}).get('Code', 'error')}). Try again in a minute."
            ) from e
        except BotoCoreError as e:
            raise IdentityError(
                f"CentralOps could not reach DynamoDB to {what}. Try again in a minute."
            ) from e


class IdentityStore:
    """Identity links in DynamoDB, with the refresh token encrypted by KMS.

    Args:
        table_name: The identity-links table.
        kms_key_id: The KMS key (id, ARN or alias) that encrypts refresh tokens.
        dynamodb: A boto3 DynamoDB service resource; created on first use when omitted.
        kms: A boto3 KMS client; created on first use when omitted.
    """

    def __init__(
        self, table_name: str, kms_key_id: str, *, dynamodb: Any | None = None, kms: Any | None = None
    ):
        self._table = Table(table_name, dynamodb)
        self._kms_key_id = kms_key_id
        self._kms = kms

    @property
    def dynamodb(self) -> Any:
        """The DynamoDB service resource in use (shared with the OAuth-state store)."""
        return self._table.resource

    def _kms_client(self) -> Any:
        if self._kms is None:
            self._kms = boto3.client("kms", region_name=_region())
        return self._kms

    async def _kms_call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = await asyncio.to_thread(getattr(self._kms_client(), operation), **kwargs)
        except (ClientError, BotoCoreError) as e:
            code = (
                e.response.get("Error", {}).get("Code", "error")
                if isinstance(e, ClientError)
                else "unreachable"
            )
            raise IdentityError(
                f"CentralOps could not {operation} the stored sign-in with KMS ({code}). "
                "Try again in a minute; if it persists, run /aws login to link again."
            ) from e
        return result

    async def save(
        self, platform: str, team: str, user: str, *, username: str, email: str, refresh_token: str
    ) -> IdentityLink:
        """Create or replace the link of one chat user."""
        link = IdentityLink(link_key(platform, team, user), platform, team, user, username, email, _now_iso())
        encrypted = await self._kms_call(
            "encrypt",
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
        await self._table.call("put_item", "save your link", Item=item)
        logger.info("identity linked", extra={"link_id": link.link_id, "username": username})
        return link

    async def _item(self, link_id: str) -> dict[str, Any] | None:
        result = await self._table.call(
            "get_item", "read your link", Key={"link_id": link_id}, ConsistentRead=True
        )
        item: dict[str, Any] | None = result.get("Item")
        return item

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
        result = await self._table.call(
            "delete_item",
            "remove your link",
            Key={"link_id": link_key(platform, team, user)},
            ReturnValues="ALL_OLD",
        )
        item = result.get("Attributes")
        if not item:
            return None
        logger.info("identity unlinked", extra={"link_id": item["link_id"]})
        try:
            return self._link(item), await self._decrypt(item)
        except IdentityError:
            return self._link(item), ""

    async def delete(self, platform: str, team: str, user: str) -> bool:
        """Delete the link; ``True`` when there was one."""
        result = await self._table.call(
            "delete_item",
            "remove your link",
            Key={"link_id": link_key(platform, team, user)},
            ReturnValues="ALL_OLD",
        )
        return bool(result.get("Attributes"))
