"""Time in the merchant's timezone: expiry resolution and ISO 8601 rendering.

Instants are stored as integer epoch seconds (lots) or milliseconds (ledger); they are shown
in the merchant's timezone with its offset, so a lot "expiring at 23:59:59" reads that way.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from store_credit.errors import InvalidInput

# The contract's default for a merchant's `timezone`; known here so that code reading the stored
# settings without building the settings model (the ledger stream consumer) agrees with it.
DEFAULT_TIMEZONE = "UTC"
END_OF_DAY = time(23, 59, 59)
MAX_EXPIRY_DAYS = 36_600  # a hundred years: beyond that "never" is what the merchant means
# What a caller may store as a date or instant. Python shows years 1 to 9999 only, and a stored
# instant is shown in the merchant's timezone (which may change later, up to 14 hours from
# UTC): anything closer to those edges would make every later read of the wallet fail.
EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(9999, 1, 1, tzinfo=UTC)
LATEST_DAY = date(9998, 12, 31)


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    # OSError: a folder of the tz database ("America") or a name too long for a file name is
    # no zone either, and must be the caller's 422, not an uncaught error.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput.on("timezone", f"{name!r} is not an IANA timezone such as Europe/Paris") from None


def epoch_seconds_up(instant: datetime) -> int:
    """An aware instant as epoch seconds, a fraction rounded up: credit "valid from 10:00:00.5"
    is not spendable at 10:00:00 (integer arithmetic, no float on the way)."""
    return -((EARLIEST_INSTANT - instant) // timedelta(seconds=1))


def iso(epoch_seconds: int | float, tz_name: str) -> str:
    return datetime.fromtimestamp(epoch_seconds, zone(tz_name)).isoformat()


def iso_ms(epoch_ms: int, tz_name: str) -> str:
    stamp = datetime.fromtimestamp(epoch_ms // 1000, zone(tz_name)).replace(microsecond=(epoch_ms % 1000) * 1000)
    return stamp.isoformat(timespec="milliseconds")


def end_of_local_day(day: date, tz_name: str) -> int:
    """The last second of ``day`` in the merchant's timezone (23:59:59), as epoch seconds.

    Where clocks go back at midnight (Africa/Cairo, Asia/Beirut, America/Santiago) 23:59:59
    happens twice: the day ends at the second one, not an hour early. Where they jump from 23:00
    to 00:00 (America/Nuuk) it never happens: the day ends just before the jump, not an hour
    into the next day."""
    tz = zone(tz_name)
    wall = datetime.combine(day, END_OF_DAY)
    instants = [int(wall.replace(tzinfo=tz, fold=fold).timestamp()) for fold in (0, 1)]
    real = [t for t in instants if datetime.fromtimestamp(t, tz).replace(tzinfo=None) == wall]
    # In a gap, the earlier reading (the offset after the jump) is the last second before it.
    return max(real) if real else min(instants)


def resolve_expiry(
    never: bool | None,
    days: int | None,
    on: date | None,
    *,
    issued_at: int,
    tz_name: str,
    field: str = "expires",
) -> int | None:
    """Turn an expiry form into epoch seconds, or None for credit that never expires.

    ``days``: 23:59:59 merchant time on the Nth day after the local issue date.
    ``on``: 23:59:59 merchant time on that date, which must not be in the past.
    """
    if never:
        return None
    if days is not None:
        local_issue_day = datetime.fromtimestamp(issued_at, zone(tz_name)).date()
        return end_of_local_day(local_issue_day + timedelta(days=days), tz_name)
    if on is not None:
        expires_at = end_of_local_day(on, tz_name)
        if expires_at <= issued_at:
            raise InvalidInput.on(f"{field}.on", f"{on.isoformat()} has already ended in {tz_name}")
        return expires_at
    return None


def local_day(epoch_ms: int, tz_name: str) -> str:
    """The day (YYYY-MM-DD) an instant falls on in the merchant's timezone."""
    return datetime.fromtimestamp(epoch_ms // 1000, zone(tz_name)).date().isoformat()
