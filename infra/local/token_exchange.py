"""The local stand-in of Cognito's token exchange (``GetDerivedToken``) and client-credentials grant.

moto 5.2 implements neither, so the local Cognito stand-in serves them on top
of moto's user pool, the way Amazon Cognito documents them:

- ``GetDerivedToken`` over the AWS JSON 1.1 protocol
  (``X-Amz-Target: AWSCognitoIdentityProviderService.GetDerivedToken``), so a
  real boto3 ``cognito-idp`` client pointed at the stand-in calls it, and the
  same exchange through ``/oauth2/token`` with the RFC 8693 token-exchange grant;
- ``grant_type=client_credentials`` at ``/oauth2/token``: the access token of
  a confidential app client, the actor token of an exchange.

Every token is checked before anything is issued: its RS256 signature against
the JWKS moto serves, ``iss``, ``exp``, ``token_use`` and the app client that
received it; the subject must be an enabled user of the pool. Issued tokens
are signed with moto's own key (same ``kid``), so every hop verifies them
exactly as it verifies moto's tokens. Refusals carry Cognito's error codes.

Where the stand-in is stricter than, or differs from, Cognito is listed in
``docs/identity.md`` (token exchange).
"""

import gzip
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import boto3
from botocore.exceptions import ClientError
from jose import jwk, jwt

from centralops.errors import InvalidTokenError
from centralops.tokens import CognitoVerifier, cognito_issuer

logger = logging.getLogger("centralops.local.token_exchange")

TARGET_PREFIX = "AWSCognitoIdentityProviderService."
DELEGATION = "ALLOW_TOKEN_EXCHANGE_DELEGATION"
IMPERSONATION = "ALLOW_TOKEN_EXCHANGE_IMPERSONATION"
TOKEN_USE = {"ACCESS_TOKEN": "access", "ID_TOKEN": "id"}
EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
URN_TYPES = {
    "urn:ietf:params:oauth:token-type:access_token": "ACCESS_TOKEN",
    "urn:ietf:params:oauth:token-type:id_token": "ID_TOKEN",
    "urn:ietf:params:oauth:token-type:saml2": "SAML2",
}
TIERS_WITH_EXCHANGE = {"ESSENTIALS", "PLUS"}
_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


class CognitoError(Exception):
    """A refusal in Cognito's words: an error code (``NotAuthorizedException``...) and a message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _moto_signing_key() -> dict[str, Any]:
    raw = resources.files("moto.cognitoidp").joinpath("resources/jwks-private.json.gz").read_bytes()
    key: dict[str, Any] = json.loads(gzip.decompress(raw))
    return key


def _access_validity_s(client: dict[str, Any]) -> int:
    """The app client's access-token validity in seconds (Cognito's default: one hour)."""
    value = client.get("AccessTokenValidity")
    if not value:
        return 3600
    unit = (client.get("TokenValidityUnits") or {}).get("AccessToken", "hours")
    return int(value) * _SECONDS.get(unit, 3600)


@dataclass
class TokenService:
    """Client credentials and token exchange for one user pool in moto.

    Args:
        moto_url: The moto server (its Cognito API and JWKS).
        user_pool_id: The pool whose clients and users take part.
        region: The pool's region.
        idp: A ``cognito-idp`` client of moto (created on first use when omitted).
        clock: Epoch seconds (tests move it).
    """

    moto_url: str
    user_pool_id: str
    region: str = "us-east-1"
    idp: Any | None = None
    clock: Any = time.time
    config_ttl_s: float = 30.0
    _key: dict[str, Any] = field(default_factory=_moto_signing_key, init=False, repr=False)
    _signer: Any = field(default=None, init=False, repr=False)
    _config: dict[tuple[str, str], tuple[float, Any]] = field(default_factory=dict, init=False, repr=False)
    _verifier: CognitoVerifier = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._verifier = CognitoVerifier(
            issuer=self.issuer,
            audience="",  # decode() checks signature, issuer and expiry; audiences are checked here
            jwks_url=f"{self.moto_url}/{self.user_pool_id}/.well-known/jwks.json",
            leeway_s=0,
        )

    @property
    def issuer(self) -> str:
        """The ``iss`` of the pool's tokens."""
        return cognito_issuer(self.region, self.user_pool_id)

    def client(self) -> Any:
        """The moto ``cognito-idp`` client, created on first use."""
        if self.idp is None:
            self.idp = boto3.client("cognito-idp", endpoint_url=self.moto_url, region_name=self.region)
        return self.idp

    # --- the pool's configuration, read from moto -------------------------------------------------

    def _remembered(self, kind: str, name: str, load: Any) -> Any:
        """The pool's configuration (clients, plan, resource servers), read from moto at most every 30 s.

        Users and their groups are never cached: a disabled user is refused at once.
        """
        now = time.monotonic()
        hit = self._config.get((kind, name))
        if hit is not None and now - hit[0] < self.config_ttl_s:
            return hit[1]
        value = load()
        self._config[(kind, name)] = (now, value)
        return value

    def _app_client(self, client_id: str) -> dict[str, Any] | None:
        if not client_id:
            return None

        def load() -> dict[str, Any] | None:
            try:
                described = self.client().describe_user_pool_client(
                    UserPoolId=self.user_pool_id, ClientId=client_id
                )
            except ClientError:
                return None
            app: dict[str, Any] = described["UserPoolClient"]
            return app

        app: dict[str, Any] | None = self._remembered("client", client_id, load)
        return app

    def _authenticate(self, client_id: str, client_secret: str | None) -> dict[str, Any]:
        app = self._app_client(client_id)
        if app is None:
            raise CognitoError("ResourceNotFoundException", f"User pool client {client_id} does not exist.")
        expected = app.get("ClientSecret")
        if expected and not client_secret:
            raise CognitoError(
                "NotAuthorizedException",
                f"Client {client_id} is configured with secret but none was received.",
            )
        if expected and not hmac.compare_digest(str(expected), str(client_secret)):
            raise CognitoError("NotAuthorizedException", f"Unable to verify secret for client {client_id}.")
        if not expected and client_secret:
            raise CognitoError("NotAuthorizedException", f"Client {client_id} has no secret.")
        return app

    def _resource_exists(self, identifier: str) -> bool:
        def load() -> bool:
            try:
                self.client().describe_resource_server(UserPoolId=self.user_pool_id, Identifier=identifier)
            except ClientError:
                return False
            return True

        return bool(self._remembered("resource", identifier, load))

    def _tier(self) -> str:
        def load() -> str:
            pool = self.client().describe_user_pool(UserPoolId=self.user_pool_id)["UserPool"]
            return str(pool.get("UserPoolTier") or "ESSENTIALS")

        return str(self._remembered("pool", self.user_pool_id, load))

    def _sign(self, claims: dict[str, Any]) -> str:
        if self._signer is None:
            # Built once: from a JWK without primes the RSA key takes about 100 ms to rebuild.
            self._signer = jwk.construct(self._key, "RS256").prepared_key
        headers = {"kid": str(self._key.get("kid", "dummy"))}
        return str(jwt.encode(claims, self._signer, algorithm="RS256", headers=headers))

    # --- client credentials ----------------------------------------------------------------------

    def client_credentials(
        self, client_id: str, client_secret: str | None, scope: str = ""
    ) -> dict[str, Any]:
        """``/oauth2/token`` with ``grant_type=client_credentials``: the app client's own access token.

        Returns:
            The token endpoint's JSON body.

        Raises:
            CognitoError: ``invalid_client``, ``unauthorized_client`` or ``invalid_scope``.
        """
        try:
            app = self._authenticate(client_id, client_secret)
        except CognitoError as e:
            raise CognitoError("invalid_client", e.message, 401) from e
        if not app.get("ClientSecret"):
            raise CognitoError("invalid_client", "Client credentials need a client with a secret.", 401)
        if "client_credentials" not in (app.get("AllowedOAuthFlows") or []) or not app.get(
            "AllowedOAuthFlowsUserPoolClient"
        ):
            raise CognitoError("unauthorized_client", "The client may not use client credentials.")
        allowed = [s for s in app.get("AllowedOAuthScopes") or [] if "/" in s]  # custom scopes only
        requested = scope.split() or allowed
        if not requested or any(s not in allowed for s in requested):
            raise CognitoError("invalid_scope", "A requested scope is not allowed for this client.")
        now = int(self.clock())
        validity = _access_validity_s(app)
        claims = {
            "sub": client_id,
            "token_use": "access",
            "scope": " ".join(requested),
            "auth_time": now,
            "iss": self.issuer,
            "exp": now + validity,
            "iat": now,
            "version": 2,
            "jti": str(uuid.uuid4()),
            "client_id": client_id,
        }
        logger.info("client credentials issued", extra={"client_id": client_id})
        return {"access_token": self._sign(claims), "expires_in": validity, "token_type": "Bearer"}

    # --- token exchange ---------------------------------------------------------------------------

    def _verified(self, token: str, token_type: str, role: str) -> dict[str, Any]:
        """Claims of a subject or actor token, or a ``NotAuthorizedException``."""
        if token_type not in TOKEN_USE:
            raise CognitoError(
                "InvalidParameterException",
                f"{role.capitalize()}TokenType {token_type!r} is not supported here: use ACCESS_TOKEN or ID_TOKEN.",
            )
        try:
            claims = self._verifier.decode(token)
        except InvalidTokenError as e:
            raise CognitoError("NotAuthorizedException", f"Invalid {role} token: {e.message}") from e
        if claims.get("token_use") != TOKEN_USE[token_type]:
            raise CognitoError("NotAuthorizedException", f"The {role} token is not an {token_type}.")
        received_by = claims.get("aud") if token_type == "ID_TOKEN" else claims.get("client_id")  # noqa: S105
        if not isinstance(received_by, str) or self._app_client(received_by) is None:
            raise CognitoError(
                "NotAuthorizedException", f"The {role} token was not issued to a client of this pool."
            )
        return claims

    def _user(self, claims: dict[str, Any]) -> dict[str, Any]:
        """The subject's user record: it must still exist, be enabled and have the token's ``sub``."""
        username = claims.get("cognito:username") or claims.get("username")
        if not isinstance(username, str) or not username or username == claims.get("client_id"):
            raise CognitoError("NotAuthorizedException", "The subject token does not represent a user.")
        try:
            user: dict[str, Any] = self.client().admin_get_user(
                UserPoolId=self.user_pool_id, Username=username
            )
        except ClientError as e:
            raise CognitoError("UserNotFoundException", "User does not exist.") from e
        attributes = {a["Name"]: a["Value"] for a in user.get("UserAttributes", [])}
        if attributes.get("sub", claims.get("sub")) != claims.get("sub"):
            raise CognitoError("NotAuthorizedException", "The subject token belongs to a deleted user.")
        if not user.get("Enabled", True):
            raise CognitoError("NotAuthorizedException", "User is disabled.")
        user["Attributes"] = attributes
        return user

    def _groups(self, username: str) -> list[str]:
        groups = self.client().admin_list_groups_for_user(UserPoolId=self.user_pool_id, Username=username)
        return [g["GroupName"] for g in groups.get("Groups", [])]

    def get_derived_token(self, request: dict[str, Any]) -> dict[str, Any]:
        """``GetDerivedToken``: a token for one audience, naming the actor in ``act``.

        Args:
            request: The operation's input (``ClientId``, ``SubjectToken``, ``ActorToken``...).

        Returns:
            The operation's output (``IssuedToken``, ``IssuedTokenType``, ``TokenType``, ``ExpiresIn``, ``Scopes``).

        Raises:
            CognitoError: With Cognito's error code.
        """
        for name in ("ClientId", "SubjectToken", "SubjectTokenType"):
            if not isinstance(request.get(name), str) or not request[name]:
                raise CognitoError("InvalidParameterException", f"{name} is required.")
        client_id = str(request["ClientId"])
        app = self._authenticate(client_id, request.get("ClientSecret"))
        if self._tier() not in TIERS_WITH_EXCHANGE:
            raise CognitoError(
                "OperationNotEnabledException", "Token exchange needs the Essentials or Plus feature plan."
            )
        actor_token = request.get("ActorToken")
        flow = DELEGATION if actor_token else IMPERSONATION
        if flow not in (app.get("ExplicitAuthFlows") or []):
            raise CognitoError("InvalidParameterException", f"{flow} is not enabled for this client.")
        if request.get("SubjectTokenProviderName") or request.get("ActorTokenProviderName"):
            raise CognitoError(
                "InvalidParameterException", "Only tokens of this user pool can be exchanged here."
            )
        audiences, resources_ = request.get("Audiences") or [], request.get("Resources") or []
        if audiences and resources_:
            raise CognitoError("InvalidParameterException", "Request Audiences or Resources, not both.")
        target = list(audiences or resources_)
        if len(target) > 1:
            raise CognitoError("InvalidParameterException", "An issued token is bound to one audience.")
        if resources_ and not self._resource_exists(resources_[0]):
            raise CognitoError(
                "InvalidParameterException", f"Resource {resources_[0]!r} is not in this pool."
            )
        requested_type = request.get("RequestedTokenType") or "ACCESS_TOKEN"
        if requested_type != "ACCESS_TOKEN":
            raise CognitoError(
                "InvalidParameterException",
                "The local stand-in issues access tokens only (RequestedTokenType).",
            )

        subject = self._verified(str(request["SubjectToken"]), str(request["SubjectTokenType"]), "subject")
        user = self._user(subject)
        act: dict[str, Any] | None = None
        if actor_token:
            if not request.get("ActorTokenType"):
                raise CognitoError("InvalidParameterException", "ActorTokenType is required with ActorToken.")
            actor = self._verified(str(actor_token), str(request["ActorTokenType"]), "actor")
            acting_client = actor.get("client_id") or actor.get("aud")
            if acting_client != client_id:
                raise CognitoError(
                    "NotAuthorizedException",
                    "The actor token must belong to the client that requests the exchange.",
                )
            act = {"sub": str(actor["sub"])}
            if isinstance(subject.get("act"), dict):
                act["act"] = subject["act"]  # RFC 8693 4.1: earlier actors nest inside the current one

        subject_scopes = str(subject.get("scope") or "").split()
        allowed = set(app.get("AllowedOAuthScopes") or [])
        requested_scopes = request.get("Scopes") or []
        scopes = (
            [s for s in requested_scopes if s in subject_scopes and s in allowed]
            if requested_scopes
            else subject_scopes
        )

        now = int(self.clock())
        exp = min(now + _access_validity_s(app), int(subject["exp"]))  # never outlives the subject token
        # The username as the pool writes it into tokens (in email-username pools: the user's immutable id).
        username = str(subject.get("cognito:username") or subject.get("username"))
        attributes = user["Attributes"]
        claims: dict[str, Any] = {
            "sub": str(subject["sub"]),
            "iss": self.issuer,
            "client_id": client_id,
            "origin_jti": subject.get("origin_jti") or subject.get("jti"),
            "token_use": "access",
            "auth_time": int(subject.get("auth_time") or now),
            "iat": now,
            "exp": exp,
            "jti": str(uuid.uuid4()),
            "username": username,
            "version": 2,
        }
        if target:
            claims["aud"] = target[0]
        if scopes:
            claims["scope"] = " ".join(scopes)
        groups = self._groups(str(user["Username"]))
        if groups:
            claims["cognito:groups"] = groups
        # What the pool's pre token generation trigger adds to access tokens in AWS (infra/stacks/cognito.py).
        if "email" in attributes:
            claims["email"] = attributes["email"]
            claims["email_verified"] = attributes.get("email_verified", "false").lower() == "true"
        if act is not None:
            claims["act"] = act
        logger.info(
            "token exchanged",
            extra={"client_id": client_id, "audience": target[0] if target else None, "delegated": bool(act)},
        )
        result: dict[str, Any] = {
            "IssuedToken": self._sign(claims),
            "IssuedTokenType": "ACCESS_TOKEN",
            "TokenType": "Bearer",
            "ExpiresIn": max(0, exp - now),
        }
        if scopes:
            result["Scopes"] = scopes
        return result

    def token_exchange_grant(
        self, form: dict[str, str], client_id: str, client_secret: str | None
    ) -> dict[str, Any]:
        """``/oauth2/token`` with the RFC 8693 token-exchange grant: the same exchange, OAuth-shaped.

        Raises:
            CognitoError: With the OAuth error (``invalid_grant``, ``invalid_request``, ``invalid_client``).
        """
        request: dict[str, Any] = {
            "ClientId": client_id,
            "ClientSecret": client_secret,
            "SubjectToken": form.get("subject_token", ""),
            "SubjectTokenType": URN_TYPES.get(form.get("subject_token_type", ""), ""),
            "RequestedTokenType": URN_TYPES.get(
                form.get("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"), "?"
            ),
        }
        if form.get("actor_token"):
            request["ActorToken"] = form["actor_token"]
            request["ActorTokenType"] = URN_TYPES.get(form.get("actor_token_type", ""), "")
        if form.get("audience"):
            request["Audiences"] = [form["audience"]]
        if form.get("resource"):
            request["Resources"] = [form["resource"]]
        if form.get("scope"):
            request["Scopes"] = form["scope"].split()
        try:
            result = self.get_derived_token(request)
        except CognitoError as e:
            oauth = {
                "NotAuthorizedException": ("invalid_grant", 400),
                "UserNotFoundException": ("invalid_grant", 400),
                "ResourceNotFoundException": ("invalid_client", 401),
            }.get(e.code, ("invalid_request", 400))
            if e.code == "NotAuthorizedException" and "secret" in e.message:
                oauth = ("invalid_client", 401)
            raise CognitoError(oauth[0], e.message, oauth[1]) from e
        body = {
            "access_token": result["IssuedToken"],
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": result["ExpiresIn"],
        }
        if result.get("Scopes"):
            body["scope"] = " ".join(result["Scopes"])
        return body
