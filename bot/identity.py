"""Chat user ⇄ Cognito identity: links, OAuth states and the per-request token exchange.

A chat user links once (``/aws login``, see :mod:`bot.auth_routes`); the link
keeps the Cognito refresh token, encrypted with KMS, in the identity-links
table. Per request :meth:`IdentityService.id_token` exchanges it for a fresh
ID token (Cognito ``InitiateAuth`` ``REFRESH_TOKEN_AUTH``), cached in memory
until shortly before it expires. Every piece of state lives in DynamoDB, so
any bot replica can serve any user; the in-memory cache is only a cache and
is checked against the link on every call, so a logout on one replica takes
effect on all of them at once.
"""

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import boto3
import httpx
from botocore.exceptions import BotoCoreError, ClientError
from jose import jwt
from jose.exceptions import JWTError

from centralops import settings
from centralops.errors import CentralOpsError
from centralops.tokens import CognitoVerifier, cognito_issuer

logger = logging.getLogger("centralops.bot.identity")

STATE_TTL_S = 600
"""How long a sign-in link (an OAuth ``state``) stays usable."""

REFRESH_MARGIN_S = 300
"""A cached ID token is replaced this long before its ``exp``."""

LOGIN_COMMANDS: Mapping[str, str] = {"slack": "/aws login", "teams": "login"}
"""What a user types, per platform, to link their account."""


def _login_hint(platform: str) -> str:
    return LOGIN_COMMANDS.get(platform, "/aws login")


class IdentityError(CentralOpsError):
    """Linking or token exchange failed."""

    code = "identity"


class NotLinkedError(IdentityError):
    """The chat user has no linked Cognito identity."""

    code = "not_linked"

    def __init__(self, platform: str) -> None:
        super().__init__(
            "Your chat account is not linked to a CentralOps sign-in yet, so I cannot act as you. "
            f"Run `{_login_hint(platform)}` and sign in, then ask again."
        )


class RelinkRequiredError(IdentityError):
    """The stored refresh token was revoked or has expired."""

    code = "relink_required"

    def __init__(self, platform: str) -> None:
        super().__init__(
            "Your CentralOps sign-in has expired or was revoked. "
            f"Run `{_login_hint(platform)}` to sign in again, then ask again."
        )


def link_key(platform: str, team: str, user: str) -> str:
    """The identity-links partition key of one chat user."""
    return f"{platform}#{team}#{user}"


def secret_hash(client_secret: str, username: str, client_id: str) -> str:
    """Cognito's ``SECRET_HASH`` for app clients that have a secret."""
    digest = hmac.new(client_secret.encode(), (username + client_id).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


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


@dataclass(frozen=True)
class CognitoSettings:
    """Where the user pool, its app client and its hosted UI are.

    Attributes:
        user_pool_id: The pool's id (``us-east-1_AbC``).
        client_id: The bot's app client (public: no secret, PKCE).
        domain_url: Base URL of the hosted UI (``https://<domain>.auth.<region>.amazoncognito.com``).
        region: The pool's region.
        client_secret: Only for an app client that has a secret.
        issuer: Expected ``iss``; derived from region and pool when omitted.
        jwks_url: Where the keys are served; ``{issuer}/.well-known/jwks.json`` when omitted.
        scopes: OAuth scopes requested at sign-in.
    """

    user_pool_id: str
    client_id: str
    domain_url: str
    region: str = "us-east-1"
    client_secret: str | None = None
    issuer: str | None = None
    jwks_url: str | None = None
    scopes: tuple[str, ...] = ("openid", "email", "profile")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "CognitoSettings":
        """Read the ``CENTRALOPS_COGNITO_*`` settings.

        Raises:
            ConfigurationError: A required variable is missing.
        """
        return cls(
            user_pool_id=settings.env_str(settings.COGNITO_USER_POOL_ID, environ=environ),
            client_id=settings.env_str(settings.COGNITO_CLIENT_ID, environ=environ),
            domain_url=settings.env_str(settings.COGNITO_DOMAIN_URL, environ=environ).rstrip("/"),
            region=settings.env_str(settings.AWS_REGION, "us-east-1", environ=environ),
            client_secret=settings.env_opt(settings.COGNITO_CLIENT_SECRET, environ=environ),
            issuer=settings.env_opt(settings.COGNITO_ISSUER, environ=environ),
            jwks_url=settings.env_opt(settings.COGNITO_JWKS_URL, environ=environ),
        )

    @property
    def expected_issuer(self) -> str:
        """The ``iss`` tokens of this pool carry."""
        return self.issuer or cognito_issuer(self.region, self.user_pool_id)

    def client_auth_headers(self) -> dict[str, str]:
        """HTTP Basic client authentication for the hosted UI's endpoints (none for a public client)."""
        if not self.client_secret:
            return {}
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}

    def verifier(self) -> CognitoVerifier:
        """A verifier for ID tokens of this pool and client."""
        return CognitoVerifier(issuer=self.expected_issuer, audience=self.client_id, jwks_url=self.jwks_url)


def _region() -> str | None:
    return os.environ.get(settings.AWS_REGION) or None


class _Table:
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
        self._table = _Table(table_name, dynamodb)
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
        table_name: The OAuth-states table (partition key ``state``, TTL attribute ``ttl``).
        dynamodb: A boto3 DynamoDB service resource; created on first use when omitted.
        ttl_s: How long a state stays usable.
        clock: Epoch seconds (tests move it).
    """

    def __init__(
        self,
        table_name: str,
        *,
        dynamodb: Any | None = None,
        ttl_s: int = STATE_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = _Table(table_name, dynamodb)
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
        await self._table.call(
            "put_item",
            "start the sign-in",
            Item=item,
            ConditionExpression="attribute_not_exists(#s)",
            ExpressionAttributeNames={"#s": "state"},
        )
        return state

    def _parse(self, item: Mapping[str, Any] | None) -> OAuthState | None:
        if not item or int(item["expires_at"]) <= self._clock():
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
        result = await self._table.call(
            "get_item", "read the sign-in", Key={"state": state}, ConsistentRead=True
        )
        return self._parse(result.get("Item"))

    async def consume(self, state: str) -> OAuthState | None:
        """Use the state up: deleted atomically, so a replay (even a concurrent one) gets ``None``.

        Returns:
            The state, or ``None`` when it is unknown, already used or expired.
        """
        result = await self._table.call(
            "delete_item", "finish the sign-in", Key={"state": state}, ReturnValues="ALL_OLD"
        )
        return self._parse(result.get("Attributes"))


@dataclass
class _Cached:
    token: str
    exp: float
    linked_at: str


@dataclass
class IdentityService:
    """What the conversation core asks about identities.

    Args:
        store: The identity links.
        cognito: The user pool and its hosted UI.
        states: The OAuth states; from ``CENTRALOPS_OAUTH_STATES_TABLE`` when omitted.
        cognito_idp: A boto3 ``cognito-idp`` client; created on first use when omitted.
        public_url: The bot's public base URL (``CENTRALOPS_PUBLIC_URL`` when omitted).
        http: The HTTP client for the hosted UI's endpoints; created on first use when omitted.
        refresh_margin_s: How long before ``exp`` a cached ID token is replaced.
        clock: Epoch seconds (tests move it).
    """

    store: IdentityStore
    cognito: CognitoSettings
    states: OAuthStateStore | None = None
    cognito_idp: Any | None = None
    public_url: str = ""
    http: httpx.AsyncClient | None = None
    refresh_margin_s: float = REFRESH_MARGIN_S
    clock: Callable[[], float] = time.time
    _cache: dict[str, _Cached] = field(default_factory=dict, init=False, repr=False)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.public_url = (self.public_url or settings.env_str(settings.PUBLIC_URL)).rstrip("/")
        if self.states is None:
            self.states = OAuthStateStore(
                settings.env_str(settings.OAUTH_STATES_TABLE), dynamodb=self.store.dynamodb
            )

    @property
    def oauth_states(self) -> OAuthStateStore:
        """The OAuth-state store (always set after construction)."""
        assert self.states is not None  # noqa: S101 - set in __post_init__
        return self.states

    def idp(self) -> Any:
        """The ``cognito-idp`` client, created on first use."""
        if self.cognito_idp is None:
            self.cognito_idp = boto3.client("cognito-idp", region_name=self.cognito.region)
        return self.cognito_idp

    def http_client(self) -> httpx.AsyncClient:
        """The HTTP client for the hosted UI, created on first use."""
        if self.http is None:
            self.http = httpx.AsyncClient(timeout=10.0)
        return self.http

    async def id_token(self, platform: str, team: str, user: str) -> str:
        """A valid Cognito ID token for the linked chat user.

        Raises:
            NotLinkedError: The user has not linked an identity.
            RelinkRequiredError: Cognito refused the stored refresh token.
            IdentityError: Cognito, KMS or DynamoDB could not be reached.
        """
        link = await self.store.get(platform, team, user)
        if link is None:
            self.forget(platform, team, user)
            raise NotLinkedError(platform)
        token = self._cached(link)
        if token:
            return token
        lock = self._locks.setdefault(link.link_id, asyncio.Lock())
        async with lock:
            token = self._cached(link)
            if token:
                return token
            refresh = await self.store.refresh_token(platform, team, user)
            if refresh is None:
                raise NotLinkedError(platform)
            token, exp = await self._exchange(link, refresh)
            self._cache[link.link_id] = _Cached(token, exp, link.linked_at)
            return token

    def _cached(self, link: IdentityLink) -> str | None:
        entry = self._cache.get(link.link_id)
        # A re-link (another Cognito user, perhaps) changes linked_at and invalidates the entry.
        if entry and entry.linked_at == link.linked_at and entry.exp - self.refresh_margin_s > self.clock():
            return entry.token
        return None

    async def _exchange(self, link: IdentityLink, refresh_token: str) -> tuple[str, float]:
        params = {"REFRESH_TOKEN": refresh_token}
        if self.cognito.client_secret:
            params["SECRET_HASH"] = secret_hash(
                self.cognito.client_secret, link.username, self.cognito.client_id
            )
        try:
            result = await asyncio.to_thread(
                self.idp().initiate_auth,
                ClientId=self.cognito.client_id,
                AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters=params,
            )
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            logger.warning("token exchange refused", extra={"link_id": link.link_id, "error_code": code})
            if code in {"NotAuthorizedException", "UserNotFoundException"}:
                raise RelinkRequiredError(link.platform) from e
            raise IdentityError(
                f"Cognito could not issue a token for you right now ({code or 'error'}). "
                "Try again in a minute."
            ) from e
        except BotoCoreError as e:
            raise IdentityError("Cognito could not be reached to sign you in. Try again in a minute.") from e
        id_token = str(result["AuthenticationResult"]["IdToken"])
        exp = float(
            self.claims(id_token).get("exp") or self.clock() + result["AuthenticationResult"]["ExpiresIn"]
        )
        logger.info("id token exchanged", extra={"link_id": link.link_id})
        return id_token, exp

    async def whoami(self, platform: str, team: str, user: str) -> IdentityLink | None:
        """The link of the chat user, or ``None``."""
        return await self.store.get(platform, team, user)

    def forget(self, platform: str, team: str, user: str) -> None:
        """Drop the cached ID token of one chat user (after a re-link, say)."""
        self._cache.pop(link_key(platform, team, user), None)

    async def unlink(self, platform: str, team: str, user: str) -> bool:
        """Remove the link, drop the cache and, best effort, revoke the refresh token.

        Returns:
            ``True`` when there was a link.
        """
        self.forget(platform, team, user)
        popped = await self.store.pop(platform, team, user)
        self._locks.pop(link_key(platform, team, user), None)
        if popped is None:
            return False
        if popped[1]:
            await self._revoke(popped[0], popped[1])
        return True

    async def _revoke(self, link: IdentityLink, refresh_token: str) -> None:
        data = {"token": refresh_token, "client_id": self.cognito.client_id}
        try:
            response = await self.http_client().post(
                f"{self.cognito.domain_url}/oauth2/revoke",
                data=data,
                headers=self.cognito.client_auth_headers(),
            )
        except httpx.HTTPError as e:
            logger.warning(
                "refresh token not revoked", extra={"link_id": link.link_id, "error": type(e).__name__}
            )
            return
        if response.status_code != 200:
            logger.warning(
                "refresh token not revoked", extra={"link_id": link.link_id, "status": response.status_code}
            )

    async def login_url(self, platform: str, team: str, user: str) -> str:
        """A single-use sign-in URL for the chat user's sign-in button (valid for 10 minutes).

        The URL carries only the random ``state``; the chat identity and the
        PKCE verifier stay in DynamoDB, bound to it.
        """
        state = await self.oauth_states.create(platform, team, user)
        return f"{self.public_url}/auth/start?{urlencode({'state': state.state})}"

    @staticmethod
    def claims(id_token: str) -> dict[str, Any]:
        """The claims of an ID token, unverified (for groups and email of a token Cognito just issued).

        Raises:
            IdentityError: The token is not a JWT.
        """
        try:
            claims: dict[str, Any] = jwt.get_unverified_claims(id_token)
        except JWTError as e:
            raise IdentityError("Cognito returned a token that is not a JWT. Run /aws login again.") from e
        return claims

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **clients: Any) -> "IdentityService":
        """Build the service from ``CENTRALOPS_*`` settings.

        Args:
            environ: Where to read settings (``os.environ`` when omitted).
            **clients: ``dynamodb`` (resource), ``kms``, ``cognito_idp`` and ``http``, when injected.

        Raises:
            ConfigurationError: A required setting is missing.
        """
        store = IdentityStore(
            settings.env_str(settings.IDENTITY_LINKS_TABLE, environ=environ),
            settings.env_str(settings.KMS_KEY_ID, environ=environ),
            dynamodb=clients.get("dynamodb"),
            kms=clients.get("kms"),
        )
        states = OAuthStateStore(
            settings.env_str(settings.OAUTH_STATES_TABLE, environ=environ), dynamodb=clients.get("dynamodb")
        )
        return cls(
            store,
            CognitoSettings.from_env(environ),
            states=states,
            cognito_idp=clients.get("cognito_idp"),
            public_url=settings.env_str(settings.PUBLIC_URL, environ=environ),
            http=clients.get("http"),
        )
