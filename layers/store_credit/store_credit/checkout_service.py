"""Apply credit at checkout (a hold, or an immediate capture) and release it.

One consistent read (settings + wallet) and one transaction (wallet + the checkout's hold
item, + a ledger entry when capturing). The checkout id is the natural idempotency key: the
same request again answers the same quote while its hold is live (after the hold's time it is
quoted and held again); a changed cart replaces the hold in one write.
"""

from __future__ import annotations

import json
import time
from fractions import Fraction
from typing import Any

from store_credit import wallet_store
from store_credit.auth import Caller
from store_credit.checkout_math import Cart, CartLine, CheckoutQuote, CreditRules, CreditSource, Tier, quote
from store_credit.clock import iso
from store_credit.codes import holder_of
from store_credit.errors import InvalidInput, NotFound
from store_credit.idempotency import ApiResult, guarded_write
from store_credit.lots import spend_order
from store_credit.models import ApplyRequest, CartIn, Settings
from store_credit.money import exponent, money_json, parse_minor
from store_credit.observability import logger
from store_credit.orders import SpentLot, snapshot_allocations
from store_credit.wallet import Wallet, email_unlocks, free_holds, place_hold, spend_allocations
from store_credit.wallet_service import settings_of

# The wallet keeps 64 bits of the request's fingerprint per hold, enough to spot a replay
# (confirmed against the full fingerprint on the hold item) at a fraction of the write units.
WALLET_FINGERPRINT = 16


def _minor(text: str, currency: str, field: str) -> int:
    return parse_minor(text, currency, field=field, allow_zero=True)


def build_cart(cart: CartIn) -> Cart:
    currency = cart.currency
    lines = tuple(
        CartLine(
            line_id=item.id,
            unit_price=_minor(item.unit_price, currency, f"cart.items.{i}.unit_price"),
            quantity=item.quantity,
            tax_rate=Fraction(item.tax_rate) / 100,
            product_id=item.product_id,
            categories=tuple(item.categories),
            discountable=item.discountable,
            store_credit_product=item.store_credit_product,
        )
        for i, item in enumerate(cart.items)
    )
    if len({line.line_id for line in lines}) != len(lines):
        raise InvalidInput.on("cart.items", "each item needs its own id")
    return Cart(
        lines=lines,
        discount_total=_minor(cart.discount_total, currency, "cart.discount_total"),
        shipping=_minor(cart.shipping, currency, "cart.shipping"),
        shipping_tax_rate=Fraction(cart.shipping_tax_rate) / 100,
        prices_include_tax=cart.prices_include_tax,
    )


def _tier_minor(text: str, currency: str, *, round_up: bool) -> int:
    """A tier amount (settings hold one set of tiers for every currency, with up to 3 decimals)
    in minor units of the cart's currency: "100.00" is 100 yen. Finer than the currency, a
    minimum rounds up (an order of whole yen reaches 100.5 only at 101) and a cap rounds down
    (at most 10.5 yen is at most 10): the same comparisons, exact, never a 422 for the cart."""
    minor = Fraction(text) * 10 ** exponent(currency)
    return -(-minor.numerator // minor.denominator) if round_up else minor.numerator // minor.denominator


def credit_rules(settings: Settings, currency: str) -> CreditRules:
    tiers = tuple(
        Tier(
            min_order=_tier_minor(t.min_order, currency, round_up=True) if t.min_order is not None else None,
            max_fixed=_tier_minor(t.max_fixed, currency, round_up=False) if t.max_fixed is not None else None,
            max_percent=Fraction(t.max_percent) if t.max_percent is not None else None,
        )
        for t in settings.redemption_limits
    )
    return CreditRules(
        exponent=exponent(currency),
        apply_to_shipping=settings.apply_to_shipping,
        include_tax=settings.include_tax,
        exclude_non_discountable=settings.exclude_non_discountable,
        tiers=tiers,
    )


def credit_sources(wallet: Wallet, now: int) -> list[CreditSource]:
    return [
        CreditSource(
            lot_id=lot.lot_id,
            amount=lot.spendable(now),
            product_ids=frozenset(lot.restrictions.product_ids),
            categories=frozenset(lot.restrictions.categories),
        )
        for lot in sorted(wallet.lots.values(), key=spend_order)
        if lot.spendable(now) > 0
    ]


def quote_json(
    request: ApplyRequest, result: CheckoutQuote, after: Wallet, *, tz: str, hold_expires_at: int | None, now: int
) -> dict[str, Any]:
    currency = request.cart.currency
    totals = result.totals

    def money(value: int) -> dict[str, str]:
        return money_json(value, currency)

    return {
        "checkout_id": request.checkout_id,
        "customer_id": request.customer_id,
        "code": request.code,
        "applied": money(result.applied),
        "breakdown": {
            "items": money(result.breakdown.items),
            "shipping": money(result.breakdown.shipping),
            "tax": money(result.breakdown.tax),
        },
        "totals": {
            "subtotal": money(totals.subtotal),
            "discounts": money(totals.discounts),
            "shipping": money(totals.shipping),
            "tax": money(totals.tax),
            "store_credit": money(totals.store_credit),
            "total": money(totals.total),
        },
        "hold": (
            {"id": request.checkout_id, "expires_at": iso(hold_expires_at, tz)} if hold_expires_at is not None else None
        ),
        "captured": request.capture and result.applied > 0,
        "balance_after": money(after.available(now)),
        "lots": [{"lot_id": lot_id, "amount": money(amount)["amount"]} for lot_id, amount in result.allocations],
    }


def apply(caller: Caller, request: ApplyRequest, fingerprint: str) -> ApiResult:
    # A wallet holder is the customer, or the code (a wallet of its own).
    holder = request.customer_id if request.customer_id is not None else holder_of(str(request.code))
    currency = request.cart.currency
    cart = build_cart(request.cart)
    requested = _minor(request.requested_amount, currency, "requested_amount") if request.requested_amount else None

    def attempt() -> ApiResult:
        record, stored = wallet_store.load_cached_settings_and_wallet(caller.merchant_id, holder, currency)
        settings = settings_of(record)
        if request.code is not None:
            _check_code(stored, request.email)
        wallet = stored or Wallet(caller.merchant_id, holder, currency)
        existing = wallet.holds.get(request.checkout_id)
        now_ms = time.time_ns() // 1_000_000
        now = now_ms // 1000
        # The same request again answers the same quote while its hold is live. Past the hold's
        # time it is no replay: that answer's hold is over (the expiry job may let it go at any
        # moment, and order.paid then captures nothing), so the checkout is quoted and held
        # again below, as a changed cart would be, with what the wallet can give now.
        if (
            existing is not None
            and existing.expires_at > now
            and existing.fingerprint == fingerprint[:WALLET_FINGERPRINT]
        ):
            hold_record = wallet_store.load_hold_record(caller.merchant_id, request.checkout_id)
            if hold_record is not None and hold_record.fingerprint == fingerprint:
                return ApiResult(200, json.loads(hold_record.response), replayed=True)
        # This checkout's own hold is being replaced. Credit it frees which a cancelled order
        # is owed (the order was cancelled while this checkout held its reward) goes back
        # first: it is not the buyer's to spend again.
        released = free_holds(wallet, (request.checkout_id,), now_ms=now_ms)
        freed = released.after
        entries = [change.entry for change in released.taken_back]
        result = quote(cart, credit_rules(settings, currency), credit_sources(freed, now), requested)
        hold_expires_at = None
        captured_lots: tuple[SpentLot, ...] = ()
        if request.capture and result.applied > 0:
            # What each lot gave, kept on the checkout so a cancelled order returns it to them.
            captured_lots = snapshot_allocations(freed, result.allocations)
            change = spend_allocations(
                freed,
                allocations=result.allocations,
                reason="checkout",
                actor=caller.actor,
                now_ms=now_ms,
                entry_type="capture",
                order_id=request.checkout_id,
            )
            after, state = change.after, "captured"
            entries.append(change.entry)
        else:
            hold_expires_at = now + settings.hold_ttl_minutes * 60 if result.applied > 0 else None
            after = place_hold(
                freed,
                checkout_id=request.checkout_id,
                allocations=result.allocations,
                expires_at=hold_expires_at or now,
                fingerprint=fingerprint[:WALLET_FINGERPRINT],
                now_ms=now_ms,
            )
            state = "open" if result.applied > 0 else ("released" if existing is not None else "none")
        body = quote_json(request, result, after, tz=settings.timezone, hold_expires_at=hold_expires_at, now=now)
        log_decision(request, cart, result, state)
        hold_record = wallet_store.HoldRecord(
            merchant_id=caller.merchant_id,
            checkout_id=request.checkout_id,
            customer_id=holder,
            currency=currency,
            state=state,
            # A hold this apply let go is announced (credit.released) with what it gave back.
            amount=existing.amount if state == "released" and existing is not None else result.applied,
            fingerprint=fingerprint,
            response=json.dumps(body, separators=(",", ":")),
            expires_at=hold_expires_at,
            updated_ms=now_ms,
            captured_lots=captured_lots,
        )
        if state == "none":
            # Nothing reserved, nothing to undo: no write. But the checkout id may already be
            # taken: a retried capture whose credit is now spent must answer its first result
            # (not "no credit", which would have the buyer pay again for what credit paid), and
            # a captured or another holder's checkout is the 409 a write would have met.
            wallet_store.refuse_hold_overwrite(
                wallet_store.load_hold_record(caller.merchant_id, request.checkout_id), hold_record
            )
            return ApiResult(200, body)
        wallet_store.commit_hold(wallet, after, hold_record, entries)
        return ApiResult(200, body)

    return guarded_write(attempt, lambda: None, fingerprint)


def log_decision(request: ApplyRequest, cart: Cart, result: CheckoutQuote, state: str) -> None:
    """Every input and outcome of the decision, and nothing that identifies the buyer."""
    logger.info(
        "checkout credit decided",
        extra={
            "checkout_id": request.checkout_id,
            "by_code": request.code is not None,
            "currency": request.cart.currency,
            "lines": len(cart.lines),
            "subtotal": result.totals.subtotal,
            "discounts": result.totals.discounts,
            "shipping": cart.shipping,
            "requested": request.requested_amount,
            "limit": result.limit,
            "eligible": result.eligible,
            "applied": result.applied,
            "lots_used": len(result.allocations),
            "capture": request.capture,
            "state": state,
        },
    )


def _check_code(wallet: Wallet | None, email: str | None) -> None:
    if wallet is None:
        # An unknown code, another merchant's code and a code in another currency look alike.
        raise NotFound(detail="no such store-credit code in this currency")
    if not email_unlocks(wallet, email):
        raise InvalidInput.on("email", "this code can only be used with the email it was issued to")


def release(caller: Caller, checkout_id: str) -> ApiResult:
    """Give a checkout's held credit back. Releasing again (or after expiry) answers the same."""

    def attempt() -> ApiResult:
        record = wallet_store.load_hold_record(caller.merchant_id, checkout_id)
        if record is None:
            raise NotFound(detail=f"no checkout {checkout_id!r} with store credit")
        wallet = wallet_store.load_wallet(caller.merchant_id, record.customer_id, record.currency)
        now_ms = time.time_ns() // 1_000_000
        hold = wallet.holds.get(checkout_id) if wallet else None
        if wallet is None or hold is None:
            body = _release_json(checkout_id, record.state, 0, wallet, currency=record.currency, now_ms=now_ms)
            return ApiResult(200, body)
        released = free_holds(wallet, (checkout_id,), now_ms=now_ms)
        after = released.after
        body = _release_json(checkout_id, "released", hold.amount, after, currency=record.currency, now_ms=now_ms)
        wallet_store.commit_hold(
            wallet,
            after,
            wallet_store.HoldRecord(
                merchant_id=caller.merchant_id,
                checkout_id=checkout_id,
                customer_id=record.customer_id,
                currency=record.currency,
                state="released",
                amount=hold.amount,
                fingerprint=record.fingerprint,
                response=record.response,
                expires_at=None,
                updated_ms=now_ms,
            ),
            [change.entry for change in released.taken_back],
        )
        return ApiResult(200, body)

    return guarded_write(attempt, lambda: None, "")


def _release_json(
    checkout_id: str, state: str, released: int, wallet: Wallet | None, *, currency: str, now_ms: int
) -> dict[str, Any]:
    available = wallet.available(now_ms // 1000) if wallet else 0
    return {
        "checkout_id": checkout_id,
        "state": state,
        "released": money_json(released, currency),
        "balance_after": money_json(available, currency),
    }
