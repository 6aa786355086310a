"""Privacy: export everything held about a customer; erase their personal data while the
amounts (and so the books) stay."""

from __future__ import annotations

import time
from typing import Any

from store_credit import wallet_store
from store_credit.auth import Caller
from store_credit.clock import iso
from store_credit.errors import NotFound
from store_credit.money import money_json
from store_credit.views import entry_json, wallet_json
from store_credit.wallet_service import settings_of


def export_customer(caller: Caller, customer_id: str) -> dict[str, Any]:
    items = wallet_store.holder_items(caller.merchant_id, customer_id)
    if not items:
        raise NotFound(detail=f"no customer {customer_id!r}")
    tz = settings_of(wallet_store.load_settings(caller.merchant_id)).timezone
    now = int(time.time())
    profile: dict[str, Any] = {}
    wallets, ledger, plans, stats = [], [], [], []
    for item in items:
        sort_key = item["SK"]["S"]
        if sort_key == "PROFILE":
            profile = {k: item[k]["S"] for k in ("email", "phone") if k in item}
        elif sort_key.startswith("W#"):
            wallet = wallet_store.wallet_from_item(item)
            wallets.append(
                {
                    **wallet_json(wallet, tz, now),
                    "holds": [
                        {
                            "checkout_id": h.checkout_id,
                            "amount": money_json(h.amount, wallet.currency),
                            "expires_at": iso(h.expires_at, tz),
                        }
                        for h in wallet.holds.values()
                    ],
                }
            )
        elif sort_key.startswith("L#"):
            ledger.append(entry_json(wallet_store.entry_from_item(item), tz))
        elif sort_key.startswith("RENEWAL#"):
            plan = wallet_store.plan_from_item(item)
            plans.append(
                {
                    "currency": plan.currency,
                    "amount": money_json(plan.amount, plan.currency),
                    "period": plan.period,
                    "mode": plan.mode,
                }
            )
        elif sort_key.startswith("STATS#"):
            currency = sort_key.removeprefix("STATS#")
            order_stats = wallet_store.stats_from_item(caller.merchant_id, customer_id, currency, item)
            stats.append(
                {
                    "currency": currency,
                    "paid_orders": order_stats.orders,
                    "spent": money_json(order_stats.spent, currency),
                    "milestones_rewarded": list(order_stats.fired),
                }
            )
    return {
        "customer_id": customer_id,
        "exported_at": iso(now, tz),
        "profile": profile,
        "wallets": wallets,
        "ledger": sorted(ledger, key=lambda e: e["id"]),
        "renewal_plans": plans,
        "order_stats": stats,
    }


def erase_personal_data(caller: Caller, customer_id: str) -> dict[str, Any]:
    """Idempotent: erasing again finds nothing left and answers the same shape."""
    items = wallet_store.holder_items(caller.merchant_id, customer_id)
    if not items:
        raise NotFound(detail=f"no customer {customer_id!r}")
    now = int(time.time())
    erased = 0
    for item in items:
        # The kept answer first: the entry's note is what tells a retry of an erasure cut
        # short that the answer still quotes it, so it goes from the entry last.
        if "note" in item and "idempotency_key" in item:
            wallet_store.scrub_idempotency_answer(caller.merchant_id, item["idempotency_key"]["S"])
        if wallet_store.erase_personal_attributes(item, now):
            erased += 1
    return {"customer_id": customer_id, "items_erased": erased, "amounts_kept": True}
