"""Renewal plans: monthly or annual credit, granted (``grant``) or topped up to an amount
(``top_up``), once per period in the merchant's timezone. Pure calendar and amount rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from store_credit.clock import zone
from store_credit.wallet import Wallet


@dataclass(frozen=True)
class RenewalPlan:
    merchant_id: str
    customer_id: str
    currency: str
    amount: int
    period: str  # monthly | annually
    mode: str  # top_up | grant
    reason: str
    expires: dict[str, object] | None  # the expiry form for renewed credit, resolved at renewal
    last_period: str | None = None  # "2026-12" (monthly) or "2026" (annually): renewed already
    due_at: int = 0  # epoch seconds of the next period's start in the merchant's timezone
    version: int = 0


def period_key(now: int, tz: str, period: str) -> str:
    local = datetime.fromtimestamp(now, zone(tz))
    return f"{local.year}" if period == "annually" else f"{local.year}-{local.month:02d}"


def next_period_start(now: int, tz: str, period: str) -> int:
    """00:00 on the 1st of the next month (or of next January) in the merchant's timezone."""
    local = datetime.fromtimestamp(now, zone(tz))
    if period == "annually" or local.month == 12:
        start = datetime(local.year + 1, 1, 1, tzinfo=zone(tz))
    else:
        start = datetime(local.year, local.month + 1, 1, tzinfo=zone(tz))
    return int(start.timestamp())


def owed_period_start(due_at: int, tz: str, period: str) -> int:
    """The start, in ``tz``, of the period a plan due at ``due_at`` is owed: ``due_at`` itself,
    unless the merchant changed timezone since the plan was timed. Periods are weeks apart and
    offsets hours, so the owed period is the one whose local start is nearest."""
    local = datetime.fromtimestamp(due_at, zone(tz))
    month = 1 if period == "annually" else local.month
    this = int(datetime(local.year, month, 1, tzinfo=zone(tz)).timestamp())
    following = next_period_start(due_at, tz, period)
    return this if due_at - this <= following - due_at else following


def due_after_change(existing: RenewalPlan | None, period: str, now: int, tz: str) -> int:
    """When a plan made or changed at ``now`` is next due. A new plan, or one not due yet, at the
    next start of its period. A plan already due keeps its due time (changing it before the job
    came round must not skip the renewal the period owes, now on the new terms), unless its
    period changes and the start it is owed is no start of the new period: a monthly plan due on
    1 March made annual renews on 1 January, not on 1 March and again on 1 January."""
    if existing is None or existing.due_at > now:
        return next_period_start(now, tz, period)
    if existing.period == period:
        return existing.due_at
    owed = owed_period_start(existing.due_at, tz, existing.period)
    if owed_period_start(owed, tz, period) == owed:
        return existing.due_at  # 1 January: a start of both periods
    return next_period_start(now, tz, period)


def renewal_amount(plan: RenewalPlan, wallet: Wallet, now: int) -> int:
    """``grant`` adds the amount; ``top_up`` brings usable credit (available + held) up to it,
    never down. Credit counts only as far as the buyer keeps it: not what an order is owed from
    a lot (taken back as soon as it is free, even from a hold released), nor what is held in a
    lot past its expiry (it lapses when its hold goes)."""
    if plan.mode == "grant":
        return plan.amount
    usable = 0
    for lot_id, lot in wallet.lots.items():
        if lot.state(now) != "active":
            continue  # expired (held or not), or not valid yet
        owed = wallet.owed_back.get(lot_id)
        usable += max(0, lot.remaining - (owed.amount if owed is not None else 0))
    return max(0, plan.amount - usable)
