"""The per-request token exchange and what the conversation core asks about identities."""

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import boto3
import httpx
from botocore.exceptions import BotoCoreError, ClientError
from jose import jwt
from jose.exceptions import JWTError

from bot.dynamo import DynamoTable
from bot.identity.cognito import CognitoSettings, secret_hash
from bot.identity.errors import IdentityError, NotLinkedError, RelinkRequiredError
from bot.identity.links import IdentityLink, IdentityStore, link_key
from bot.identity.settings import IdentitySettings
from bot.identity.states import OAuthStateStore
from centralops import settings
from centralops.platforms import login_hint

if TYPE_CHECKING:
    from bot.config import BotConfig

logger = logging.getLogger("centralops.bot.identity")

REFRESH_MARGIN_S = 300
"""A cached ID token is replaced this long before its ``exp``."""
LINK_TTL_S = 60.0
"""How long a replica answers from the link it read, without reading it again (see :meth:`IdentityService.id_token`)."""


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
    link_ttl_s: float = LINK_TTL_S
    clock: Callable[[], float] = time.time
    _cache: dict[str, _Cached] = field(default_factory=dict, init=False, repr=False)
    _links: dict[str, tuple[IdentityLink, float]] = field(default_factory=dict, init=False, repr=False)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.public_url = (self.public_url or settings.env_str(settings.PUBLIC_URL)).rstrip("/")
        if self.states is None:
            self.states = OAuthStateStore(
                self.store.table.sibling(settings.env_str(settings.OAUTH_STATES_TABLE))
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

        The link read is kept for :attr:`link_ttl_s`, keyed by the exact chat identity it was read for
        (so it never answers for anyone else). An unlink or re-link on this replica drops it at once;
        on another replica it takes effect within :attr:`link_ttl_s`.
        """
        link = await self._link(platform, team, user)
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
                self.forget(platform, team, user)
                raise NotLinkedError(platform)
            token, exp = await self._exchange(link, refresh)
            self._cache[link.link_id] = _Cached(token, exp, link.linked_at)
            return token

    async def _link(self, platform: str, team: str, user: str) -> IdentityLink:
        key = link_key(platform, team, user)
        kept = self._links.get(key)
        if kept is not None and kept[1] > self.clock():
            return kept[0]
        link = await self.store.get(platform, team, user)
        if link is None:
            self.forget(platform, team, user)
            raise NotLinkedError(platform)
        if link.link_id == key:  # the store answers by this key; never keep a link under another's key
            self._links[key] = (link, self.clock() + self.link_ttl_s)
        return link

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
            result = await asyncio.to_thread(  # the client is created in the worker thread too
                lambda: self.idp().initiate_auth(
                    ClientId=self.cognito.client_id, AuthFlow="REFRESH_TOKEN_AUTH", AuthParameters=params
                )
            )
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            logger.warning("token exchange refused", extra={"link_id": link.link_id, "error_code": code})
            if code in {"NotAuthorizedException", "UserNotFoundException"}:
                raise RelinkRequiredError(link.platform) from e
            raise IdentityError(
                "Cognito could not issue a token for you right now. Try again in a minute."
            ) from e
        except BotoCoreError as e:
            raise IdentityError("Cognito could not be reached to sign you in. Try again in a minute.") from e
        id_token = str(result["AuthenticationResult"]["IdToken"])
        exp = float(
            self.claims(id_token, link.platform).get("exp")
            or self.clock() + result["AuthenticationResult"]["ExpiresIn"]
        )
        logger.info("id token exchanged", extra={"link_id": link.link_id})
        return id_token, exp

    async def whoami(self, platform: str, team: str, user: str) -> IdentityLink | None:
        """The link of the chat user, or ``None``."""
        return await self.store.get(platform, team, user)

    def forget(self, platform: str, team: str, user: str) -> None:
        """Drop the cached link and ID token of one chat user (after a re-link or an unlink, say)."""
        key = link_key(platform, team, user)
        self._cache.pop(key, None)
        self._links.pop(key, None)

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
    def claims(id_token: str, platform: str | None = None) -> dict[str, Any]:
        """The claims of an ID token, unverified (for groups and email of a token Cognito just issued).

        Args:
            id_token: The token.
            platform: The chat platform of the person, for the message (``None``: both platforms').

        Raises:
            IdentityError: The token is not a JWT.
        """
        try:
            claims: dict[str, Any] = jwt.get_unverified_claims(id_token)
        except JWTError as e:
            raise IdentityError(
                f"Cognito returned a token that is not a JWT. Run {login_hint(platform)} again."
            ) from e
        return claims

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, config: "BotConfig | None" = None, **clients: Any
    ) -> "IdentityService":
        """Build the service from the bot's settings.

        Args:
            environ: Where to read settings (``os.environ`` when omitted) that ``config`` does not hold.
            config: The bot's settings: the identity settings, the region and endpoint of its AWS clients
                (read from ``environ`` when omitted).
            **clients: ``dynamodb`` (client), ``kms``, ``cognito_idp`` and ``http``, when injected.

        Raises:
            ConfigurationError: A required setting is missing.
        """
        identity = config.identity if config and config.identity else IdentitySettings.from_env(environ)
        region = config.region if config else identity.cognito.region
        endpoint_url = (
            config.endpoint_url if config else settings.env_opt(settings.AWS_ENDPOINT_URL, environ=environ)
        )
        store = IdentityStore(
            DynamoTable(
                identity.links_table,
                client=clients.get("dynamodb"),
                region=region,
                endpoint_url=endpoint_url,
            ),
            identity.kms_key_id,
            kms=clients.get("kms"),
            region=region,
            endpoint_url=endpoint_url,
        )
        states = OAuthStateStore(store.table.sibling(identity.states_table))
        return cls(
            store,
            identity.cognito,
            states=states,
            cognito_idp=clients.get("cognito_idp"),
            public_url=identity.public_url,
            http=clients.get("http"),
        )
