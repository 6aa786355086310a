"""Identifiers: time-ordered ledger entry ids (ULID layout, Crockford base32)."""

from __future__ import annotations

import secrets

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(epoch_ms: int) -> str:
    """48 bits of milliseconds then 80 random bits: sorts by time, unique without coordination."""
    value = (epoch_ms << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_CROCKFORD[index])
    return "".join(reversed(chars))
