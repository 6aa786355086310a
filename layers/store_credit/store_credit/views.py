"""Render domain objects as the public API's JSON (money as decimal strings, times with offset)."""

from __future__ import annotations

from typing import Any

from store_credit.clock import iso, iso_ms
from store_credit.lots import Lot, spend_order
from store_credit.money import money_json
from store_credit.wallet import LedgerEntry, Wallet


def lot_json(lot: Lot, currency: str, tz: str, now: int) -> dict[str, Any]:
    restrictions = None
    if lot.restrictions:
        restrictions = {
            "product_ids": list(lot.restrictions.product_ids),
            "categories": list(lot.restrictions.categories),
        }
    return {
        "lot_id": lot.lot_id,
        "original": money_json(lot.original, currency),
        "remaining": money_json(lot.remaining, currency),
        "held": money_json(lot.held, currency),
        "state": lot.state(now),
        "source": lot.source,
        "issued_at": iso(lot.issued_at, tz),
        "expires_at": iso(lot.expires_at, tz) if lot.expires_at is not None else None,
        "valid_from": iso(lot.valid_from, tz) if lot.valid_from is not None else None,
        "restrictions": restrictions,
    }


def wallet_summary_json(wallet: Wallet, tz: str, now: int) -> dict[str, Any]:
    """Balances without the lot list: what a write answers (and its idempotency record keeps,
    so the record's size, and its write units, do not grow with the number of lots)."""
    currency = wallet.currency
    upcoming = wallet.next_expiry(now)
    return {
        "customer_id": wallet.customer_id,
        "currency": currency,
        "balance": money_json(wallet.balance, currency),
        "available": money_json(wallet.available(now), currency),
        "held": money_json(wallet.held, currency),
        "next_expiry": (
            {
                "expires_at": iso(upcoming.expires_at, tz),
                # Every lot that expires at that instant (credits issued the same day share one).
                "amount": money_json(
                    sum(lot.spendable(now) for lot in wallet.lots.values() if lot.expires_at == upcoming.expires_at),
                    currency,
                ),
            }
            if upcoming is not None and upcoming.expires_at is not None
            else None
        ),
    }


def wallet_json(wallet: Wallet, tz: str, now: int) -> dict[str, Any]:
    # In spend order, ties included: the item's map of lots comes back from DynamoDB in no set order.
    lots = sorted(wallet.lots.values(), key=spend_order)
    return {
        **wallet_summary_json(wallet, tz, now),
        "lots": [lot_json(lot, wallet.currency, tz, now) for lot in lots],
    }


def entry_json(entry: LedgerEntry, tz: str) -> dict[str, Any]:
    currency = entry.currency
    return {
        "id": entry.entry_id,
        "type": entry.type,
        "amount": money_json(entry.amount, currency),
        "balance_after": money_json(entry.balance_after, currency),
        "reason": entry.reason,
        "note": entry.note,
        "order_id": entry.order_id,
        "source": entry.source,
        "lots": [{"lot_id": lot_id, "amount": money_json(amount, currency)["amount"]} for lot_id, amount in entry.lots],
        "expires_at": iso(entry.expires_at, tz) if entry.expires_at is not None else None,
        "actor": entry.actor,
        "idempotency_key": entry.idempotency_key,
        "created_at": iso_ms(entry.created_ms, tz),
    }
