"""API keys: stored only as SHA-256 digests, mapped to one merchant and its scopes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from store_credit.errors import Forbidden, Unauthorized

SCOPES = ("credits:write", "credits:read", "checkout", "imports", "settings")


def hash_api_key(api_key: str) -> str:
    # Keys are 190+ bits of randomness, so a fast digest is enough: there is nothing to
    # brute-force, and the authorizer runs on every request.
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key(prefix: str = "sk_live") -> str:
    return f"{prefix}_{secrets.token_urlsafe(24)}"


def new_webhook_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(24)}"


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the authorizer established it. The merchant never comes from the body."""

    merchant_id: str
    scopes: frozenset[str]
    key_id: str

    @property
    def actor(self) -> str:
        return f"api_key:{self.key_id}"

    def require(self, scope: str) -> Caller:
        if scope not in self.scopes:
            raise Forbidden(detail=f"this API key lacks the {scope!r} scope")
        return self

    @classmethod
    def from_authorizer_context(cls, context: dict[str, object] | None) -> Caller:
        if not context or not context.get("merchant_id"):
            raise Unauthorized(detail="no authorizer context on the request")
        return cls(
            merchant_id=str(context["merchant_id"]),
            scopes=frozenset(str(context.get("scopes", "")).split()),
            key_id=str(context.get("key_id", "")),
        )

    def authorizer_context(self) -> dict[str, str]:
        return {"merchant_id": self.merchant_id, "scopes": " ".join(sorted(self.scopes)), "key_id": self.key_id}


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(authorization: str | None) -> Caller | None:
    """The caller behind an ``Authorization: Bearer`` header, or None (→ 401/403 at the gateway)."""
    from store_credit import wallet_store

    token = bearer_token(authorization)
    # Issued keys are URL-safe base64 (ASCII); anything else is no key, and a lone surrogate
    # would make hashing it raise (UnicodeEncodeError) and the authorizer fail with a 500.
    if token is None or len(token) > 200 or not token.isascii():
        return None
    record = wallet_store.find_api_key(hash_api_key(token))
    if record is None or record["revoked"]:
        return None
    return Caller(merchant_id=record["merchant_id"], scopes=frozenset(record["scopes"]), key_id=record["key_id"])
