"""Cognito pre token generation trigger (event version 2): the person's email in access tokens.

Token exchange issues access tokens, and Cognito's access tokens carry no
email. Every hop derives the person from its token (the verified email, else
the username), so this trigger adds ``email`` and ``email_verified`` (a
boolean) to access tokens, including those ``GetDerivedToken`` issues. ID
tokens already carry both and are left alone.
"""

from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Add the user's email and whether it is verified to the access token."""
    attributes = (event.get("request") or {}).get("userAttributes") or {}
    claims: dict[str, Any] = {}
    email = attributes.get("email")
    if isinstance(email, str) and email:
        claims["email"] = email
        claims["email_verified"] = str(attributes.get("email_verified", "false")).lower() == "true"
    response = event.setdefault("response", {})
    details = response.get("claimsAndScopeOverrideDetails") or {}
    details.setdefault("accessTokenGeneration", {})["claimsToAddOrOverride"] = claims
    response["claimsAndScopeOverrideDetails"] = details
    return event
