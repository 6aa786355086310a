"""Expiry forms resolve to 23:59:59 in the merchant's timezone, fixed when credit is issued."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from store_credit.clock import iso, resolve_expiry
from store_credit.errors import InvalidInput


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


@pytest.mark.parametrize(
    ("issued", "tz", "days", "expected"),
    [
        # 23:30 UTC on 1 Mar is already 2 Mar in Taipei: the 30th day counts from the local date.
        ("2026-03-01T23:30:00+00:00", "Asia/Taipei", 30, "2026-04-01T23:59:59+08:00"),
        ("2026-03-01T23:30:00+00:00", "UTC", 30, "2026-03-31T23:59:59+00:00"),
        # Across the US spring-forward (8 Mar 2026): local 23:59:59 keeps its wall-clock time.
        ("2026-03-01T12:00:00+00:00", "America/New_York", 10, "2026-03-11T23:59:59-04:00"),
        ("2026-03-01T12:00:00+00:00", "America/New_York", 1, "2026-03-02T23:59:59-05:00"),
    ],
)
def test_days_form_ends_at_local_midnight_of_the_nth_day(issued: str, tz: str, days: int, expected: str) -> None:
    expires_at = resolve_expiry(None, days, None, issued_at=epoch(issued), tz_name=tz)
    assert expires_at is not None
    assert iso(expires_at, tz) == expected


def test_on_form_is_the_end_of_that_local_day() -> None:
    expires_at = resolve_expiry(
        None, None, date(2026, 12, 31), issued_at=epoch("2026-11-22T10:00:00+00:00"), tz_name="Asia/Taipei"
    )
    assert expires_at == epoch("2026-12-31T23:59:59+08:00")
    assert datetime.fromtimestamp(expires_at, UTC).isoformat() == "2026-12-31T15:59:59+00:00"


def test_on_form_in_the_past_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        resolve_expiry(None, None, date(2026, 11, 21), issued_at=epoch("2026-11-22T10:00:00+00:00"), tz_name="UTC")
    assert refused.value.errors[0].field == "expires.on"


def test_on_today_is_still_valid_until_local_midnight() -> None:
    issued = epoch("2026-11-22T15:00:00+00:00")  # 23:00 in Taipei
    assert resolve_expiry(None, None, date(2026, 11, 22), issued_at=issued, tz_name="Asia/Taipei") == epoch(
        "2026-11-22T23:59:59+08:00"
    )


def test_never_and_nothing_mean_no_expiry() -> None:
    assert resolve_expiry(True, None, None, issued_at=0, tz_name="UTC") is None
    assert resolve_expiry(None, None, None, issued_at=0, tz_name="UTC") is None


@pytest.mark.parametrize(
    ("tz", "day", "expected"),
    [
        # Clocks go back at midnight: 23:00-23:59:59 happens twice. The day ends at the second
        # 23:59:59, not an hour before (a customer at 23:30, second pass, still has the day).
        ("Africa/Cairo", date(2026, 10, 29), "2026-10-29T23:59:59+02:00"),
        ("Asia/Beirut", date(2026, 10, 24), "2026-10-24T23:59:59+02:00"),
        ("America/Santiago", date(2026, 4, 4), "2026-04-04T23:59:59-04:00"),
        # Clocks jump from 23:00 to 00:00: 23:59:59 never happens on that day. The day ends
        # just before the jump, not an hour into the next day.
        ("America/Nuuk", date(2026, 3, 28), "2026-03-28T22:59:59-02:00"),
    ],
)
def test_the_end_of_a_day_whose_last_hour_is_repeated_or_skipped_is_its_last_second(
    tz: str, day: date, expected: str
) -> None:
    # Given credit expiring on a day whose last hour the clocks change
    expires_at = resolve_expiry(None, None, day, issued_at=epoch("2026-01-01T00:00:00+00:00"), tz_name=tz)

    # Then it expires at the last second of that local day
    assert expires_at is not None
    assert iso(expires_at, tz) == expected
    assert iso(expires_at + 1, tz)[:10] > day.isoformat()  # the next second is the next day
