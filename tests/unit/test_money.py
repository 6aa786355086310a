"""Money parsing and formatting: integer minor units inside, decimal strings outside."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store_credit.errors import InvalidInput
from store_credit.money import MAX_MINOR, format_minor, parse_minor


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.34", "USD", 1234),
        ("12", "USD", 1200),
        ("12.3", "USD", 1230),
        ("0.01", "USD", 1),
        ("1500", "JPY", 1500),
        ("1.234", "KWD", 1234),
        ("0.5", "KWD", 500),
    ],
)
def test_parses_each_currencys_own_decimals(text: str, currency: str, minor: int) -> None:
    assert parse_minor(text, currency) == minor


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [(1234, "USD", "12.34"), (5, "USD", "0.05"), (-500, "USD", "-5.00"), (1500, "JPY", "1500"), (1234, "KWD", "1.234")],
)
def test_formats_with_exactly_the_currencys_decimals(minor: int, currency: str, text: str) -> None:
    assert format_minor(minor, currency) == text


@pytest.mark.parametrize(
    ("value", "currency", "complaint"),
    [
        (12.34, "USD", "not a JSON number"),
        (12, "USD", "not a JSON number"),
        ("12.345", "USD", "at most 2 decimals"),
        ("100.0", "JPY", "at most 0 decimals"),
        ("1.2345", "KWD", "at most 3 decimals"),
        ("0", "USD", "greater than zero"),
        ("0.00", "USD", "greater than zero"),
        ("-5.00", "USD", "must not be negative"),
        ("1e3", "USD", "not a decimal string"),
        ("+5", "USD", "not a decimal string"),
        (" 5", "USD", "not a decimal string"),
        ("5.", "USD", "not a decimal string"),
        (".5", "USD", "not a decimal string"),
        ("NaN", "USD", "not a decimal string"),
        ("10000000000000.00", "USD", "larger than this service accepts"),
        ("9" * 41, "USD", "not a decimal string"),
        ("5.00", "ABC", "unknown currency"),
        ("5.00", "usd", "unknown currency"),
    ],
)
def test_rejects_what_is_not_money(value: object, currency: str, complaint: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_minor(value, currency)
    assert complaint in refused.value.errors[0].message


def test_negative_and_zero_only_where_allowed() -> None:
    assert parse_minor("-5.00", "USD", allow_negative=True) == -500
    assert parse_minor("0", "USD", allow_zero=True) == 0


def test_largest_amount_is_exact_in_a_javascript_number() -> None:
    assert MAX_MINOR < 2**53
    assert parse_minor("9999999999999.99", "USD") == MAX_MINOR


@given(
    minor=st.integers(min_value=-MAX_MINOR, max_value=MAX_MINOR).filter(bool),
    currency=st.sampled_from(["USD", "JPY", "KWD", "EUR", "CLF", "BHD"]),
)
def test_format_then_parse_is_the_identity(minor: int, currency: str) -> None:
    assert parse_minor(format_minor(minor, currency), currency, allow_negative=True) == minor
