"""Renewal plans (PUT/DELETE) and the renewal job, which finds plans due through the sparse
DueIndex and renews each once per period, however often or late it runs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from store_credit import wallet_store
from store_credit.auth import Caller
from store_credit.clock import iso
from store_credit.errors import NotFound, WalletFull, WriteConflict
from store_credit.idempotency import ApiResult, backoff, guarded_write
from store_credit.models import ExpirySpec, RenewalPlanRequest, Settings
from store_credit.money import money_json
from store_credit.observability import logger
from store_credit.renewal import (
    RenewalPlan,
    due_after_change,
    next_period_start,
    owed_period_start,
    period_key,
    renewal_amount,
)
from store_credit.wallet import DUE_SHARDS, Wallet, issue_credit
from store_credit.wallet_service import expiry_date_over, expiry_for, owed_expiry_for, settings_of

PAGE = 100
ATTEMPTS = 8
STOP_WITH_MS_LEFT = 15_000


def plan_json(plan: RenewalPlan, tz: str) -> dict[str, Any]:
    return {
        "customer_id": plan.customer_id,
        "currency": plan.currency,
        "amount": money_json(plan.amount, plan.currency),
        "period": plan.period,
        "mode": plan.mode,
        "expires": plan.expires,
        "reason": plan.reason,
        "next_renewal_at": iso(plan.due_at, tz),
        "last_period": plan.last_period,
    }


def put_plan(
    caller: Caller, customer_id: str, request: RenewalPlanRequest, idempotency_key: str, request_hash: str
) -> ApiResult:
    """Create or change the plan for the request's currency. A plan already renewed this period
    keeps that record, so changing it never renews twice in one period."""
    currency = request.amount.currency
    amount = request.amount.minor()

    def attempt() -> ApiResult:
        settings = settings_of(wallet_store.load_settings(caller.merchant_id))
        existing = next(
            (p for p in wallet_store.load_plans(caller.merchant_id, customer_id) if p.currency == currency), None
        )
        now = int(time.time())
        if request.expires is not None:
            # A fixed expiry date already over would make every renewal grant credit born expired.
            expiry_for(request.expires, settings, now)
        plan = RenewalPlan(
            merchant_id=caller.merchant_id,
            customer_id=customer_id,
            currency=currency,
            amount=amount,
            period=request.period,
            mode=request.mode,
            reason=request.reason,
            expires=request.expires.model_dump(mode="json", exclude_none=True) if request.expires else None,
            last_period=existing.last_period if existing else None,
            due_at=due_after_change(existing, request.period, now, settings.timezone),
            # A new plan's version is never one a deleted plan had: a job that read the deleted
            # plan must not find its version condition met by the new one, and write the old
            # plan back over it (nanoseconds now: later than any version the deleted plan took).
            version=existing.version + 1 if existing else time.time_ns(),
        )
        body = plan_json(plan, settings.timezone)
        wallet_store.save_plan(
            existing.version if existing else 0,
            plan,
            wallet_store.IdempotentWrite(caller.merchant_id, idempotency_key, request_hash, 200, json.dumps(body), now),
        )
        return ApiResult(200, body)

    return guarded_write(
        attempt, lambda: wallet_store.get_idempotency_record(caller.merchant_id, idempotency_key), request_hash
    )


def delete_plan(caller: Caller, customer_id: str, currency: str | None) -> dict[str, Any]:
    plans = [
        p
        for p in wallet_store.load_plans(caller.merchant_id, customer_id)
        if currency is None or p.currency == currency
    ]
    if not plans:
        raise NotFound(detail=f"no renewal plan for {customer_id!r}")
    wallet_store.delete_plans(plans)
    return {"customer_id": customer_id, "deleted": sorted(p.currency for p in plans)}


@dataclass
class RenewalRun:
    now: int
    index_items_read: int = 0
    plans_read: int = 0
    renewed: int = 0
    already_renewed: int = 0
    granted: dict[str, int] = field(default_factory=dict)
    complete: bool = True
    settings: dict[str, Settings] = field(default_factory=dict)  # per merchant, read once a run

    def summary(self) -> dict[str, Any]:
        return {
            "job": "renewal",
            "now": iso(self.now, "UTC"),
            "index_items_read": self.index_items_read,
            "plans_read": self.plans_read,
            "renewed": self.renewed,
            "already_renewed": self.already_renewed,
            "granted": {cur: money_json(v, cur)["amount"] for cur, v in sorted(self.granted.items())},
            "complete": self.complete,
        }


def renew(key: dict[str, Any], run: RenewalRun) -> None:
    for attempt in range(ATTEMPTS):
        merchant_id = key["PK"]["S"].split("#")[1]
        state = wallet_store.load_renewal_state(key, with_settings=merchant_id not in run.settings)
        run.plans_read += 1
        if state is None:
            return  # deleted since the index saw it
        plan, settings_record, stored = state
        settings = run.settings.setdefault(merchant_id, settings_of(settings_record))
        if plan.due_at > run.now:
            return  # the index was behind: renewed already
        owed = owed_period_start(plan.due_at, settings.timezone, plan.period)
        if owed > run.now:
            # The merchant moved west since the plan was timed: the period it is owed has not
            # begun in their timezone yet (renewing now would renew the month it began in).
            try:
                wallet_store.commit_renewal(plan, replace(plan, due_at=owed, version=plan.version + 1), None)
            except WriteConflict:
                backoff(attempt)
                continue
            return
        period = period_key(run.now, settings.timezone, plan.period)
        after = replace(
            plan,
            last_period=period,
            due_at=next_period_start(run.now, settings.timezone, plan.period),
            version=plan.version + 1,
        )
        change = None
        wallet = stored or Wallet(plan.merchant_id, plan.customer_id, plan.currency)
        spec = ExpirySpec.model_validate(plan.expires) if plan.expires else None
        amount = _grant(plan, wallet, period, spec=spec, settings=settings, now=run.now)
        # No expiry on the plan: the merchant's default expiry, as for any credit issued.
        # A default whose fixed date is over counts as none: the grant never expires.
        expires_at = None if amount == 0 else owed_expiry_for(spec, settings, run.now)
        if amount > 0 and not wallet.can_hold(amount):
            # Granting it would take the wallet past the largest amount the service holds: the
            # plan stays due (renewed at a run after the balance comes down), and the job goes on
            # to every other plan (of every merchant) instead of failing on this one each run.
            logger.warning("renewal waits: balance at its limit", extra={"plan": key["PK"]["S"]})
            run.complete = False
            return
        if amount > 0:
            change = issue_credit(
                wallet,
                amount=amount,
                reason=plan.reason,
                actor="system:renewal",
                now_ms=run.now * 1000,
                source="renewal",
                expires_at=expires_at,
                idempotency_key=f"renewal:{plan.currency}:{period}",
                entry_type="renewal",
            )
        try:
            wallet_store.commit_renewal(plan, after, change)
        except WriteConflict:
            backoff(attempt)
            continue
        except WalletFull:
            # This wallet has no room for the renewed lot: the plan stays due (renewed at a
            # run after room is made) and the job goes on to every other plan.
            logger.warning("renewal waits: wallet full", extra={"plan": key["PK"]["S"], "currency": plan.currency})
            run.complete = False
            return
        if plan.last_period == period:
            run.already_renewed += 1
        else:
            run.renewed += 1
            if amount:
                run.granted[plan.currency] = run.granted.get(plan.currency, 0) + amount
        return


def _grant(
    plan: RenewalPlan, wallet: Wallet, period: str, *, spec: ExpirySpec | None, settings: Settings, now: int
) -> int:
    """What this run grants: nothing for a period renewed already."""
    if plan.last_period == period:
        return 0
    if spec is not None and expiry_date_over(spec, settings, now):
        # The plan's own fixed expiry date is over: credit granted now would be born expired, so
        # the period passes with nothing granted, as a reward would. A plan without one that
        # falls back on a default date now over still grants (``owed_expiry_for``: never expires).
        return 0
    return renewal_amount(plan, wallet, now)


def run_renewal(now: int, ms_left: Callable[[], int] = lambda: 900_000) -> dict[str, Any]:
    run = RenewalRun(now=now)
    for shard in range(DUE_SHARDS):
        start: dict[str, Any] | None = None
        while True:
            if ms_left() < STOP_WITH_MS_LEFT:
                run.complete = False
                return run.summary()
            keys, start, read = wallet_store.due_keys(shard, now, start=start, limit=PAGE, kind="RENEW")
            run.index_items_read += read
            for key in keys:
                # A page can take longer than the margin (a hundred wallets, conflicts, throttling):
                # check between items too. What is left stays due for the next run.
                if ms_left() < STOP_WITH_MS_LEFT:
                    run.complete = False
                    return run.summary()
                renew(key, run)
            if start is None:
                break
    return run.summary()
