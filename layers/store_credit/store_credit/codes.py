"""Store-credit codes: each code is a wallet of its own, spent at checkout by whoever holds it.

A code is ``prefix + 16 random letters and digits + suffix``: 62^16 ≈ 2^95 possibilities,
drawn with ``secrets``, case-sensitive. Guessing one is bounded by the API's rate limits long
before it could succeed, and a wrong code and another merchant's code look the same (404).
"""

from __future__ import annotations

import secrets
import string

ALPHABET = string.ascii_letters + string.digits
RANDOM_LENGTH = 16
# Wallet holders that are codes carry this mark, which customer ids cannot contain (their
# pattern excludes it), so a code's wallet can never be a customer's.
CODE_MARK = "~"


def new_code(prefix: str = "", suffix: str = "") -> str:
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH)) + suffix


def holder_of(code: str) -> str:
    return CODE_MARK + code


def code_of(holder: str) -> str | None:
    return holder[1:] if holder.startswith(CODE_MARK) else None
