"""Cognito JWT verification, shared by the bot, the agent and the Gateway.

Checks the RS256 signature against the pool's JWKS (fetched once and cached,
fetched again when an unknown key id appears), then ``iss``, ``exp``,
``token_use``, the audience and, where a hop requires it, the actor. Locally
moto serves the JWKS apart from the issuer, so the JWKS location is
configured on its own.

Tokens are bound to their hop by RFC 8693 token exchange: an exchanged access
token names its hop in ``aud`` (a string or a list) and the service that
exchanged it in ``act`` (``{"sub": ...}``, nesting earlier actors, RFC 8693
section 4.1). ID tokens name the app client in ``aud``; other access tokens in
``client_id``.
"""

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from jose import jwt
from jose.exceptions import ExpiredSignatureError, JWTClaimsError, JWTError

from centralops.errors import InvalidTokenError
from centralops.platforms import login_hint

JwksFetcher = Callable[[str], dict[str, Any]]


def _fetch_jwks(url: str) -> dict[str, Any]:
    response = httpx.get(url, timeout=5.0)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def audiences_of(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """The token's audience: ``aud`` when present (a string or a list), else the access token's ``client_id``."""
    aud = claims.get("aud")
    if aud is None and claims.get("token_use") == "access":
        aud = claims.get("client_id")
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list):
        return tuple(a for a in aud if isinstance(a, str))
    return ()


def actor_chain(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """Who acts for the subject, the current actor first, then each earlier one (RFC 8693 ``act``).

    A malformed ``act`` (not an object, or without a string ``sub``) ends the
    chain there: it names nobody.
    """
    chain: list[str] = []
    act = claims.get("act")
    while isinstance(act, Mapping) and isinstance(act.get("sub"), str) and act["sub"] and len(chain) < 16:
        chain.append(act["sub"])
        act = act.get("act")
    return tuple(chain)


def actor_of(claims: Mapping[str, Any]) -> str | None:
    """The service acting for the subject now (``act.sub``), or ``None`` when the person acts directly."""
    chain = actor_chain(claims)
    return chain[0] if chain else None


def require_actor(claims: Mapping[str, Any], actor: str) -> None:
    """Refuse a token that ``actor`` did not present on the subject's behalf.

    Raises:
        InvalidTokenError: The token has no ``act``, or it names another service.
    """
    current = actor_of(claims)
    if current is None:
        raise InvalidTokenError(
            "This token was not exchanged for this hop (it names no acting service); "
            "send requests through CentralOps in chat."
        )
    if current != actor:
        raise InvalidTokenError("This token was exchanged by another service than the one this hop trusts.")


def cognito_issuer(region: str, user_pool_id: str) -> str:
    """The ``iss`` of tokens from a Cognito user pool."""
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


@dataclass
class CognitoVerifier:
    """Verifies Cognito ID or access tokens.

    Args:
        issuer: The expected ``iss``.
        audience: The expected audience: the app client id (``aud`` of ID tokens, ``client_id``
            of access tokens), or the hop's resource server identifier (``aud`` of exchanged
            access tokens, see :func:`audiences_of`).
        jwks_url: Where the signing keys are served; ``{issuer}/.well-known/jwks.json`` by default.
        token_use: Accepted ``token_use`` values.
        required_actor: When set, ``act.sub`` must name this service (:func:`require_actor`).
        leeway_s: Clock skew tolerated on ``exp``.
        jwks_ttl_s: How long fetched keys are trusted before they are fetched again.
        fetch: Replaces the HTTP fetch of the JWKS (tests).
    """

    issuer: str
    audience: str
    jwks_url: str | None = None
    token_use: frozenset[str] = frozenset({"id"})
    required_actor: str | None = None
    leeway_s: int = 30
    jwks_ttl_s: float = 3600.0
    fetch: JwksFetcher = _fetch_jwks
    _keys: dict[str, dict[str, Any]] = field(default_factory=dict, init=False, repr=False)
    _fetched_at: float = field(default=0.0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.jwks_url is None:
            self.jwks_url = f"{self.issuer}/.well-known/jwks.json"

    def verify(self, token: str) -> dict[str, Any]:
        """Return the token's claims if it is valid here.

        Raises:
            InvalidTokenError: With a message saying why (expired, wrong audience...).
        """
        claims = self.decode(token)
        token_use = claims.get("token_use")
        if token_use not in self.token_use:
            raise InvalidTokenError(f"A {token_use!r} token is not accepted here.")
        if token_use == "id":  # noqa: S105 - a claim value
            accepted = claims.get("aud") == self.audience
        else:
            accepted = self.audience in audiences_of(claims)
        if not accepted:
            raise InvalidTokenError("The token was issued for another application (audience mismatch).")
        if self.required_actor is not None:
            require_actor(claims, self.required_actor)
        return claims

    def decode(self, token: str) -> dict[str, Any]:
        """The claims of a token of this pool: signature, ``iss`` and ``exp`` checked, nothing else.

        Callers that use this instead of :meth:`verify` check ``token_use`` and the audience themselves.

        Raises:
            InvalidTokenError: With a message saying why.
        """
        if not token:
            raise InvalidTokenError(f"No token was sent. Sign in again (in chat: {login_hint(None)}).")
        try:
            header = jwt.get_unverified_header(token)
        except JWTError as e:
            raise InvalidTokenError("The token is not a well-formed JWT.") from e
        if header.get("alg") != "RS256":
            raise InvalidTokenError("The token is not signed with RS256.")
        key = self._key(str(header.get("kid", "")))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                issuer=self.issuer,
                options={"verify_aud": False, "leeway": self.leeway_s},
            )
        except ExpiredSignatureError as e:
            raise InvalidTokenError("The token has expired. Try again; sign in again if it persists.") from e
        except JWTClaimsError as e:
            raise InvalidTokenError(f"The token's claims are not accepted: {e}.") from e
        except JWTError as e:
            raise InvalidTokenError("The token's signature is not valid.") from e
        return claims

    def prefetch(self) -> None:
        """Fetch the signing keys now (at start) instead of on the first token.

        Raises:
            InvalidTokenError: The keys could not be fetched.
        """
        with self._lock:
            if self._keys:
                return
        try:
            self._key("")
        except InvalidTokenError:
            if not self._keys:
                raise  # no key has an empty id: once the keys are in, only the lookup failed

    def _key(self, kid: str) -> dict[str, Any]:
        with self._lock:
            stale = time.monotonic() - self._fetched_at > self.jwks_ttl_s
            # An unknown kid may mean the pool rotated its keys: fetch again, at most every 30 s.
            unknown = kid not in self._keys and time.monotonic() - self._fetched_at > 30
            if not self._keys or stale or unknown:
                try:
                    jwks = self.fetch(str(self.jwks_url))
                except (httpx.HTTPError, ValueError) as e:
                    if not self._keys:
                        raise InvalidTokenError(
                            "The signing keys of the user pool could not be fetched; try again shortly."
                        ) from e
                else:
                    self._keys = {str(k.get("kid")): k for k in jwks.get("keys", [])}
                    self._fetched_at = time.monotonic()
            if kid not in self._keys:
                raise InvalidTokenError("The token is signed by an unknown key.")
            return self._keys[kid]


def bearer_token(authorization: str | None) -> str | None:
    """Extract the token of an ``Authorization: Bearer ...`` header."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
