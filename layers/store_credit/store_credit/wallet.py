"""The wallet aggregate and its ledger: pure state transitions, no I/O.

A wallet is (merchant, customer, currency). Its lots live inside the wallet record so one
conditional write changes balance and lots together; every change also appends one ledger
entry. Invariant after every transition: balance == Σ lot.remaining == Σ ledger amounts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from store_credit.errors import InsufficientCredit, InvalidInput
from store_credit.ids import ulid
from store_credit.lots import Lot, Restrictions, spend_lots
from store_credit.money import MAX_MINOR, format_minor

EXPIRING_NOTICE_SECONDS = 7 * 24 * 3600


def notice_seconds() -> int:
    """How long before its expiry a lot is announced (``EXPIRING_NOTICE_DAYS``, default 7 days).
    The due index (written by every function) and the expiry job must agree on it: with two
    windows, notices come late (the wallet is not due yet) or the wallet is read every run for
    nothing (due, but no notice owed yet)."""
    days = os.environ.get("EXPIRING_NOTICE_DAYS", "")
    # Every wallet write reads it (for the due index): a value that is not a whole number of
    # days from 1 to 90 falls back to the default rather than failing every write.
    if days.isascii() and days.isdigit() and 1 <= int(days) <= 90:
        return int(days) * 86_400
    return EXPIRING_NOTICE_SECONDS


# One transaction holds at most 100 items: the wallet, a ledger entry per expired lot and a
# checkout item per released hold must fit, so a larger backlog is settled over several runs.
MAX_SETTLED_PER_WRITE = 45
DUE_SHARDS = 16  # write-sharding of the due index; the expiry job queries every shard


@dataclass(frozen=True)
class LedgerEntry:
    entry_id: str
    seq: int
    type: str  # credit | debit (later: capture, refund, expiry, renewal …)
    amount: int  # signed minor units: + adds to the balance, - takes from it
    balance_after: int
    currency: str
    reason: str
    actor: str
    created_ms: int
    lots: tuple[tuple[str, int], ...] = ()  # (lot_id, signed amount) moved on each lot
    note: str | None = None
    idempotency_key: str | None = None
    order_id: str | None = None
    source: str | None = None
    expires_at: int | None = None
    valid_from: int | None = None
    notify: bool | None = None
    by_source: tuple[tuple[str, int], ...] = ()  # signed amount per lot source (liability report)


def _by_source(moves: list[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    totals: dict[str, int] = {}
    for source, amount in moves:
        totals[source] = totals.get(source, 0) + amount
    return tuple(sorted(totals.items()))


@dataclass(frozen=True)
class Hold:
    """Credit reserved by one open checkout: which lots, how much, until when."""

    checkout_id: str
    amount: int
    lots: tuple[tuple[str, int], ...]
    expires_at: int  # epoch seconds; after it the expiry job may release the hold
    fingerprint: str  # of the apply request, to recognise a replay without reading the hold item
    created_ms: int


@dataclass(frozen=True)
class OwedBack:
    """Credit an order gave from one lot and should have taken back when it was cancelled or
    refunded, but could not: it was spent or held then. Should credit come back into that lot
    (the order that spent it is cancelled, or the hold is released), it is taken at once."""

    order_id: str
    amount: int
    reason: str


# Who takes back credit owed by an order: the order webhook, also when it happens later.
TAKE_BACK_ACTOR = "webhook:orders"


def liability_counter(entry: LedgerEntry) -> str | None:
    """The liability report's day counter a ledger entry adds its (negated) amount to, or None.
    A refund gives captured credit back: it lowers redeemed (net redemption). Credit a cancelled
    or refunded order takes back from what it issued (at once, or when it is freed later) was
    never spent on anything: ``taken_back``, not redeemed."""
    if entry.type == "debit" and entry.actor == TAKE_BACK_ACTOR:
        return "taken_back"
    return {"expiry": "expired", "debit": "redeemed", "capture": "redeemed", "refund": "redeemed"}.get(entry.type)


@dataclass(frozen=True)
class Wallet:
    merchant_id: str
    customer_id: str
    currency: str
    version: int = 0  # 0: not stored yet
    seq: int = 0  # ledger entries written so far
    last_entry_ms: int = 0
    lots: dict[str, Lot] = field(default_factory=dict)
    holds: dict[str, Hold] = field(default_factory=dict)
    # A code only one buyer may spend: a digest of their email, never the email itself, so the
    # code holds no personal data (erasing the buyer needs nothing from it) and merchants'
    # digests of one email differ.
    email_lock: str | None = None
    owed_back: dict[str, OwedBack] = field(default_factory=dict)  # by lot id

    @property
    def balance(self) -> int:
        return sum(lot.remaining for lot in self.lots.values())

    @property
    def held(self) -> int:
        return sum(lot.held for lot in self.lots.values())

    def can_hold(self, amount: int) -> bool:
        """Whether ``amount`` more keeps the balance within the largest amount the service holds."""
        return self.balance + amount <= MAX_MINOR

    def available(self, now: int) -> int:
        return sum(lot.spendable(now) for lot in self.lots.values())

    def due_at(self) -> int | None:
        """Earliest instant the expiry job has work on this wallet (None: keep it off the index)."""
        moments: list[int] = []
        window = notice_seconds()
        for lot in self.lots.values():
            if lot.expires_at is None or lot.remaining == 0:
                continue
            if lot.remaining == lot.held:
                # All of it waits for holds: due with them (below), not before. A lot past its
                # expiry that was never announced would otherwise stay due, and be read every
                # run for nothing, until its hold lapsed (up to hold_ttl_minutes: a week).
                continue
            moments.append(lot.expires_at)  # credit a live hold reserves lapses when the hold goes
            if not lot.expiring_notified:
                moments.append(lot.expires_at - window)
        moments += [hold.expires_at for hold in self.holds.values()]
        if any(self._owes_now(lot_id) for lot_id in self.owed_back):
            moments.append(0)  # freed credit an order is owed, left by a write that hit its limit
        return min(moments) if moments else None

    def _owes_now(self, lot_id: str) -> bool:
        lot = self.lots.get(lot_id)
        return lot is not None and lot.remaining > lot.held

    def next_expiry(self, now: int) -> Lot | None:
        expiring = [lot for lot in self.lots.values() if lot.expires_at is not None and lot.spendable(now) > 0]
        return min(expiring, key=lambda lot: (lot.expires_at, lot.lot_id), default=None)


def email_lock(merchant_id: str, email: str) -> str:
    return hashlib.sha256(f"{merchant_id}\n{email}".encode()).hexdigest()


def email_unlocks(wallet: Wallet, email: str | None) -> bool:
    """Whether a buyer with this email may spend the wallet (a code): always, unless it is locked."""
    if wallet.email_lock is None:
        return True
    return email is not None and hmac.compare_digest(email_lock(wallet.merchant_id, email), wallet.email_lock)


@dataclass(frozen=True)
class WalletChange:
    before: Wallet
    after: Wallet
    entry: LedgerEntry


def _entry_time(wallet: Wallet, now_ms: int) -> int:
    # Strictly increasing per wallet even if a Lambda's clock runs behind another's, so
    # the ledger's time order and its sequence order never disagree.
    return max(now_ms, wallet.last_entry_ms + 1)


def _advance(wallet: Wallet, lots: dict[str, Lot], created_ms: int) -> Wallet:
    return replace(wallet, version=wallet.version + 1, seq=wallet.seq + 1, last_entry_ms=created_ms, lots=lots)


def change_lots(
    wallet: Wallet,
    lots: dict[str, Lot],
    *,
    entry_type: str,
    amount: int,
    moves: tuple[tuple[str, int], ...],
    by_source: tuple[tuple[str, int], ...],
    reason: str,
    actor: str,
    now_ms: int,
    **entry_fields: Any,
) -> WalletChange:
    """The wallet with ``lots`` in place of its own, and the one ledger entry saying why."""
    created_ms = _entry_time(wallet, now_ms)
    after = _advance(wallet, lots, created_ms)
    entry = LedgerEntry(
        entry_id=ulid(created_ms),
        seq=after.seq,
        type=entry_type,
        amount=amount,
        balance_after=after.balance,
        currency=wallet.currency,
        reason=reason,
        actor=actor,
        created_ms=created_ms,
        lots=moves,
        by_source=by_source,
        **entry_fields,
    )
    return WalletChange(before=wallet, after=after, entry=entry)


def issue_credit(
    wallet: Wallet,
    *,
    amount: int,
    reason: str,
    actor: str,
    now_ms: int,
    source: str = "manual",
    expires_at: int | None = None,
    valid_from: int | None = None,
    restrictions: Restrictions | None = None,
    note: str | None = None,
    idempotency_key: str | None = None,
    order_id: str | None = None,
    notify: bool | None = None,
    entry_type: str = "credit",
) -> WalletChange:
    if amount <= 0:
        raise InvalidInput.on("amount", "must be greater than zero")
    if not wallet.can_hold(amount):
        raise InvalidInput.on("amount", "the wallet balance would exceed the largest amount this service holds")
    lot_id = f"lot_{wallet.seq + 1}"  # the seq of the entry that issues it: unique in the wallet
    lot = Lot(
        lot_id=lot_id,
        original=amount,
        remaining=amount,
        issued_at=_entry_time(wallet, now_ms) // 1000,
        source=source,
        expires_at=expires_at,
        valid_from=valid_from,
        restrictions=restrictions or Restrictions(),
    )
    return change_lots(
        wallet,
        {**wallet.lots, lot_id: lot},
        entry_type=entry_type,
        amount=amount,
        moves=((lot_id, amount),),
        by_source=((source, amount),),
        reason=reason,
        actor=actor,
        now_ms=now_ms,
        note=note,
        idempotency_key=idempotency_key,
        order_id=order_id,
        source=source,
        expires_at=expires_at,
        valid_from=valid_from,
        notify=notify,
    )


def debit(
    wallet: Wallet,
    *,
    amount: int,
    reason: str,
    actor: str,
    now_ms: int,
    note: str | None = None,
    idempotency_key: str | None = None,
    order_id: str | None = None,
    entry_type: str = "debit",
) -> WalletChange:
    """Take ``amount`` from the spendable lots, earliest-expiring first."""
    if amount <= 0:
        raise InvalidInput.on("amount", "must be greater than zero")
    now = now_ms // 1000
    available = wallet.available(now)
    if available < amount:
        raise InsufficientCredit(
            detail=(
                f"{format_minor(amount, wallet.currency)} {wallet.currency} requested, "
                f"{format_minor(available, wallet.currency)} {wallet.currency} available"
            )
        )
    return spend_allocations(
        wallet,
        allocations=tuple(spend_lots(list(wallet.lots.values()), amount, now)),
        reason=reason,
        actor=actor,
        now_ms=now_ms,
        entry_type=entry_type,
        note=note,
        order_id=order_id,
        idempotency_key=idempotency_key,
    )


def owe_back(wallet: Wallet, lot_id: str, owed: OwedBack) -> Wallet:
    """Record that ``owed`` of a lot's credit goes back to the order that gave it as soon as
    it is unspent (adds to what that order already owes from the lot). A change of its own: the
    version moves on, so a writer that read the wallet before cannot put it back without it."""
    before = wallet.owed_back.get(lot_id)
    amount = owed.amount + (before.amount if before is not None else 0)
    owed_back = {**wallet.owed_back, lot_id: replace(owed, amount=amount)}
    return replace(wallet, version=wallet.version + 1, owed_back=owed_back)


def take_owed_back(wallet: Wallet, *, now_ms: int, limit: int | None = None) -> list[WalletChange]:
    """Take what orders are owed from lots whose credit is free again (returned by a cancelled
    order, released by a checkout): one debit per order that gave such lots, moving all of them
    (an order's store-credit products are a lot per unit: a debit a lot would not fit one write).
    Called after every change that frees credit, so a lot that owes is never spendable."""
    by_order: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for lot_id in sorted(wallet.owed_back):
        owed = wallet.owed_back[lot_id]
        lot = wallet.lots.get(lot_id)
        amount = min(owed.amount, lot.remaining - lot.held) if lot is not None else 0
        if amount > 0:
            by_order.setdefault((owed.order_id, owed.reason), []).append((lot_id, amount))
    changes: list[WalletChange] = []
    current = wallet
    for (order_id, reason), allocations in by_order.items():
        if limit is not None and len(changes) >= limit:
            break  # the rest keeps the wallet due (``due_at``) for the expiry job's next run
        change = spend_allocations(
            current,
            allocations=tuple(allocations),
            reason=reason,
            actor=TAKE_BACK_ACTOR,
            now_ms=now_ms,
            entry_type="debit",
            order_id=order_id,
        )
        rest = dict(change.after.owed_back)
        for lot_id, amount in allocations:
            owed = rest.pop(lot_id)
            if amount < owed.amount:
                rest[lot_id] = replace(owed, amount=owed.amount - amount)
        current = replace(change.after, owed_back=rest)
        changes.append(replace(change, after=current))
    return changes


def release_hold(wallet: Wallet, checkout_id: str) -> Wallet:
    """Give a checkout's reserved credit back to its lots (no ledger entry: no balance change)."""
    hold = wallet.holds.get(checkout_id)
    if hold is None:
        return wallet
    lots = dict(wallet.lots)
    for lot_id, amount in hold.lots:
        lot = lots[lot_id]
        lots[lot_id] = replace(lot, held=lot.held - amount)
    holds = {k: v for k, v in wallet.holds.items() if k != checkout_id}
    return replace(wallet, version=wallet.version + 1, lots=lots, holds=holds)


@dataclass(frozen=True)
class FreedCredit:
    """Holds let go, and the debits that took back what the freed credit owed."""

    after: Wallet
    taken_back: tuple[WalletChange, ...]


def free_holds(wallet: Wallet, checkout_ids: Iterable[str], *, now_ms: int, limit: int | None = None) -> FreedCredit:
    """Release these checkouts' holds and, in the same change, take back what their freed
    credit owes a cancelled order (``take_owed_back``). Every path that lets a hold go without
    spending it (release, re-apply, a cancel before payment, the expiry job) comes through
    here, so credit that owes is never spendable, not even between two calls."""
    current = wallet
    for checkout_id in checkout_ids:
        current = release_hold(current, checkout_id)
    taken = take_owed_back(current, now_ms=now_ms, limit=limit)
    return FreedCredit(taken[-1].after if taken else current, tuple(taken))


def place_hold(
    wallet: Wallet,
    *,
    checkout_id: str,
    allocations: tuple[tuple[str, int], ...],
    expires_at: int,
    fingerprint: str,
    now_ms: int,
) -> Wallet:
    """Reserve ``allocations`` for a checkout, replacing its previous hold in the same write:
    there is never a moment with two holds for one checkout, nor with both counted."""
    base = release_hold(wallet, checkout_id)
    now = now_ms // 1000
    lots = dict(base.lots)
    for lot_id, amount in allocations:
        lot = lots[lot_id]
        if amount > lot.spendable(now):
            raise InsufficientCredit(detail=f"lot {lot_id} cannot cover {amount}")
        lots[lot_id] = replace(lot, held=lot.held + amount)
    total = sum(amount for _, amount in allocations)
    holds = dict(base.holds)
    if total:
        holds[checkout_id] = Hold(checkout_id, total, allocations, expires_at, fingerprint, now_ms)
    return replace(base, version=wallet.version + 1, lots=lots, holds=holds)


def spend_allocations(
    wallet: Wallet,
    *,
    allocations: tuple[tuple[str, int], ...],
    reason: str,
    actor: str,
    now_ms: int,
    entry_type: str,
    note: str | None = None,
    order_id: str | None = None,
    idempotency_key: str | None = None,
) -> WalletChange:
    """Spend exactly ``allocations`` (chosen by spend order or the checkout arithmetic) in one
    ledger entry; lots spent to zero leave the wallet record (the ledger keeps their story)."""
    lots = dict(wallet.lots)
    for lot_id, taken in allocations:
        lot = lots[lot_id]
        # Not lot.spendable(): capturing credit a hold reserved stays possible after the lot's or
        # the hold's time has passed (the order was paid while the credit was reserved).
        if taken > lot.remaining - lot.held:
            raise InsufficientCredit(detail=f"lot {lot_id} cannot cover {taken}")
        if lot.remaining == taken:
            del lots[lot_id]
        else:
            lots[lot_id] = replace(lot, remaining=lot.remaining - taken)
    amount = sum(taken for _, taken in allocations)
    return change_lots(
        wallet,
        lots,
        entry_type=entry_type,
        amount=-amount,
        moves=tuple((lot_id, -taken) for lot_id, taken in allocations),
        by_source=_by_source([(wallet.lots[lot_id].source, -taken) for lot_id, taken in allocations]),
        reason=reason,
        actor=actor,
        now_ms=now_ms,
        note=note,
        order_id=order_id,
        idempotency_key=idempotency_key,
    )


@dataclass(frozen=True)
class ExpiringNotice:
    lot_id: str
    remaining: int
    expires_at: int
    returned_seq: int = 0  # the lot's: tells a notice of credit that came back from the first one

    @property
    def key(self) -> str:
        """The lot's notice, the same however often the job retries it; credit returned into
        the lot after it was announced (or spent to zero) is announced again under another key."""
        return f"{self.lot_id}/{self.returned_seq}" if self.returned_seq else self.lot_id


@dataclass(frozen=True)
class DueWork:
    """What the expiry job did to one wallet: new state, ledger entries, released holds, notices."""

    before: Wallet
    after: Wallet
    entries: tuple[LedgerEntry, ...]
    released: tuple[Hold, ...]
    notices: tuple[ExpiringNotice, ...]

    @property
    def changed(self) -> bool:
        return self.after is not self.before


def expire_lot(wallet: Wallet, lot_id: str, now_ms: int) -> WalletChange | None:
    """Expire what of a lot past its time is not held (held credit waits for its hold): one
    ledger entry of type expiry, or None when nothing lapses."""
    lot = wallet.lots[lot_id]
    lapsing = lot.remaining - lot.held
    if lapsing <= 0:
        return None
    lots = dict(wallet.lots)
    if lot.held:
        lots[lot_id] = replace(lot, remaining=lot.held)
    else:
        del lots[lot_id]
    return change_lots(
        wallet,
        lots,
        entry_type="expiry",
        amount=-lapsing,
        moves=((lot_id, -lapsing),),
        by_source=((lot.source, -lapsing),),
        reason="Credit expired",
        actor="system:expiry",
        now_ms=now_ms,
        expires_at=lot.expires_at,
    )


def settle_due(wallet: Wallet, *, now: int) -> DueWork:
    """Release holds past their time (taking back freed credit an order is owed), expire lots
    past theirs (one ledger entry a lot; credit a live hold still reserves expires when that hold
    goes), and mark lots owed an 'expiring' notice."""
    window = notice_seconds()
    current = wallet
    lapsed = sorted((h for h in wallet.holds.values() if h.expires_at <= now), key=lambda h: h.expires_at)
    released = tuple(lapsed[:MAX_SETTLED_PER_WRITE])
    freed = free_holds(current, (hold.checkout_id for hold in released), now_ms=now * 1000, limit=MAX_SETTLED_PER_WRITE)
    current = freed.after
    entries: list[LedgerEntry] = [taken.entry for taken in freed.taken_back]
    notices: list[ExpiringNotice] = []
    for lot in sorted(current.lots.values(), key=lambda lot: (lot.expires_at or 0, lot.lot_id)):
        if lot.expires_at is None:
            continue
        if lot.expires_at <= now:
            if len(entries) >= MAX_SETTLED_PER_WRITE:
                continue  # a huge backlog waits for the next run
            change = expire_lot(current, lot.lot_id, now * 1000)
            if change is not None:
                current = change.after
                entries.append(change.entry)
        elif lot.expires_at - window <= now and not lot.expiring_notified:
            current = replace(current, lots={**current.lots, lot.lot_id: replace(lot, expiring_notified=True)})
            notices.append(ExpiringNotice(lot.lot_id, lot.remaining, lot.expires_at, lot.returned_seq))
    if not released and not entries and not notices:
        return DueWork(wallet, wallet, (), (), ())
    # One write, whatever it settled: the version moves on by one from the one read.
    after = replace(current, version=wallet.version + 1)
    return DueWork(wallet, after, tuple(entries), released, tuple(notices))
