"""The order webhook: check the signature, then apply one order event exactly once.

Per event: one read of settings (to verify), one BatchGetItem (order record, the checkout's hold
record, the buyer's statistics), a read per wallet touched, and one ``TransactWriteItems`` that
holds every wallet change, the order record, the statistics, the hold record and the event's
idempotency record. A redelivered event id replays the first answer and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from store_credit import wallet_store
from store_credit.codes import code_of
from store_credit.errors import BadWebhookSignature, CheckoutConflict, IdempotentReplay, InvalidInput, field_errors
from store_credit.idempotency import ApiResult, guarded_write
from store_credit.models import ExpirySpec, OrderEvent, OrderIn, Settings
from store_credit.money import format_minor, money_json, parse_minor
from store_credit.observability import logger
from store_credit.orders import (
    MAX_CREDIT_UNITS,
    MAX_EVENTS_PER_ORDER,
    MILESTONE,
    REFERRAL_PAID,
    CustomerStats,
    IssuedCredit,
    OrderRecord,
    StandingMilestone,
    WalletEdits,
    check_refund_room,
    earn,
    milestones_lost,
    recount,
    refund_beyond,
    return_credit,
    snapshot_allocations,
    take_back,
    without_lost_milestones,
)
from store_credit.wallet import (
    Wallet,
    WalletChange,
    free_holds,
    issue_credit,
    release_hold,
    spend_allocations,
)
from store_credit.wallet_service import expiry_date_over, owed_expiry_for, settings_of
from store_credit.webhook_signatures import BadSignature, accepted_secrets, verify

ACTOR = "webhook:orders"
MILESTONE_LOST = "Milestone no longer reached"  # the reason of a milestone reward taken back


def receive(merchant_id: str, raw_body: bytes, signature: str | None, now: int | None = None) -> ApiResult:
    """Verify ``X-Signature`` over the raw body before reading anything else from it."""
    now = int(time.time()) if now is None else now
    record = wallet_store.load_settings(merchant_id)
    secrets = (
        accepted_secrets(record.webhook_secret, record.previous_webhook_secret, record.rotated_at, now)
        if record
        else []
    )
    try:
        # An unknown merchant has no secrets and fails like a wrong signature: nothing to probe.
        verify(signature, raw_body, secrets, now)
    except BadSignature as bad:
        logger.warning("order webhook refused", extra={"merchant_id": merchant_id, "why": str(bad)})
        raise BadWebhookSignature(detail=str(bad)) from None
    event = parse_event(raw_body)
    settings = settings_of(record)
    canonical = json.dumps(json.loads(raw_body), sort_keys=True, separators=(",", ":"))
    request_hash = hashlib.sha256(canonical.encode()).hexdigest()
    return guarded_write(
        lambda: _apply(merchant_id, event, settings, request_hash),
        lambda: wallet_store.get_idempotency_record(merchant_id, event.id, wallet_store.ORDER_EVENT_IDEMPOTENCY),
        request_hash,
    )


def parse_event(raw_body: bytes) -> OrderEvent:
    try:
        return OrderEvent.model_validate_json(raw_body)
    except ValidationError as error:
        raise InvalidInput.of(field_errors(error.errors())) from None


@dataclass
class _Run:
    """One event being applied: the wallets it touches (read once each) and what it did."""

    merchant_id: str
    event: OrderEvent
    settings: Settings
    now_ms: int
    wallets: dict[str, WalletEdits] = field(default_factory=dict)
    captured: int = 0
    returned: int = 0
    released: int = 0
    taken_back: int = 0
    issued: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = "applied"
    detail: str = ""

    @property
    def currency(self) -> str:
        return self.event.order.currency

    @property
    def order_id(self) -> str:
        return self.event.order.id

    def wallet(self, holder: str) -> WalletEdits:
        if holder not in self.wallets:
            stored = wallet_store.load_wallet(self.merchant_id, holder, self.currency)
            self.wallets[holder] = WalletEdits.of(stored or Wallet(self.merchant_id, holder, self.currency))
        return self.wallets[holder]

    def issue(
        self, customer_id: str, amount: int, *, kind: str, reason: str, source: str, expires: ExpirySpec | None
    ) -> str:
        """Issue credit the order owes or gives; the new lot's id."""
        edits = self.wallet(customer_id)
        entry = edits.apply(
            issue_credit(
                edits.after,
                amount=amount,
                reason=reason,
                actor=ACTOR,
                now_ms=self.now_ms,
                source=source,
                # The default's fixed date passed since it was set: as if no default (never).
                expires_at=owed_expiry_for(expires, self.settings, self.now_ms // 1000),
                order_id=self.order_id,
            )
        )
        self.issued.append({"customer_id": customer_id, "amount": amount, "kind": kind, "entry_id": entry.entry_id})
        return entry.lots[0][0]

    def issue_refund(self, customer_id: str, amount: int) -> None:
        """A refund as store credit: a new lot with the merchant's default expiry."""
        self.issue(customer_id, amount, kind="refund", reason="Order refunded", source="refund", expires=None)

    def apply_all(self, edits: WalletEdits, changes: list[WalletChange]) -> None:
        """Apply ``changes`` to one wallet; debits among them are credit taken back (this
        order's, or an earlier order's that was owed and came back into its lot now)."""
        for change in changes:
            edits.apply(change)
            if change.entry.type == "debit":
                self.taken_back -= change.entry.amount

    def ignore(self, detail: str) -> None:
        self.outcome, self.detail = "ignored", detail

    def body(self) -> dict[str, Any]:
        def money(value: int) -> dict[str, str]:
            return money_json(value, self.currency)

        return {
            "event_id": self.event.id,
            "type": self.event.type,
            "order_id": self.order_id,
            "outcome": self.outcome,
            "detail": self.detail,
            "captured": money(self.captured),
            "returned": money(self.returned),
            "released": money(self.released),
            "taken_back": money(self.taken_back),
            "issued": [{**i, "amount": money(i["amount"])} for i in self.issued],
        }


def _load(
    merchant_id: str,
    order: OrderIn,
    customer_id: str,
    order_and_hold: tuple[OrderRecord | None, wallet_store.HoldRecord | None] | None = None,
) -> tuple[OrderRecord, wallet_store.HoldRecord | None, CustomerStats, Wallet | None]:
    """The order's record (or a new one), its checkout's hold record, the buyer's statistics and
    wallet; an event must agree with the order's customer, currency and checkout so far."""
    stored, hold, stats, buyer_wallet = wallet_store.load_order_state(
        merchant_id, order.id, order.checkout_id, customer_id, order.currency, order_and_hold=order_and_hold
    )
    if stored is not None and (stored.customer_id, stored.currency) != (customer_id, order.currency):
        raise InvalidInput.on("order.customer_id", "differs from the customer or currency of this order's first event")
    record = stored or OrderRecord(merchant_id, order.id, customer_id, order.currency, order.checkout_id)
    if order.checkout_id is not None and record.checkout_id is None:
        record = replace(record, checkout_id=order.checkout_id)  # events before this one did not name it
    elif order.checkout_id is not None and order.checkout_id != record.checkout_id:
        raise InvalidInput.on("order.checkout_id", "differs from the checkout this order's earlier events named")
    elif order.checkout_id is None and record.checkout_id is not None:
        hold = wallet_store.load_hold_record(merchant_id, record.checkout_id)  # this event left it out
    return record, hold if record.checkout_id is not None else None, stats, buyer_wallet


def _buyer(
    merchant_id: str, order: OrderIn
) -> tuple[str, tuple[OrderRecord | None, wallet_store.HoldRecord | None] | None]:
    """Whose order it is: the customer it names, else (a guest's order) the holder of the
    store-credit code its checkout was paid with, which the guest holds. Credit coming back,
    refunds as store credit and store credit bought go to that code; a guest earns no rewards.
    For a guest, also the order and hold records read to learn it (``_load`` reuses them)."""
    if order.customer_id is not None:
        return order.customer_id, None
    stored, hold = wallet_store.load_order_and_hold(merchant_id, order.id, order.checkout_id)
    holder = stored.customer_id if stored is not None else hold.customer_id if hold is not None else ""
    if code_of(holder) is None:
        raise InvalidInput.on("order.customer_id", "required, unless the order's checkout was paid with a code")
    return holder, (stored, hold)


def _apply(merchant_id: str, event: OrderEvent, settings: Settings, request_hash: str) -> ApiResult:
    order = event.order
    buyer, known = _buyer(merchant_id, order)
    total = parse_minor(order.total, order.currency, field="order.total", allow_zero=True)
    record, checkout_hold, stats, buyer_wallet = _load(merchant_id, order, buyer, known)
    run = _Run(merchant_id, event, settings, time.time_ns() // 1_000_000)
    run.wallets[buyer] = WalletEdits.of(buyer_wallet or Wallet(merchant_id, buyer, order.currency))
    if event.id in record.events:
        first = wallet_store.get_idempotency_record(merchant_id, event.id, wallet_store.ORDER_EVENT_IDEMPOTENCY)
        if first is not None:
            raise IdempotentReplay(first)  # the first answer (or 409 for another body)
        # Seen, and its idempotency record has aged out: still nothing to do.
        run.outcome, run.detail = "duplicate", "this event was applied before"
        return ApiResult(200, run.body())
    if len(record.events) >= MAX_EVENTS_PER_ORDER:
        raise InvalidInput.on("order.id", f"an order takes at most {MAX_EVENTS_PER_ORDER} events")
    stats_after: CustomerStats | None = None
    hold_write: wallet_store.HoldRecord | None = None
    if event.type == "order.paid":
        record, stats_after, hold_write = _paid(run, record, checkout_hold, stats, total)
    elif event.type == "order.cancelled":
        record, hold_write = _cancelled(run, record, checkout_hold)
    elif event.type == "order.refunded":
        record = _refunded(run, record, checkout_hold, total)
    elif event.type == "order.updated":
        record = _updated(run, record, total)
    elif record.paid or record.cancelled:
        run.ignore("the order is already paid or cancelled")
    else:
        run.detail = "payment failed: the hold stays until it expires or the payment succeeds"
    if run.outcome != "ignored" and event.type in ("order.paid", "order.cancelled", "order.refunded"):
        # What the order counts for and what it gave follow its events: a cancel or a refund in
        # full takes all of it back, a partial refund its share.
        if record.counted() != (record.counted_spent, record.counted_order):
            stats_after = recount(stats_after or stats, record)
            spent, counts = record.counted()
            record = replace(record, counted_spent=spent, counted_order=counts)
        reason = "Order cancelled" if event.type == "order.cancelled" else "Order refunded"
        record = _take_back_issued(run, record, reason)
    others: list[OrderRecord] = []
    if stats_after is not None and milestones_lost(stats_after):
        record, others = _take_back_milestones(run, record, stats_after)
        stats_after = without_lost_milestones(stats_after)
    # This event paid the buyer's referral (the mark of one paid in any currency is in ``stats``).
    referral_paid = stats_after is not None and REFERRAL_PAID in stats_after.fired and REFERRAL_PAID not in stats.fired
    stats_write = (stats.version, replace(stats_after, version=stats.version + 1)) if stats_after else None
    body = run.body()
    after = replace(record, version=record.version + 1, events=(*record.events, event.id))
    wallet_store.commit_order_event(
        wallets=list(run.wallets.values()),
        order_before_version=record.version,
        order=after,
        other_orders=others,
        stats=stats_write,
        hold=hold_write,
        referral_paid=referral_paid,
        idempotency=wallet_store.IdempotentWrite(
            merchant_id=merchant_id,
            key=event.id,
            request_hash=request_hash,
            status=200,
            body=json.dumps(body, separators=(",", ":")),
            now=run.now_ms // 1000,
            sort_key=wallet_store.ORDER_EVENT_IDEMPOTENCY,
        ),
    )
    logger.info(
        "order event applied",
        extra={
            "event_type": event.type,
            "order_id": order.id,
            "outcome": run.outcome,
            "captured": run.captured,
            "returned": run.returned,
            "released": run.released,
            "issued": len(run.issued),
        },
    )
    return ApiResult(200, body)


def _check_hold(record: OrderRecord, hold: wallet_store.HoldRecord) -> None:
    if hold.currency != record.currency:
        raise InvalidInput.on("order.currency", f"the checkout's credit is in {hold.currency}")
    if code_of(hold.customer_id) is None and hold.customer_id != record.customer_id:
        raise InvalidInput.on("order.checkout_id", "the checkout belongs to another customer")
    if hold.order_id not in (None, record.order_id):
        raise CheckoutConflict(detail=f"the checkout's credit belongs to order {hold.order_id!r}")


def _claim_captured(record: OrderRecord, hold: wallet_store.HoldRecord) -> OrderRecord:
    """The checkout spent the credit at apply (``capture: true``): the order takes it over."""
    return replace(record, holder=hold.customer_id, captured=hold.amount, spent_lots=hold.captured_lots)


def _paid(
    run: _Run, record: OrderRecord, hold: wallet_store.HoldRecord | None, stats: CustomerStats, total: int
) -> tuple[OrderRecord, CustomerStats | None, wallet_store.HoldRecord | None]:
    if record.paid:
        run.ignore("the order is already paid")
        return record, None, None
    if record.cancelled:
        run.ignore("the order was cancelled before it was paid; nothing captured")
        return record, None, None
    hold_write = None
    if hold is not None:
        _check_hold(record, hold)
        if hold.state == "captured":
            record = _claim_captured(record, hold)
            run.captured = hold.amount
            hold_write = replace(hold, order_id=record.order_id)
        elif hold.state == "open":
            record, hold_write = _capture(run, record, hold)
        else:
            run.detail = "the checkout's hold was released before payment: no credit captured"
    record = _issue_waiting_refund(run, replace(record, paid=True, paid_total=total))
    units = [
        (
            item,
            parse_minor(item.unit_price, run.currency, field="order.items", allow_zero=True),
            parse_minor(item.credit_amount or item.unit_price, run.currency, field="order.items", allow_zero=True),
        )
        for item in run.event.order.items
        if item.store_credit_product
    ]
    if sum(item.quantity for item, _, amount in units if amount) > MAX_CREDIT_UNITS:
        raise InvalidInput.on("order.items", f"at most {MAX_CREDIT_UNITS} units of store-credit products per order")
    record, stats_after = _earn(run, record, stats, total)
    issued = list(record.issued)
    # Store credit never buys store credit. Apply refuses such a cart, but the cart paid may not
    # be the one applied: where the order spent credit, each unit's credit is issued in the share
    # of its price that what the order charged still pays (the credit paid for the rest first).
    money_left = total if record.captured else None
    short = 0
    for item, price, amount in units if not record.fully_refunded else ():  # refunded in full before paid
        recipient = item.recipient_customer_id or record.customer_id
        reason = "Store credit purchase" if recipient == record.customer_id else "Gift of store credit"
        for _ in range(item.quantity if amount else 0):
            given = amount
            if money_left is not None and price > 0:
                paid = min(price, money_left)
                money_left -= paid
                given = amount * paid // price
            short += amount - given
            if given == 0:
                continue
            lot_id = run.issue(recipient, given, kind="product", reason=reason, source="purchase", expires=None)
            issued.append(IssuedCredit(recipient, lot_id, given, "product"))
    if short:
        run.detail = (
            f"{format_minor(short, run.currency)} {run.currency} of store-credit products not issued: "
            "the order paid for them with store credit"
        )
    record = _settle_returns(run, replace(record, issued=tuple(issued)))  # refunds that came before payment
    return record, stats_after, hold_write


def _issue_waiting_refund(run: _Run, record: OrderRecord) -> OrderRecord:
    """A refund as store credit that overtook the payment, in the part that counted the credit
    the checkout held: issued now as far as the payment captured that credit. The rest is no
    refund at all (the hold let go before the payment came: the credit never left the wallet)."""
    waiting = record.refund_credit_waiting
    if not waiting:
        return record
    dropped = min(waiting, refund_beyond(record, record.gross))
    if waiting > dropped:
        run.issue_refund(record.customer_id, waiting - dropped)
    if dropped:
        run.detail = (
            f"{format_minor(dropped, run.currency)} {run.currency} of a refund as store credit not issued: "
            "the checkout's hold was let go before the payment captured it"
        )
    return record.waiting_refund_settled(dropped)


def _earn(run: _Run, record: OrderRecord, stats: CustomerStats, total: int) -> tuple[OrderRecord, CustomerStats | None]:
    """The earning rules for a newly paid order: rewards issued (those that scale with the total
    only in the share not refunded before the payment arrived) and the buyer's statistics."""
    counted, counts = record.counted()
    if not counts or code_of(record.customer_id) is not None:
        return record, None  # refunded in full before it was paid, or a guest's: it earns nothing
    referrer = run.event.order.referrer_customer_id
    # A first order in this currency may not be the buyer's first: read their other currencies'
    # statistics (one Query), only when a referral could pay on it.
    paid_elsewhere = (
        referrer not in (None, record.customer_id)
        and stats.orders == 0
        and REFERRAL_PAID not in stats.fired
        and any(rule.type == "referral" for rule in run.settings.earning_rules)
        and wallet_store.paid_orders_elsewhere(run.merchant_id, record.customer_id, run.currency)
    )
    rewards, stats_after = earn(
        [rule.model_dump(mode="json") for rule in run.settings.earning_rules],
        buyer=record.customer_id,
        referrer=referrer,
        total=total,
        currency=run.currency,
        stats=stats,
        counted=counted,
        paid_elsewhere=paid_elsewhere,
    )
    issued = list(record.issued)
    standing = list(stats_after.standing)
    for reward in rewards:
        amount = record.kept_share(reward.amount) if reward.scales else reward.amount
        if amount <= 0:
            continue
        expires = run.settings.earning_rules[reward.rule].expires
        if expires is not None and expiry_date_over(expires, run.settings, run.now_ms // 1000):
            # The rule's own fixed expiry date has passed since it was set: the reward would be
            # born expired, so the order earns it no more (the payment itself goes through). A
            # rule without one that falls back on a default date now over is still paid.
            logger.warning("reward not given: its expiry date is over", extra={"rule": reward.rule})
            continue
        if not run.wallet(reward.customer_id).after.can_hold(amount):
            # A rule worth more than the wallet can hold (a merchant's typo): refusing the event
            # would be a 422 the order system never re-sends, and the payment would capture
            # nothing. The order earns this reward no more; the rest of the event goes through.
            logger.warning("reward not given: the wallet cannot hold it", extra={"rule": reward.rule})
            run.detail = "a reward was not given: it would pass the largest balance a wallet holds"
            continue
        lot_id = run.issue(
            reward.customer_id, amount, kind="reward", reason=reward.reason, source="reward", expires=expires
        )
        full = reward.amount if reward.scales else None
        kind = MILESTONE if reward.milestone is not None else "reward"
        issued.append(IssuedCredit(reward.customer_id, lot_id, amount, kind, full=full))
        if reward.milestone is not None:
            standing.append(StandingMilestone(reward.milestone, record.order_id, lot_id))
    record = replace(record, issued=tuple(issued), counted_spent=counted, counted_order=True)
    return record, replace(stats_after, standing=tuple(standing))


def _capture(
    run: _Run, record: OrderRecord, hold_record: wallet_store.HoldRecord
) -> tuple[OrderRecord, wallet_store.HoldRecord | None]:
    """Spend exactly what the checkout's hold reserved, lot by lot (also past the hold's time,
    as long as the expiry job has not released it: the order was placed while it held)."""
    edits = run.wallet(hold_record.customer_id)
    hold = edits.after.holds.get(hold_record.checkout_id)
    if hold is None:
        run.detail = "the checkout's hold was released before payment: no credit captured"
        return record, None
    freed = release_hold(edits.after, hold.checkout_id)
    spent = snapshot_allocations(freed, hold.lots)
    edits.apply(
        spend_allocations(
            freed,
            allocations=hold.lots,
            reason="Order paid",
            actor=ACTOR,
            now_ms=run.now_ms,
            entry_type="capture",
            order_id=record.order_id,
        )
    )
    run.captured = hold.amount
    hold_write = replace(
        hold_record,
        state="captured",
        order_id=record.order_id,
        expires_at=None,
        updated_ms=run.now_ms,
        captured_lots=spent,
    )
    return replace(record, holder=hold_record.customer_id, captured=hold.amount, spent_lots=spent), hold_write


def _settle_returns(run: _Run, record: OrderRecord, reason: str = "Order refunded") -> OrderRecord:
    """Move the credit returned so far up to what every event so far says is due back."""
    due = record.credit_due_back() - record.returned
    if due <= 0 or record.holder is None:
        return record
    edits = run.wallet(record.holder)
    changes, record = return_credit(edits.after, record, due, reason=reason, actor=ACTOR, now_ms=run.now_ms)
    run.apply_all(edits, changes)
    run.returned += due
    return record


def _cancelled(
    run: _Run, record: OrderRecord, hold: wallet_store.HoldRecord | None
) -> tuple[OrderRecord, wallet_store.HoldRecord | None]:
    if record.cancelled:
        run.ignore("the order is already cancelled")
        return record, None
    record = replace(record, cancelled=True)
    if not record.paid and record.refund_credit_waiting:
        # The refund's part that waited for the payment to capture the held credit: never issued,
        # and now never will be (the cancel lets the hold go). It was no refund.
        record = record.waiting_refund_settled(dropped=record.refund_credit_waiting)
    hold_write = None
    if not record.paid and hold is not None:
        _check_hold(record, hold)
        if hold.state == "captured":
            record = _claim_captured(record, hold)  # to be returned just below
            hold_write = replace(hold, order_id=record.order_id)
        elif hold.state == "open":
            edits = run.wallet(hold.customer_id)
            open_hold = edits.after.holds.get(hold.checkout_id)
            if open_hold is not None:
                freed = free_holds(edits.after, (hold.checkout_id,), now_ms=run.now_ms)
                run.apply_all(edits, list(freed.taken_back))
                edits.after = freed.after  # released even when nothing was owed
                run.released = open_hold.amount
                hold_write = replace(
                    hold, state="released", order_id=record.order_id, expires_at=None, updated_ms=run.now_ms
                )
    return _settle_returns(run, record, reason="Order cancelled"), hold_write


def _take_back_issued(run: _Run, record: OrderRecord, reason: str) -> OrderRecord:
    """Take back what the order's events say it should no longer have given, as far as it is
    unspent: all of it after a cancel or a refund in full, the refunded share of rewards that
    scale with the order's total after a partial refund."""
    issued = []
    for credit in record.issued:
        owed = record.to_take_back(credit)
        taken = _take_back_one(run, credit, owed, reason, record.order_id) if owed else 0
        issued.append(replace(credit, taken=credit.taken + taken) if taken else credit)
    return replace(record, issued=tuple(issued))


def _take_back_milestones(
    run: _Run, record: OrderRecord, stats: CustomerStats
) -> tuple[OrderRecord, list[OrderRecord]]:
    """Take back the milestone rewards the buyer's orders that stand no longer reach, from the
    order that issued each (this one, or an earlier one whose record is written with this event:
    the order a cancel or refund leaves short is seldom the one that reached the milestone).
    This order's record, and the other records changed."""
    others: dict[str, OrderRecord] = {}
    for milestone in milestones_lost(stats):
        holder = record if milestone.order_id == record.order_id else others.get(milestone.order_id)
        if holder is None:
            holder = wallet_store.load_order(run.merchant_id, milestone.order_id)
            if holder is None:
                continue
        issued = []
        for credit in holder.issued:
            owed = credit.amount - credit.taken
            if credit.lot_id == milestone.lot_id and credit.kind == MILESTONE and owed > 0:
                taken = _take_back_one(run, credit, owed, MILESTONE_LOST, holder.order_id)
                issued.append(replace(credit, taken=credit.taken + taken))
            else:
                issued.append(credit)
        holder = replace(holder, issued=tuple(issued))
        if holder.order_id == record.order_id:
            record = holder
        else:
            others[holder.order_id] = holder
    return record, list(others.values())


def _take_back_one(run: _Run, credit: IssuedCredit, owed: int, reason: str, order_id: str) -> int:
    """Take back ``owed``: what is unspent now, the rest as it comes back into its lot (so
    all of it counts as taken: the order owes nothing more)."""
    edits = run.wallet(credit.customer_id)
    after, change = take_back(edits.after, credit, owed, reason=reason, now_ms=run.now_ms, order_id=order_id)
    if change is not None:
        run.apply_all(edits, [change])
    edits.after = after
    return owed


def _refunded(run: _Run, record: OrderRecord, hold: wallet_store.HoldRecord | None, total: int) -> OrderRecord:
    refund = run.event.order.refund
    assert refund is not None  # the model requires it for order.refunded
    amount = parse_minor(refund.amount, run.currency, field="order.refund.amount")
    if record.cancelled:
        run.ignore("the order is cancelled: its credit came back then")
        return record
    # Before the payment, the order is worth its total and the credit its checkout reserved for
    # it (what the payment will capture): a refund in full that overtakes the payment is not a
    # 422, which the order system would never retry, leaving the buyer's credit spent for good.
    unclaimed = not record.paid and hold is not None and hold.order_id is None
    reserved = hold.amount if unclaimed and hold is not None and hold.state in ("open", "captured") else 0
    check_refund_room(record, amount, total + reserved, refund.to)
    if not record.paid:
        # The refund says what was charged: the order is worth that plus its credit, as the room
        # just checked, also to a cancel that overtakes the payment (or the cancel would return
        # less of the spent credit than it does once the payment has arrived).
        record = replace(record, paid_total=total)
    if refund.to == "store_credit":
        record = replace(record, refunded_store_credit=record.refunded_store_credit + amount)
        waiting = record.refund_credit_waiting
        if unclaimed and hold is not None and hold.state == "open":
            # Credit a hold reserves is not spent yet: the hold may lapse, or be let go, before
            # the payment captures it. The part of the refund only that credit pays for waits
            # for the capture; issued now, it would be credit minted if the capture never came.
            beyond = refund_beyond(record, total + record.captured)
            waiting = max(waiting, min(waiting + amount, beyond))
        issue_now = amount - (waiting - record.refund_credit_waiting)
        if issue_now:
            run.issue_refund(record.customer_id, issue_now)
        if waiting > record.refund_credit_waiting:
            run.detail = (
                f"{format_minor(waiting - record.refund_credit_waiting, run.currency)} {run.currency} of it is "
                "issued when the payment captures the credit the checkout holds"
            )
        return replace(record, refund_credit_waiting=waiting)
    record = replace(record, refunded_original=record.refunded_original + amount)
    if not record.paid:
        run.detail = "recorded: the credit comes back when the order is paid"
    return _settle_returns(run, record)


def _updated(run: _Run, record: OrderRecord, total: int) -> OrderRecord:
    if record.cancelled:
        run.ignore("the order is cancelled")
        return record
    lowest = total if record.lowest_total is None else min(record.lowest_total, total)
    record = replace(record, lowest_total=lowest)
    if not record.paid:
        run.detail = "recorded: applied when the order is paid"
    return _settle_returns(run, record, reason="Order updated")
