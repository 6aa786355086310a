"""Money: integer minor units inside, decimal strings outside. No floats, ever."""

from __future__ import annotations

import re

from store_credit.currencies import MINOR_UNIT_EXPONENTS
from store_credit.errors import InvalidInput

# 15 digits of minor units: large enough for any real store credit (10^13 USD), small enough
# that JavaScript clients reading the number never lose precision (2^53 ≈ 9.007 × 10^15).
MAX_MINOR = 10**15 - 1

_DECIMAL = re.compile(r"(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?")


def exponent(currency: str) -> int:
    """Number of decimals the currency has (ISO 4217): JPY 0, USD 2, KWD 3."""
    try:
        return MINOR_UNIT_EXPONENTS[currency]
    except (KeyError, TypeError):
        raise InvalidInput.on("currency", f"unknown currency {currency!r}; use an ISO 4217 code such as USD") from None


def parse_minor(
    text: object,
    currency: str,
    *,
    field: str = "amount",
    allow_zero: bool = False,
    allow_negative: bool = False,
) -> int:
    """Parse a decimal string such as ``"12.34"`` into minor units of ``currency``."""
    digits = exponent(currency)
    if not isinstance(text, str):
        raise InvalidInput.on(field, 'must be a decimal string such as "12.34", not a JSON number')
    match = _DECIMAL.fullmatch(text) if len(text) <= 40 else None
    if match is None:
        raise InvalidInput.on(field, f'{text!r} is not a decimal string such as "12.34"')
    sign, whole, fraction = match.group(1), match.group(2), match.group(3) or ""
    if len(fraction) > digits:
        raise InvalidInput.on(field, f"{currency} takes at most {digits} decimals, got {len(fraction)}")
    minor = int(whole) * 10**digits + int(fraction.ljust(digits, "0") or "0")
    if sign:
        minor = -minor
    if minor > MAX_MINOR or minor < -MAX_MINOR:
        raise InvalidInput.on(field, f"{text} {currency} is larger than this service accepts")
    if minor == 0 and not allow_zero:
        raise InvalidInput.on(field, "must be greater than zero")
    if minor < 0 and not allow_negative:
        raise InvalidInput.on(field, "must not be negative")
    return minor


def format_minor(minor: int, currency: str) -> str:
    """Render minor units as the currency's decimal string: 1234 USD → ``"12.34"``."""
    digits = exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**digits)
    return f"{sign}{whole}.{fraction:0{digits}d}" if digits else f"{sign}{whole}"


def money_json(minor: int, currency: str) -> dict[str, str]:
    return {"amount": format_minor(minor, currency), "currency": currency}
