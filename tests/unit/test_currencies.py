"""The generated exponent table must match the iso4217 package it was generated from."""

from __future__ import annotations

from store_credit.currencies import ISO4217_PUBLISHED, MINOR_UNIT_EXPONENTS
from tests.harness.generate_currencies import exponents_from_iso4217


def test_generated_table_matches_iso4217_package() -> None:
    # When this fails after bumping iso4217: run `make currencies` and commit the result.
    import iso4217

    assert f"{iso4217.__published__:%Y-%m-%d}" == ISO4217_PUBLISHED
    assert exponents_from_iso4217() == MINOR_UNIT_EXPONENTS


def test_the_contracts_examples() -> None:
    assert (MINOR_UNIT_EXPONENTS["JPY"], MINOR_UNIT_EXPONENTS["USD"], MINOR_UNIT_EXPONENTS["KWD"]) == (0, 2, 3)


def test_non_currencies_are_not_accepted() -> None:
    # Gold, testing code and "no currency" have no minor unit in ISO 4217.
    assert not {"XAU", "XTS", "XXX"} & MINOR_UNIT_EXPONENTS.keys()
