"""Orders: what the order webhook's events do to wallets. Pure decisions, no I/O.

An order's record is a small state built from its events, and every money movement is derived
from that state rather than from the event alone. "Credit returned so far" only ever moves up
to "credit that should be back by now", so events can arrive in any order and any number of
times: a refund before the order is paid waits in the record and is settled by the capture; a
cancel after a partial refund returns only the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from store_credit.errors import InsufficientCredit, InvalidInput
from store_credit.lots import Lot, Restrictions
from store_credit.money import exponent
from store_credit.wallet import (
    TAKE_BACK_ACTOR,
    LedgerEntry,
    OwedBack,
    Wallet,
    WalletChange,
    _by_source,
    change_lots,
    expire_lot,
    owe_back,
    spend_allocations,
    take_owed_back,
)

# Every event is one TransactWriteItems (≤ 100 items): the wallets, a ledger entry per credit
# issued and the order's own items must fit, so an order may carry at most this many units of
# store-credit products.
MAX_CREDIT_UNITS = 40
MAX_EVENTS_PER_ORDER = 200  # event ids kept on the order: duplicates stay duplicates forever
MILESTONE = "milestone"  # IssuedCredit.kind of a milestone reward


@dataclass(frozen=True)
class LotSnapshot:
    """A lot as it was when the order spent from it: credit returned later goes back into it
    (with its own expiry, source and restrictions) even if it has meanwhile left the wallet."""

    lot_id: str
    original: int
    issued_at: int
    source: str
    expires_at: int | None
    valid_from: int | None
    restrictions: Restrictions

    @classmethod
    def of(cls, lot: Lot) -> LotSnapshot:
        return cls(
            lot.lot_id, lot.original, lot.issued_at, lot.source, lot.expires_at, lot.valid_from, lot.restrictions
        )


@dataclass(frozen=True)
class SpentLot:
    lot: LotSnapshot
    spent: int
    returned: int = 0


@dataclass(frozen=True)
class IssuedCredit:
    """Credit the order gave (a store-credit product unit or a reward): all of it is taken back
    when the order is cancelled or refunded in full; a reward that scales with the order's total
    (``full`` set) also in the share a partial refund gives back."""

    customer_id: str
    lot_id: str
    amount: int
    kind: str  # product | reward | milestone (held while the buyer's statistics reach it)
    full: int | None = None  # a scaling reward: what the order earns with nothing refunded
    taken: int = 0  # taken back so far


@dataclass(frozen=True)
class OrderRecord:
    merchant_id: str
    order_id: str
    customer_id: str
    currency: str
    checkout_id: str | None = None
    version: int = 0  # 0: not stored yet
    holder: str | None = None  # the wallet the order's credit came from (customer, or a code)
    paid: bool = False
    cancelled: bool = False
    paid_total: int = 0  # what was charged, after store credit: when paid, or as a refund before it said
    captured: int = 0  # store credit the order spent
    spent_lots: tuple[SpentLot, ...] = ()
    returned: int = 0  # of ``captured``, given back so far
    refunded_original: int = 0  # order value refunded to the original payment methods
    refunded_store_credit: int = 0  # order value refunded as new store credit
    # Of ``refunded_store_credit``, the part not issued yet: a refund that overtook the payment
    # and counted credit the checkout still held for the order. Issued when the payment captures
    # that credit; dropped if it never does (the hold let go first, or the order is cancelled).
    refund_credit_waiting: int = 0
    lowest_total: int | None = None  # the lowest total an order.updated reported
    issued: tuple[IssuedCredit, ...] = ()
    events: tuple[str, ...] = ()
    # What the order adds to its buyer's statistics now (``counted()`` once written).
    counted_spent: int = 0
    counted_order: bool = False

    def waiting_refund_settled(self, dropped: int) -> OrderRecord:
        """The refund that waited on the held credit settles: ``dropped`` of it was no refund
        (the credit never left the wallet), the rest has been issued."""
        return replace(self, refunded_store_credit=self.refunded_store_credit - dropped, refund_credit_waiting=0)

    @property
    def gross(self) -> int:
        """The order's value: what was charged plus the store credit spent."""
        return self.paid_total + self.captured

    @property
    def refunded(self) -> int:
        return self.refunded_original + self.refunded_store_credit

    @property
    def fully_refunded(self) -> bool:
        return self.paid and self.refunded > 0 and self.refunded >= self.gross

    def kept_share(self, amount: int) -> int:
        """``amount`` in the share of the order's value not refunded, half-up."""
        if self.gross == 0:
            return 0 if self.refunded else amount
        kept = max(0, self.gross - self.refunded)
        return (2 * amount * kept + self.gross) // (2 * self.gross)

    def counted(self) -> tuple[int, bool]:
        """What the order adds to its buyer's statistics, given every event so far: what was
        charged, in the share not refunded; nothing once cancelled or refunded in full (paying
        and refunding orders must not reach a milestone with nothing bought)."""
        if not self.paid or self.cancelled or self.fully_refunded:
            return 0, False
        return self.kept_share(self.paid_total), True

    def to_take_back(self, issued: IssuedCredit) -> int:
        """How much more of credit the order issued should be taken back, given every event so
        far (a function of the events, so applying it again takes nothing more)."""
        if issued.kind == MILESTONE:
            keep = issued.amount  # the buyer's statistics decide: ``milestones_lost``
        elif self.cancelled or self.fully_refunded:
            keep = 0
        elif issued.full is not None:
            keep = min(issued.amount, self.kept_share(issued.full))
        else:
            keep = issued.amount
        return max(0, issued.amount - keep - issued.taken)

    def credit_due_back(self) -> int:
        """How much of the spent credit should be back in the wallet, given every event so far.
        A function of the events alone (``returned`` only keeps it from falling), so settling
        again, or after an ignored event, returns nothing more."""
        spent = self.captured
        if spent == 0:
            return 0
        while_open = self._returned_while_open(spent)
        if self.cancelled:
            # Everything not yet refunded comes back, credit first; value already refunded (as
            # new credit or to the card) is not refunded twice.
            unrefunded = max(0, self.gross - self.refunded_store_credit - self.refunded_original)
            return max(self.returned, while_open + min(spent - while_open, unrefunded))
        return max(self.returned, while_open)

    def returned_beyond_refunds(self) -> int:
        """Credit a lower total returned that the card refunds' proportional share does not
        already cover: value given back to the buyer outside any refund."""
        spent = self.captured
        if not spent or self.lowest_total is None or not self.gross:
            return 0
        proportional = (2 * self.refunded_original * spent + self.gross) // (2 * self.gross)
        return max(0, min(spent, spent - self.lowest_total) - proportional)

    def _returned_while_open(self, spent: int) -> int:
        # A refund to the original methods returns credit in proportion to how the order was
        # paid (cumulative, half-up, so partial refunds add up to exactly ``spent``); a lower
        # total returns what the credit now exceeds. Both describe the same lost value: the
        # larger covers it, adding them would pay twice.
        proportional = (2 * self.refunded_original * spent + self.gross) // (2 * self.gross) if self.gross else 0
        excess = max(0, spent - self.lowest_total) if self.lowest_total is not None else 0
        return min(spent, max(proportional, excess))


@dataclass
class WalletEdits:
    """Several changes to one wallet in one event (capture, then a reward, …) become one put,
    conditioned on the version read, with one ledger entry per change."""

    before: Wallet
    after: Wallet
    entries: list[LedgerEntry]

    @classmethod
    def of(cls, wallet: Wallet) -> WalletEdits:
        return cls(wallet, wallet, [])

    def apply(self, change: WalletChange) -> LedgerEntry:
        self.after = change.after
        self.entries.append(change.entry)
        return change.entry

    @property
    def changed(self) -> bool:
        return self.after is not self.before


def snapshot_allocations(wallet: Wallet, allocations: tuple[tuple[str, int], ...]) -> tuple[SpentLot, ...]:
    return tuple(SpentLot(LotSnapshot.of(wallet.lots[lot_id]), spent) for lot_id, spent in allocations if spent)


def return_credit(
    wallet: Wallet,
    record: OrderRecord,
    amount: int,
    *,
    reason: str,
    actor: str,
    now_ms: int,
) -> tuple[list[WalletChange], OrderRecord]:
    """Put ``amount`` of the order's spent credit back into the lots it came from, the lot spent
    last first (lots owing credit to a cancelled order before all others). A lot that has
    expired meanwhile gets the credit and loses it again at once: a refund entry, then an
    expiry entry, so the ledger shows both."""
    if amount <= 0:
        return [], record
    left = amount
    lots = dict(wallet.lots)
    moves: list[tuple[str, int]] = []
    sources: list[tuple[str, int]] = []
    spent_lots = list(record.spent_lots)
    # The lot spent last first, but lots that owe credit to a cancelled order before any other:
    # what comes back pays that debt. Otherwise, when refunds as new credit already cover part
    # of the order, the credit that stays spent would be the owed reward's, and its value would
    # live on in the refund (a cancelled order's reward turned into credit for good).
    order = sorted(reversed(range(len(spent_lots))), key=lambda i: spent_lots[i].lot.lot_id not in wallet.owed_back)
    for index in order:
        spent_lot = spent_lots[index]
        back = min(left, spent_lot.spent - spent_lot.returned)
        if back <= 0:
            continue
        snap = spent_lot.lot
        current = lots.get(snap.lot_id)
        if current is not None and current.expiring_notified:
            # Announced, then spent: the customer is told again of the credit she has back.
            lots[snap.lot_id] = replace(
                current, remaining=current.remaining + back, expiring_notified=False, returned_seq=wallet.seq + 1
            )
        elif current is not None:
            lots[snap.lot_id] = replace(current, remaining=current.remaining + back)
        else:
            lots[snap.lot_id] = Lot(
                lot_id=snap.lot_id,
                original=snap.original,
                remaining=back,
                issued_at=snap.issued_at,
                source=snap.source,
                expires_at=snap.expires_at,
                valid_from=snap.valid_from,
                restrictions=snap.restrictions,
                returned_seq=wallet.seq + 1,  # the refund entry below
            )
        spent_lots[index] = replace(spent_lot, returned=spent_lot.returned + back)
        moves.append((snap.lot_id, back))
        sources.append((snap.source, back))
        left -= back
        if left == 0:
            break
    if left:
        # Cannot happen while ``credit_due_back`` ≤ ``captured``; refuse rather than invent credit.
        raise InsufficientCredit(detail=f"order {record.order_id!r} has no more spent credit to return")
    refund = change_lots(
        wallet,
        lots,
        entry_type="refund",
        amount=amount,
        moves=tuple(moves),
        by_source=_by_source(sources),
        reason=reason,
        actor=actor,
        now_ms=now_ms,
        order_id=record.order_id,
    )
    changes = [refund, *take_owed_back(refund.after, now_ms=now_ms)]  # credit an earlier order is owed
    now = now_ms // 1000
    for lot_id, _ in moves:
        if lot_id not in changes[-1].after.lots or not lots[lot_id].is_expired(now):
            continue
        expiry = expire_lot(changes[-1].after, lot_id, now_ms)
        if expiry is not None:
            changes.append(expiry)
    returned = replace(record, returned=record.returned + amount, spent_lots=tuple(spent_lots))
    return changes, returned


def take_back(
    wallet: Wallet, issued: IssuedCredit, owed: int, *, reason: str, now_ms: int, order_id: str
) -> tuple[Wallet, WalletChange | None]:
    """Take back ``owed`` of credit the order issued: now as far as it is unspent and not held,
    the rest when it comes back into its lot (a hold released, an order that spent it cancelled).
    Credit spent for good stays spent. The wallet after, and the debit taken now if any."""
    lot = wallet.lots.get(issued.lot_id)
    amount = min(owed, lot.remaining - lot.held) if lot is not None else 0
    change = None
    if amount > 0:
        change = spend_allocations(
            wallet,
            allocations=((issued.lot_id, amount),),
            reason=reason,
            actor=TAKE_BACK_ACTOR,
            now_ms=now_ms,
            entry_type="debit",
            order_id=order_id,
        )
        wallet = change.after
    if amount < owed:
        wallet = owe_back(wallet, issued.lot_id, OwedBack(order_id, owed - amount, reason))
    return wallet, change


# --- earning rules -------------------------------------------------------------------------


@dataclass(frozen=True)
class StandingMilestone:
    """A milestone reward the buyer holds: ``key`` names its threshold, ``order_id`` the order
    whose record issued it (lot ``lot_id``). Taken back when the orders that stand no longer
    reach the threshold, whichever order's cancel or refund makes them fall short."""

    key: str
    order_id: str
    lot_id: str


@dataclass(frozen=True)
class CustomerStats:
    """Paid orders of one customer in one currency: what milestones and referrals look at."""

    merchant_id: str
    customer_id: str
    currency: str
    version: int = 0
    orders: int = 0
    spent: int = 0
    fired: tuple[str, ...] = ()  # milestones already rewarded (each fires once, even if taken back)
    standing: tuple[StandingMilestone, ...] = ()  # of those, the rewards the buyer still holds


@dataclass(frozen=True)
class Reward:
    customer_id: str
    amount: int
    rule: int  # index of the rule in the merchant's settings (its own expiry applies)
    reason: str
    scales: bool = False  # a share of the order's total: a partial refund takes back its share
    milestone: str | None = None  # the milestone's key: held while the statistics reach it


def rule_minor(text: str, currency: str) -> int | None:
    """A settings amount (no currency of its own) in the order's currency; None when it has
    more decimals than the currency (``"0.50"`` in JPY): such a rule cannot pay in it."""
    scaled = Decimal(text) * 10 ** exponent(currency)
    return int(scaled) if scaled == scaled.to_integral_value() else None


def percent_of(amount: int, percent: str) -> int:
    """``percent``% of ``amount`` minor units, half-up to the minor unit."""
    share = Decimal(amount) * Decimal(percent) / 100
    return int(share.quantize(Decimal(1), rounding="ROUND_HALF_UP"))


REFERRAL_PAID = "referral"  # in CustomerStats.fired once the referee's referral has paid


def milestone_key(orders: int | None, spent: str | None) -> str:
    return f"orders:{orders}" if orders is not None else f"spent:{Decimal(str(spent)).normalize()}"


def earn(
    rules: list[dict[str, Any]],
    *,
    buyer: str,
    referrer: str | None,
    total: int,
    currency: str,
    stats: CustomerStats,
    counted: int | None = None,
    paid_elsewhere: bool = False,
) -> tuple[list[Reward], CustomerStats]:
    """The rewards one newly paid order earns, and the buyer's statistics after it.

    ``total`` is what was charged (after store credit); ``counted`` what of it the statistics
    count (less when part was refunded before the payment arrived). Each milestone pays once
    per customer and currency; a referral pays on the referee's first paid order only, in any
    currency (``paid_elsewhere``: the buyer has orders that stand in another currency)."""
    after = replace(stats, orders=stats.orders + 1, spent=stats.spent + (total if counted is None else counted))
    rewards: list[Reward] = []
    fired = list(stats.fired)
    for index, rule in enumerate(rules):
        if rule["type"] == "place_order":
            per, credit = rule_minor(rule["per"], currency), rule_minor(rule["credit"], currency)
            if per and credit and total >= per:
                rewards.append(Reward(buyer, total // per * credit, index, "Reward for order", scales=True))
        elif rule["type"] == "referral":
            # Once per referee, even if the first paid order is later cancelled (its count is
            # taken back, its reward only as far as the referrer has not spent it).
            first_order = stats.orders == 0 and not paid_elsewhere and REFERRAL_PAID not in fired
            if referrer is not None and referrer != buyer and first_order:
                scales = rule.get("fixed") is None
                amount = percent_of(total, rule["percent"]) if scales else rule_minor(rule["fixed"], currency) or 0
                if amount > 0:
                    rewards.append(Reward(referrer, amount, index, "Referral reward", scales=scales))
                    fired.append(REFERRAL_PAID)
        elif rule["type"] == "milestone":
            key = milestone_key(rule.get("orders"), rule.get("spent"))
            credit = rule_minor(rule["credit"], currency)
            if key not in fired and credit and _reached(rule, after, currency):
                fired.append(key)
                rewards.append(Reward(buyer, credit, index, "Milestone reward", milestone=key))
    return rewards, replace(after, fired=tuple(fired))


def recount(stats: CustomerStats, record: OrderRecord) -> CustomerStats:
    """The buyer's statistics once the order counts for what its events say now (``counted``)
    instead of what it counted for before. Milestones already paid stay paid (each pays once;
    the order's own rewards are taken back with it)."""
    spent, counts = record.counted()
    return replace(
        stats,
        orders=max(0, stats.orders + int(counts) - int(record.counted_order)),
        spent=max(0, stats.spent + spent - record.counted_spent),
    )


def _reached(rule: dict[str, Any], stats: CustomerStats, currency: str) -> bool:
    if rule.get("orders") is not None:
        return stats.orders >= int(rule["orders"])
    threshold = rule_minor(rule["spent"], currency)
    return threshold is not None and stats.spent >= threshold


def milestones_lost(stats: CustomerStats) -> tuple[StandingMilestone, ...]:
    """The milestone rewards the buyer holds that the orders standing no longer reach (a big
    order bought and returned after a small one reached the milestone). The threshold is the
    one the milestone fired at, in its key: a rule changed since does not move it."""
    lost = []
    for milestone in stats.standing:
        kind, _, threshold = milestone.key.partition(":")
        if kind == "orders":
            reached = stats.orders >= int(threshold)
        else:
            minor = rule_minor(threshold, stats.currency)
            reached = minor is not None and stats.spent >= minor
        if not reached:
            lost.append(milestone)
    return tuple(lost)


def without_lost_milestones(stats: CustomerStats) -> CustomerStats:
    lost = milestones_lost(stats)
    return replace(stats, standing=tuple(m for m in stats.standing if m not in lost))


def refund_beyond(record: OrderRecord, value: int) -> int:
    """How far the order's refunds (and what a lower total gave back that no card refund covers)
    exceed ``value``, the order's worth."""
    return max(0, record.refunded + record.returned_beyond_refunds() - value)


def check_refund_room(record: OrderRecord, amount: int, order_total: int, to: str) -> None:
    """A refund may not take what the order gave back past its value: its refunds, and the
    credit a lower total returned that no card refund accounts for (a refund as new credit
    would otherwise pay that part twice: 100.00 back, plus the 10.00 a lower total returned)."""
    value = record.gross if record.paid else order_total + record.captured
    after = replace(
        record,
        refunded_original=record.refunded_original + (amount if to == "original" else 0),
        refunded_store_credit=record.refunded_store_credit + (amount if to == "store_credit" else 0),
    )
    given_back = after.refunded + after.returned_beyond_refunds()
    if given_back > value:
        raise InvalidInput.on(
            "order.refund.amount",
            f"refunds would give back {given_back} minor units of an order worth {value}",
        )
