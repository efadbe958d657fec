"""Single-use, short-lived OAuth ``state`` records bound to one chat user."""

import base64
import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bot.dynamo import DynamoTable, from_attributes, storage_error, to_attributes
from bot.identity.errors import IdentityError
from bot.identity.links import link_key

STATE_TTL_S = 600
"""How long a sign-in link (an OAuth ``state``) stays usable."""


@dataclass(frozen=True)
class OAuthState:
    """One pending sign-in: single-use, short-lived, bound to one chat user."""

    state: str
    platform: str
    team: str
    user: str
    code_verifier: str
    expires_at: int

    @property
    def link_id(self) -> str:
        """The chat identity this sign-in will link."""
        return link_key(self.platform, self.team, self.user)

    @property
    def code_challenge(self) -> str:
        """The PKCE ``S256`` challenge of :attr:`code_verifier`."""
        digest = hashlib.sha256(self.code_verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OAuthStateStore:
    """OAuth ``state`` records in DynamoDB; :meth:`consume` lets exactly one caller have each.

    Args:
        table: The OAuth-states table (partition key ``state``, TTL attribute ``ttl``).
        ttl_s: How long a state stays usable.
        clock: Epoch seconds (tests move it).
    """

    def __init__(
        self,
        table: DynamoTable,
        *,
        ttl_s: int = STATE_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self._ttl_s = ttl_s
        self._clock = clock

    async def create(self, platform: str, team: str, user: str) -> OAuthState:
        """Create a fresh state with its PKCE verifier."""
        state = OAuthState(
            state=secrets.token_urlsafe(32),
            platform=platform,
            team=team,
            user=user,
            code_verifier=secrets.token_urlsafe(64),
            expires_at=int(self._clock()) + self._ttl_s,
        )
        item = {
            "state": state.state,
            "link_id": state.link_id,
            "platform": platform,
            "team": team,
            "user": user,
            "code_verifier": state.code_verifier,
            "expires_at": state.expires_at,
            # DynamoDB deletes expired items lazily; expires_at is what is enforced.
            "ttl": state.expires_at + 3600,
        }
        await self._call(
            "put_item",
            "start the sign-in",
            Item=to_attributes(item),
            ConditionExpression="attribute_not_exists(#s)",
            ExpressionAttributeNames={"#s": "state"},
        )
        return state

    async def _call(self, operation: str, what: str, **kwargs: Any) -> Any:
        try:
            return await self.table.call(operation, **kwargs)
        except (BotoCoreError, ClientError) as e:
            raise storage_error(e, what, IdentityError) from e

    def _parse(self, attributes: Mapping[str, Any] | None) -> OAuthState | None:
        if not attributes:
            return None
        item = from_attributes(attributes)
        if int(item["expires_at"]) <= self._clock():
            return None
        return OAuthState(
            state=str(item["state"]),
            platform=str(item["platform"]),
            team=str(item["team"]),
            user=str(item["user"]),
            code_verifier=str(item["code_verifier"]),
            expires_at=int(item["expires_at"]),
        )

    async def peek(self, state: str) -> OAuthState | None:
        """The state if it exists and has not expired, without using it up."""
        result = await self._call(
            "get_item", "read the sign-in", Key={"state": {"S": state}}, ConsistentRead=True
        )
        return self._parse(result.get("Item"))

    async def consume(self, state: str) -> OAuthState | None:
        """Use the state up: deleted atomically, so a replay (even a concurrent one) gets ``None``.

        Returns:
            The state, or ``None`` when it is unknown, already used or expired.
        """
        result = await self._call(
            "delete_item", "finish the sign-in", Key={"state": {"S": state}}, ReturnValues="ALL_OLD"
        )
        return self._parse(result.get("Attributes"))
