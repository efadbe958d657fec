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

from bot.identity.cognito import CognitoSettings, secret_hash
from bot.identity.errors import IdentityError, NotLinkedError, RelinkRequiredError
from bot.identity.links import IdentityLink, IdentityStore, link_key
from bot.identity.service import REFRESH_MARGIN_S, IdentityService
from bot.identity.states import STATE_TTL_S, OAuthState, OAuthStateStore

__all__ = [
    "REFRESH_MARGIN_S",
    "STATE_TTL_S",
    "CognitoSettings",
    "IdentityError",
    "IdentityLink",
    "IdentityService",
    "IdentityStore",
    "NotLinkedError",
    "OAuthState",
    "OAuthStateStore",
    "RelinkRequiredError",
    "link_key",
    "secret_hash",
]
