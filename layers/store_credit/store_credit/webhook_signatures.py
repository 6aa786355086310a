"""Order-webhook signatures: ``X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw
body>">``, with the merchant's secret, or the previous one during a rotation's grace period."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

TOLERANCE_SECONDS = 300
ROTATION_GRACE_SECONDS = 24 * 3600


class BadSignature(Exception):
    """Missing, malformed, stale or wrong: the webhook answers 401 and writes nothing."""


def sign(secret: str, timestamp: int, raw_body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw_body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(header: str | None, raw_body: bytes, secrets: Sequence[str], now: int) -> int:
    """Check the header against each accepted secret in constant time; returns its timestamp."""
    if not header:
        raise BadSignature("missing X-Signature")
    parts: dict[str, list[str]] = {}
    for piece in header.split(","):
        key, _, value = piece.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise BadSignature("X-Signature has no t=<unix seconds>") from None
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise BadSignature("X-Signature is older than 5 minutes (or from the future)")
    # compare_digest refuses str with non-ASCII characters (TypeError); a hex digest has none,
    # so such a candidate is simply wrong, not a reason to fail.
    offered = [candidate for candidate in parts.get("v1", []) if candidate.isascii()]
    for secret in secrets:
        expected = sign(secret, timestamp, raw_body).split("v1=", 1)[1]
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return timestamp
    raise BadSignature("X-Signature does not match")


def accepted_secrets(current: str | None, previous: str | None, rotated_at: int | None, now: int) -> list[str]:
    """The current secret, and the previous one for a day after a rotation."""
    secrets = [current] if current else []
    if previous and rotated_at is not None and now - rotated_at <= ROTATION_GRACE_SECONDS:
        secrets.append(previous)
    return secrets
