"""The scheduled expiry job: expire lots past their time, release holds past theirs, announce
credit expiring soon. It reads only what is due (the sparse DueIndex), shard by shard, and
stops in time; whatever it did not reach stays due for the next run."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from store_credit import event_bus, wallet_store
from store_credit.clock import iso
from store_credit.codes import code_of
from store_credit.errors import WriteConflict
from store_credit.idempotency import backoff
from store_credit.ledger_events import SOURCE
from store_credit.money import money_json
from store_credit.observability import logger
from store_credit.wallet import DUE_SHARDS, DueWork, Wallet, settle_due

PAGE = 100
ATTEMPTS = 8
STOP_WITH_MS_LEFT = 15_000  # leave time to finish the wallet in hand and answer


@dataclass
class ExpiryRun:
    now: int
    index_items_read: int = 0
    wallets_read: int = 0
    wallets_changed: int = 0
    lots_expired: int = 0
    expired: dict[str, int] = field(default_factory=dict)  # currency → minor units
    taken_back: dict[str, int] = field(default_factory=dict)  # owed to cancelled orders, by currency
    holds_released: int = 0
    notices: int = 0
    complete: bool = True

    def summary(self) -> dict[str, Any]:
        return {
            "job": "expiry",
            "now": iso(self.now, "UTC"),
            "index_items_read": self.index_items_read,
            "wallets_read": self.wallets_read,
            "wallets_changed": self.wallets_changed,
            "lots_expired": self.lots_expired,
            "expired": {cur: money_json(v, cur)["amount"] for cur, v in sorted(self.expired.items())},
            "taken_back": {cur: money_json(v, cur)["amount"] for cur, v in sorted(self.taken_back.items())},
            "holds_released": self.holds_released,
            "expiring_notices": self.notices,
            "complete": self.complete,
        }


def expiring_events(wallet: Wallet, work: DueWork) -> list[dict[str, Any]]:
    code = code_of(wallet.customer_id)
    return [
        {
            "Source": SOURCE,
            "DetailType": "credit.expiring",
            "Detail": {
                "merchant_id": wallet.merchant_id,
                "customer_id": None if code else wallet.customer_id,
                "code": code,
                "lot_id": notice.lot_id,
                "amount": money_json(notice.remaining, wallet.currency),
                "expires_at": iso(notice.expires_at, "UTC"),
                # consumers de-duplicate on this: a notice may be sent twice, never lost
                "notice_id": f"{wallet.merchant_id}/{wallet.customer_id}/{wallet.currency}/{notice.key}",
            },
        }
        for notice in work.notices
    ]


def settle_wallet(key: dict[str, Any], run: ExpiryRun, ms_left: Callable[[], int] = lambda: 900_000) -> None:
    attempt = 0
    while attempt < ATTEMPTS:
        wallet = wallet_store.load_wallet_by_key(key)
        run.wallets_read += 1
        if wallet is None:
            return
        work = settle_due(wallet, now=run.now)
        if not work.changed:
            return  # the index was behind the table: someone settled it already
        # Announce before recording the notice: a crash in between repeats a notice (consumers
        # de-duplicate on notice_id) rather than losing it.
        for event in expiring_events(wallet, work):
            event_bus.publish(event)
        try:
            wallet_store.commit_due(work, run.now * 1000)
        except WriteConflict:
            backoff(attempt)
            attempt += 1
            continue
        run.wallets_changed += 1
        # A lapsed hold may free credit a cancelled order is owed: taken back (a debit), not expired.
        expired = [e for e in work.entries if e.type == "expiry"]
        taken = [e for e in work.entries if e.type != "expiry"]
        run.lots_expired += len(expired)
        run.expired[wallet.currency] = run.expired.get(wallet.currency, 0) - sum(e.amount for e in expired)
        if taken:
            run.taken_back[wallet.currency] = run.taken_back.get(wallet.currency, 0) - sum(e.amount for e in taken)
        run.holds_released += len(work.released)
        run.notices += len(work.notices)
        # More was due than one transaction takes (lots expiring at the same second, many holds):
        # go on with the rest now, a write at a time, rather than a write a run (the index puts
        # the wallet back where this run has already passed, so only the next run would see it).
        due = work.after.due_at()
        if due is None or due > run.now:
            return
        if ms_left() < STOP_WITH_MS_LEFT:
            run.complete = False  # the rest stays due: the next run takes it
            return
        attempt = 0


def run_expiry(now: int, ms_left: Callable[[], int] = lambda: 900_000) -> dict[str, Any]:
    run = ExpiryRun(now=now)
    for shard in range(DUE_SHARDS):
        start: dict[str, Any] | None = None
        while True:
            if ms_left() < STOP_WITH_MS_LEFT:
                run.complete = False  # the rest stays due: the next run takes it
                return run.summary()
            keys, start, read = wallet_store.due_keys(shard, now, start=start, limit=PAGE)
            run.index_items_read += read
            for key in keys:
                # A page can take longer than the margin (a hundred wallets, conflicts, throttling):
                # check between items too. What is left stays due for the next run.
                if ms_left() < STOP_WITH_MS_LEFT:
                    run.complete = False
                    return run.summary()
                try:
                    settle_wallet(key, run, ms_left)
                except Exception:  # noqa: BLE001 - one wallet's failure must not stop the others
                    # It stays due: the next run tries it again. Raised, the same wallet would
                    # end every run before the wallets after it on the index were reached.
                    logger.exception("expiry: a wallet could not be settled", extra={"key": key})
                    run.complete = False
            if start is None:
                break
    return run.summary()


def now_from_event(event: dict[str, Any]) -> int:
    """EventBridge Scheduler puts the scheduled time in ``time``; the job takes "now" from it."""
    from datetime import datetime

    raw = event.get("time")
    if not raw:
        return int(time.time())
    return int(datetime.fromisoformat(str(raw).replace("Z", "+00:00")).timestamp())
