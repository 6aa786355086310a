"""Ledger entries → ``credit.*`` events. Derived from the table's stream, so an event exists
exactly when a ledger entry does: never for a write that did not happen, never lost for one
that did (the stream retries; consumers de-duplicate by ``entry_id``)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from store_credit import wallet_store
from store_credit.clock import DEFAULT_TIMEZONE, iso_ms, local_day
from store_credit.codes import code_of
from store_credit.money import money_json
from store_credit.wallet import LedgerEntry

SOURCE = "store-credit"

DETAIL_TYPES = {
    "credit": "credit.issued",
    "debit": "credit.debited",
    "capture": "credit.captured",
    "refund": "credit.refunded",
    "expiry": "credit.expired",
    "renewal": "credit.renewed",
}


HOLD_DETAIL_TYPES = {"open": "credit.applied", "released": "credit.released"}


def hold_event(image: dict[str, Any]) -> dict[str, Any] | None:
    """A checkout hold placed, replaced or released (its item's new image) → an event, or None
    (a capture is announced by its ledger entry as ``credit.captured``)."""
    detail_type = HOLD_DETAIL_TYPES.get(image["state"]["S"])
    if detail_type is None:
        return None
    currency = image["currency"]["S"]
    detail = {
        "merchant_id": image["merchant_id"]["S"],
        "customer_id": None if code_of(image["customer_id"]["S"]) else image["customer_id"]["S"],
        "code": code_of(image["customer_id"]["S"]),
        "checkout_id": image["checkout_id"]["S"],
        "amount": money_json(int(image["amount"]["N"]), currency),
        "expires_at": (
            datetime.fromtimestamp(int(image["expires_at"]["N"]), UTC).isoformat() if "expires_at" in image else None
        ),
        "updated_at": iso_ms(int(image["updated_ms"]["N"]), "UTC"),
    }
    # Derived from what this write of the checkout says, so a redelivered stream record (or a
    # batch retried after a bisect) carries the same id and subscribers can drop it.
    written = json.dumps([detail_type, detail, image.get("fingerprint", {}).get("S")], sort_keys=True)
    detail["event_id"] = hashlib.sha256(written.encode()).hexdigest()[:32]
    return {"Source": SOURCE, "DetailType": detail_type, "Detail": detail}


def ledger_event(merchant_id: str, customer_id: str, entry: LedgerEntry) -> dict[str, Any] | None:
    """The EventBridge entry (without the bus name) for a ledger entry, or None if it emits none."""
    detail_type = DETAIL_TYPES.get(entry.type)
    if detail_type is None:
        return None
    detail = {
        "merchant_id": merchant_id,
        "customer_id": None if code_of(customer_id) else customer_id,
        "code": code_of(customer_id),
        "entry_id": entry.entry_id,
        "type": entry.type,
        "amount": money_json(entry.amount, entry.currency),
        "balance_after": money_json(entry.balance_after, entry.currency),
        "reason": entry.reason,
        "source": entry.source,
        "order_id": entry.order_id,
        "notify": entry.notify,
        "expires_at": datetime.fromtimestamp(entry.expires_at, UTC).isoformat() if entry.expires_at else None,
        "created_at": iso_ms(entry.created_ms, "UTC"),
    }
    return {"Source": SOURCE, "DetailType": detail_type, "Detail": detail}


# How late the expiry job (every 5 minutes, longer with a backlog) may write an expiry entry and
# still have it count on the day the lot expired.
EXPIRY_LATENESS_MS = 3_600_000


def liability_moment_ms(entry: LedgerEntry) -> int:
    """When an entry counts in the liability report. Its own time, except for an expiry the job
    wrote soon after the lot's ``expires_at`` (23:59:59, merchant time): the credit expired that
    day, and counting it on the job's (just after midnight) would move most expiries into the
    next day, and a month's last day's into the next month. Credit that lapses later (when a
    hold lets go of it, or returned into a lot long expired) lapses when the entry says."""
    if entry.type == "expiry" and entry.expires_at is not None:
        expired_ms = entry.expires_at * 1000
        if 0 <= entry.created_ms - expired_ms <= EXPIRY_LATENESS_MS:
            return expired_ms
    return entry.created_ms


def count_liability(merchant_id: str, entry: LedgerEntry, zones: dict[str, str]) -> bool:
    """Add a ledger entry to the liability counters, on the day it happened in the merchant's
    timezone (the report's days are the merchant's, like every day the contract names).
    ``zones`` caches each merchant's timezone for one batch. False when counted before."""
    tz = zones.get(merchant_id)
    if tz is None:
        record = wallet_store.load_settings(merchant_id)
        tz = zones[merchant_id] = str((record.document if record else {}).get("timezone") or DEFAULT_TIMEZONE)
    return wallet_store.record_liability(merchant_id, entry, local_day(liability_moment_ms(entry), tz))
