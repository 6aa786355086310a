"""Lots: each grant of credit, with its own expiry, and the order in which they are spent."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Restrictions:
    product_ids: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.product_ids or self.categories)


@dataclass(frozen=True)
class Lot:
    lot_id: str
    original: int
    remaining: int
    issued_at: int  # epoch seconds
    source: str
    expires_at: int | None = None  # epoch seconds; None = never expires
    valid_from: int | None = None  # epoch seconds; None = spendable at once
    held: int = 0  # part of ``remaining`` reserved by open checkouts
    restrictions: Restrictions = field(default_factory=Restrictions)
    expiring_notified: bool = False
    # The seq of the ledger entry that last returned credit into the lot after it was announced
    # as expiring or spent to zero (an order cancelled or refunded), 0 if none did. That credit
    # is announced again (the mark is cleared), under a notice id other than the first notice's.
    returned_seq: int = 0

    def is_expired(self, now: int) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def is_pending(self, now: int) -> bool:
        return self.valid_from is not None and self.valid_from > now

    def spendable(self, now: int) -> int:
        """What can be spent from this lot now: not expired, already valid, not held."""
        if self.is_expired(now) or self.is_pending(now):
            return 0
        return self.remaining - self.held

    def state(self, now: int) -> str:
        if self.is_expired(now):
            return "expired"  # past its time; the expiry job writes the ledger entry
        if self.is_pending(now):
            return "pending"
        return "active"


def spend_order(lot: Lot) -> tuple[bool, int, int, int, str]:
    """Earliest expiry first, never-expiring last; ties by age so the oldest goes first."""
    # Lots issued in the same second are told apart by their number (lot_9 before lot_10):
    # shorter ids first, as a plain string order would put lot_10 before lot_9.
    return (lot.expires_at is None, lot.expires_at or 0, lot.issued_at, len(lot.lot_id), lot.lot_id)


def spend_lots(lots: list[Lot], amount: int, now: int) -> list[tuple[str, int]]:
    """Choose ``(lot_id, taken)`` pairs covering ``amount``, earliest-expiring first.

    Returns the shortfall-free plan or an empty list if the lots cannot cover it; callers
    check ``sum(spendable)`` first to produce a helpful error.
    """
    plan: list[tuple[str, int]] = []
    left = amount
    for lot in sorted(lots, key=spend_order):
        if left == 0:
            break
        take = min(lot.spendable(now), left)
        if take > 0:
            plan.append((lot.lot_id, take))
            left -= take
    return plan if left == 0 else []
