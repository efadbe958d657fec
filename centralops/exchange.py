"""RFC 8693 token exchange with Amazon Cognito, for the services that act for a person.

A service (the bot, the agent) never forwards the person's token to the next
hop. It exchanges it (``GetDerivedToken``) for a token bound to that hop's
audience, presenting its own actor token: a client-credentials access token of
its confidential app client. The issued token's ``act`` claim then names the
service, and the next hop can tell the person from the service acting for them.

Both tokens are cached until shortly before they expire: the actor token once
per process, each issued token under a hash of the exact subject token it was
issued for, so one person's token can never be served for another's.
"""

import base64
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from jose import jwt
from jose.exceptions import JWTError

from centralops.errors import CentralOpsError, ConfigurationError, InvalidTokenError

logger = logging.getLogger("centralops.exchange")

REFUSED_CODES = frozenset({"NotAuthorizedException", "UserNotFoundException"})


class TokenExchangeError(CentralOpsError):
    """Cognito could not issue a token for the next hop (unreachable, throttled, misconfigured)."""

    code = "identity_unavailable"


@dataclass(frozen=True)
class Issued:
    """A token for the next hop.

    Attributes:
        token: The issued access token (never logged).
        expires_at: Its ``exp`` (epoch seconds).
    """

    token: str = field(repr=False)
    expires_at: float


@dataclass
class TokenExchanger:
    """Exchanges a person's token for one bound to ``audience``, with this service as actor.

    Args:
        client_id: This service's confidential app client.
        client_secret: Its secret.
        token_url: The user pool's token endpoint (``https://<domain>/oauth2/token``), for the actor token.
        audience: The next hop's resource server identifier (the issued token's ``aud``).
        region: The user pool's region.
        endpoint_url: A ``cognito-idp`` endpoint serving ``GetDerivedToken`` (the local stand-in);
            ``None`` is Cognito itself.
        idp: A boto3 ``cognito-idp`` client; created on first use when omitted.
        http: The HTTP client of the token endpoint; created on first use when omitted.
        margin_s: A cached token is replaced this long before it expires.
        max_cached: How many issued tokens are kept (least recently used dropped first).
        clock: Epoch seconds (tests move it).
    """

    client_id: str
    client_secret: str = field(repr=False)
    token_url: str
    audience: str
    region: str = "us-east-1"
    endpoint_url: str | None = None
    idp: Any | None = None
    http: httpx.Client | None = None
    margin_s: float = 60.0
    max_cached: int = 1024
    clock: Callable[[], float] = time.time
    calls: int = field(default=0, init=False)
    _actor: Issued | None = field(default=None, init=False, repr=False)
    _issued: OrderedDict[str, Issued] = field(default_factory=OrderedDict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _actor_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def client(self) -> Any:
        """The ``cognito-idp`` client, created on first use."""
        if self.idp is None:
            import boto3  # the bot and the agent ship boto3; the kernel itself does not need it

            self.idp = boto3.client("cognito-idp", region_name=self.region, endpoint_url=self.endpoint_url)
        return self.idp

    def _http(self) -> httpx.Client:
        if self.http is None:
            self.http = httpx.Client(timeout=10.0)
        return self.http

    def _fresh(self, issued: Issued | None) -> bool:
        return issued is not None and issued.expires_at - self.margin_s > self.clock()

    def actor_token(self) -> str:
        """This service's client-credentials access token, cached until shortly before it expires.

        Raises:
            TokenExchangeError: The token endpoint refused or could not be reached.
        """
        with self._actor_lock:
            if self._fresh(self._actor):
                assert self._actor is not None  # noqa: S101 - checked by _fresh
                return self._actor.token
            basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            try:
                response = self._http().post(
                    self.token_url,
                    data={"grant_type": "client_credentials"},
                    headers={"Authorization": f"Basic {basic}"},
                )
            except httpx.HTTPError as e:
                logger.warning("actor token unavailable", extra={"error": type(e).__name__})
                raise TokenExchangeError(
                    "Cognito could not be reached to pass your sign-in on. Try again in a minute."
                ) from e
            if response.status_code != 200:
                logger.error(
                    "actor token refused",
                    extra={"client_id": self.client_id, "status": response.status_code},
                )
                raise TokenExchangeError(
                    "CentralOps could not sign in to Cognito as itself, so your request cannot be passed on. "
                    "Tell your CentralOps administrators (the service's app client was refused)."
                )
            body = response.json()
            token = str(body["access_token"])
            self._actor = Issued(token, _expiry(token, self.clock() + float(body.get("expires_in", 0))))
            return token

    @staticmethod
    def _key(subject_token: str, subject_type: str) -> str:
        return hashlib.sha256(f"{subject_type}\x1f{subject_token}".encode()).hexdigest()

    def cached(self, subject_token: str, subject_type: str = "ACCESS_TOKEN") -> Issued | None:
        """The token already issued for exactly this subject token, if still fresh (no I/O: safe on an event loop)."""
        key = self._key(subject_token, subject_type)
        with self._lock:
            cached = self._issued.get(key)
            if cached is not None and self._fresh(cached):
                self._issued.move_to_end(key)
                return cached
        return None

    def exchange(self, subject_token: str, subject_type: str = "ACCESS_TOKEN") -> Issued:
        """A token for :attr:`audience` carrying the person of ``subject_token``, with this service as actor.

        Args:
            subject_token: The person's token (verified by the caller).
            subject_type: ``ACCESS_TOKEN`` or ``ID_TOKEN``.

        Raises:
            InvalidTokenError: Cognito refused the person's token (expired, revoked, user disabled).
            TokenExchangeError: Cognito could not be reached or refused this service.
        """
        cached = self.cached(subject_token, subject_type)
        if cached is not None:
            return cached
        key = self._key(subject_token, subject_type)
        issued = self._derive(subject_token, subject_type)
        with self._lock:
            self._issued[key] = issued
            while len(self._issued) > self.max_cached:
                self._issued.popitem(last=False)
        return issued

    def _derive(self, subject_token: str, subject_type: str) -> Issued:
        from botocore.exceptions import BotoCoreError, ClientError

        actor = self.actor_token()
        started = self.clock()
        try:
            result = self.client().get_derived_token(
                ClientId=self.client_id,
                ClientSecret=self.client_secret,
                SubjectToken=subject_token,
                SubjectTokenType=subject_type,
                ActorToken=actor,
                ActorTokenType="ACCESS_TOKEN",
                Resources=[self.audience],
                RequestedTokenType="ACCESS_TOKEN",
            )
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            logger.warning("token exchange refused", extra={"audience": self.audience, "error_code": code})
            if code in REFUSED_CODES and "secret" not in str(e).lower():
                raise InvalidTokenError(
                    "Your sign-in was not accepted for this step; sign in again (in chat: /aws login)."
                ) from e
            raise TokenExchangeError(
                f"Cognito could not pass your sign-in on right now ({code or 'error'}). Try again in a minute."
            ) from e
        except BotoCoreError as e:
            raise TokenExchangeError(
                "Cognito could not be reached to pass your sign-in on. Try again in a minute."
            ) from e
        self.calls += 1
        token = str(result["IssuedToken"])
        issued = Issued(token, _expiry(token, started + float(result.get("ExpiresIn") or 0)))
        logger.info("token exchanged", extra={"audience": self.audience})
        return issued


def client_secret(
    value: str | None,
    *,
    secret_arn: str | None,
    variable: str,
    region: str,
    endpoint_url: str | None = None,
) -> str:
    """A service's app-client secret: the value configured, else its Secrets Manager secret, read once.

    Each service's role may read only its own client's secret (``secretsmanager:GetSecretValue`` on
    that secret), never describe the pool's clients: so no service can read another's secret.

    Args:
        value: The secret itself (ECS injects it from Secrets Manager).
        secret_arn: The ARN of the Secrets Manager secret holding it.
        variable: The setting that names the ARN, for the error message.
        region: Region of the Secrets Manager client.
        endpoint_url: Its endpoint (moto locally).

    Raises:
        ConfigurationError: Neither is set, the secret could not be read, or it is empty.
    """
    if value:
        return value
    if not secret_arn:
        raise ConfigurationError(
            f"{variable} is not set: the service's client secret has nowhere to come from."
        )
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        secret = boto3.client(
            "secretsmanager", region_name=region, endpoint_url=endpoint_url
        ).get_secret_value(SecretId=secret_arn)
    except (BotoCoreError, ClientError) as e:
        raise ConfigurationError(
            f"The client secret in {secret_arn} could not be read ({type(e).__name__}); "
            "allow secretsmanager:GetSecretValue on that secret (and kms:Decrypt on its key)."
        ) from e
    if not secret.get("SecretString"):
        raise ConfigurationError(f"The secret {secret_arn} is empty; it must hold the app client's secret.")
    return str(secret["SecretString"])


def _expiry(token: str, fallback: float) -> float:
    """When the token expires: the earlier of its ``exp`` and ``fallback`` (0 when neither is known)."""
    try:
        exp = jwt.get_unverified_claims(token).get("exp")
    except JWTError:
        exp = None
    known = [float(v) for v in (exp, fallback) if isinstance(v, int | float) and v > 0]
    return min(known) if known else 0.0
