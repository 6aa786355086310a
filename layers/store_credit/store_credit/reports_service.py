"""The liability report: what the merchant owes in store credit, from counters the ledger
stream keeps current (no Scan, whatever the size of the table)."""

from __future__ import annotations

import re
import time
from datetime import date, datetime
from typing import Any

from store_credit import wallet_store
from store_credit.auth import Caller
from store_credit.clock import iso, zone
from store_credit.errors import InvalidInput
from store_credit.money import exponent, money_json
from store_credit.wallet_service import settings_of

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _day(value: str | None, field: str, default: date) -> date:
    if value is None:
        return default
    try:
        # fromisoformat also reads "20260101" and "2026-W01" (Python 3.11+): the API says YYYY-MM-DD.
        if not _DAY.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput.on(field, "must be a date such as 2026-11-30") from None


def liability(caller: Caller, currency: str, first: str | None, last: str | None) -> dict[str, Any]:
    exponent(currency)
    timezone = settings_of(wallet_store.load_settings(caller.merchant_id)).timezone
    today = datetime.now(zone(timezone)).date()
    start = _day(first, "from", today.replace(day=1))
    end = _day(last, "to", today)
    if start > end:
        raise InvalidInput.on("from", "must not be after to")
    counters = wallet_store.load_liability(caller.merchant_id, currency, start.isoformat(), end.isoformat())
    by_source = {source: money_json(v, currency) for source, v in sorted(counters["by_source"].items()) if v}
    return {
        "currency": currency,
        "outstanding": {
            "total": money_json(sum(counters["by_source"].values()), currency),
            "by_source": by_source,
        },
        "from": start.isoformat(),
        "to": end.isoformat(),
        "expired": money_json(counters["expired"], currency),
        "redeemed": money_json(counters["redeemed"], currency),
        "taken_back": money_json(counters["taken_back"], currency),
        # In the merchant's timezone, like the days above and every other time.
        "as_of": iso(int(time.time()), timezone),
    }
