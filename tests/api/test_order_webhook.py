"""POST /v1/webhooks/orders/{merchant_id}: every event type applied exactly once, in any order."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.harness.api_client import Api, Merchant, OrderWebhook
from tests.harness.audit import all_items, audit_wallet
from tests.harness.faults import count_calls


@pytest.fixture
def hook(gateway: Any, merchant: Merchant) -> OrderWebhook:
    return OrderWebhook(gateway, merchant)


def order(**fields: Any) -> dict[str, Any]:
    return {
        "id": "ord_1",
        "checkout_id": "chk_1",
        "customer_id": "ann",
        "currency": "USD",
        "total": "70.00",
        "items": [{"id": "line1", "product_id": "shoe", "quantity": 1, "unit_price": "100.00"}],
        **fields,
    }


def apply(api: Api, amount: str, checkout_id: str = "chk_1", customer: str = "ann", **fields: Any) -> Any:
    cart = {"currency": "USD", "items": [{"id": "line1", "quantity": 1, "unit_price": "100.00"}]}
    body = {"checkout_id": checkout_id, "customer_id": customer, "cart": cart, "requested_amount": amount, **fields}
    response = api.post("/v1/checkout/apply", body, key=None)
    assert response.status == 200, response.json()
    return response


def money(response: Any, *path: str) -> str:
    value = response.json()
    for part in path:
        value = value[part]
    return str(value["amount"])


def wallet(api: Api, customer: str = "ann") -> dict[str, Any]:
    body: dict[str, Any] = api.wallet(customer).json()
    return body


def balances(api: Api, customer: str = "ann") -> tuple[str, str, str]:
    w = wallet(api, customer)
    return w["balance"]["amount"], w["available"]["amount"], w["held"]["amount"]


def ledger(api: Api, customer: str = "ann") -> list[tuple[str, str]]:
    items = api.get(f"/v1/customers/{customer}/transactions?limit=100").json()["items"]
    return [(e["type"], e["amount"]["amount"]) for e in reversed(items)]


def send_thrice(hook: OrderWebhook, event_type: str, body: dict[str, Any], event_id: str) -> Any:
    """Deliver an event, then redeliver it twice: the answers must be the first one."""
    first = hook.send(event_type, body, event_id)
    assert first.status == 200, first.json()
    for _ in range(2):
        again = hook.send(event_type, body, event_id)
        assert again.status == 200
        assert again.json() == first.json()
        assert again.headers.get("idempotent-replayed") == "true"
    return first


def consistent(merchant: Merchant, *customers: str) -> None:
    for customer in customers or ("ann",):
        audit_wallet(merchant.merchant_id, customer, "USD").assert_consistent()


# --- order.paid ------------------------------------------------------------------------------


def test_paid_captures_the_hold_once_however_often_it_arrives(api: Api, hook: OrderWebhook, merchant: Merchant) -> None:
    # Given 50.00 of credit and a checkout holding 30.00 of it
    api.issue("ann", "50.00")
    apply(api, "30.00")

    # When order.paid arrives three times
    paid = send_thrice(hook, "order.paid", order(), "evt_paid")

    # Then 30.00 is spent once, the hold is gone and the ledger shows one capture
    assert paid.json()["outcome"] == "applied"
    assert money(paid, "captured") == "30.00"
    assert balances(api) == ("20.00", "20.00", "0.00")
    assert ledger(api) == [("credit", "50.00"), ("capture", "-30.00")]
    consistent(merchant)


def test_paid_for_a_card_only_order_captures_nothing(api: Api, hook: OrderWebhook) -> None:
    api.issue("ann", "10.00")
    paid = send_thrice(hook, "order.paid", order(checkout_id=None), "evt_card")
    assert money(paid, "captured") == "0.00"
    assert balances(api) == ("10.00", "10.00", "0.00")


def test_paid_after_the_hold_was_released_captures_nothing_and_says_so(api: Api, hook: OrderWebhook) -> None:
    api.issue("ann", "50.00")
    apply(api, "30.00")
    api.write("DELETE", "/v1/checkout/chk_1", None, key=None)
    paid = hook.send("order.paid", order())
    assert paid.status == 200
    assert money(paid, "captured") == "0.00"
    assert "released" in paid.json()["detail"]
    assert balances(api) == ("50.00", "50.00", "0.00")


def test_a_checkout_captured_at_apply_is_claimed_by_its_order(api: Api, hook: OrderWebhook, merchant: Merchant) -> None:
    # Given a checkout that spent 30.00 at once (capture: true)
    api.issue("ann", "50.00")
    apply(api, "30.00", capture=True)
    # When the order is paid, then cancelled
    paid = hook.send("order.paid", order())
    cancelled = send_thrice(hook, "order.cancelled", order(), "evt_cancel")
    # Then the capture is the order's, and cancelling returns it
    assert money(paid, "captured") == "30.00"
    assert money(cancelled, "returned") == "30.00"
    assert balances(api) == ("50.00", "50.00", "0.00")
    consistent(merchant)


def test_a_cancel_that_overtakes_the_payment_after_a_store_credit_refund_returns_what_it_would_once_paid(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given 30.00 captured at apply for an order of 70.00 charged (worth 100.00), and 1.00 of it
    # refunded as store credit before the payment reached the service
    api.issue("ann", "50.00")
    apply(api, "30.00", capture=True)
    refund = {"amount": "1.00", "to": "store_credit"}
    assert hook.send("order.refunded", order(refund=refund)).status == 200
    # When the order is cancelled before its payment arrives
    cancelled = send_thrice(hook, "order.cancelled", order(), "evt_cancel")
    # Then, as had the payment come first, the 99.00 not refunded comes back credit first: all
    # 30.00 spent (not 29.00: the 1.00 refunded was of the order's value, not of its credit), and
    # the refund's 1.00 stays
    assert money(cancelled, "returned") == "30.00"
    assert balances(api) == ("51.00", "51.00", "0.00")
    consistent(merchant)


def test_another_order_cannot_claim_a_checkout_an_order_already_took(api: Api, hook: OrderWebhook) -> None:
    api.issue("ann", "50.00")
    apply(api, "30.00")
    assert hook.send("order.paid", order()).status == 200
    other = hook.send("order.paid", order(id="ord_2"))
    assert other.status == 409
    assert balances(api) == ("20.00", "20.00", "0.00")


def test_the_checkout_may_be_named_by_any_of_the_orders_events(api: Api, hook: OrderWebhook) -> None:
    # Given an order whose first event did not name its checkout
    api.issue("ann", "50.00")
    apply(api, "30.00")
    assert hook.send("order.updated", order(checkout_id=None, total="90.00")).status == 200
    # When the payment names it, then a cancel leaves it out again
    paid = hook.send("order.paid", order())
    cancelled = hook.send("order.cancelled", order(checkout_id=None))
    # Then the hold was captured and its credit comes back
    assert (money(paid, "captured"), money(cancelled, "returned")) == ("30.00", "30.00")
    assert balances(api) == ("50.00", "50.00", "0.00")
    # And another checkout for the same order is refused
    assert (
        hook.send("order.refunded", order(checkout_id="chk_2", refund={"amount": "1.00", "to": "original"})).status
        == 422
    )


def test_cancel_without_the_checkout_id_still_releases_the_hold(api: Api, hook: OrderWebhook) -> None:
    api.issue("ann", "50.00")
    apply(api, "30.00")
    hook.send("order.failed", order())
    cancelled = hook.send("order.cancelled", order(checkout_id=None))
    assert money(cancelled, "released") == "30.00"
    assert balances(api) == ("50.00", "50.00", "0.00")


# --- order.cancelled -------------------------------------------------------------------------


def test_cancel_returns_credit_into_the_lots_it_came_from_with_their_expiry(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given a lot expiring in 30 days and one that never expires, both spent by an order
    api.issue("ann", "10.00", expires={"days": 30}, reason="soon")
    api.issue("ann", "30.00", expires={"never": True}, reason="never")
    before = {lot["lot_id"]: lot for lot in wallet(api)["lots"]}
    apply(api, "25.00")
    hook.send("order.paid", order())
    assert [lot["lot_id"] for lot in wallet(api)["lots"]] == ["lot_2"]  # lot_1 spent to zero

    # When the order is cancelled (three deliveries)
    cancelled = send_thrice(hook, "order.cancelled", order(), "evt_cancel")

    # Then both lots are back whole, the expiring one with its own expiry
    assert money(cancelled, "returned") == "25.00"
    after = {lot["lot_id"]: lot for lot in wallet(api)["lots"]}
    assert after.keys() == before.keys()
    for lot_id, lot in before.items():
        assert after[lot_id]["remaining"] == lot["remaining"]
        assert after[lot_id]["expires_at"] == lot["expires_at"]
        assert after[lot_id]["source"] == lot["source"]
    assert ledger(api)[-1] == ("refund", "25.00")
    consistent(merchant)


def test_cancel_before_payment_releases_the_hold_and_a_late_paid_changes_nothing(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    api.issue("ann", "50.00")
    apply(api, "30.00")
    cancelled = send_thrice(hook, "order.cancelled", order(), "evt_cancel")
    assert money(cancelled, "released") == "30.00"
    assert balances(api) == ("50.00", "50.00", "0.00")

    late = send_thrice(hook, "order.paid", order(), "evt_paid")
    assert late.json()["outcome"] == "ignored"
    assert balances(api) == ("50.00", "50.00", "0.00")
    assert ledger(api) == [("credit", "50.00")]
    consistent(merchant)


@pytest.mark.parametrize("cart_price", ["100.00", "40.00"], ids=["same-cart", "changed-cart"])
def test_a_checkout_whose_order_was_cancelled_holds_no_more(
    api: Api, hook: OrderWebhook, merchant: Merchant, cart_price: str
) -> None:
    # Given a checkout holding 30.00 of ann's 50.00, and its order cancelled before payment
    api.issue("ann", "50.00")
    apply(api, "30.00")
    assert money(hook.send("order.cancelled", order()), "released") == "30.00"

    # When the checkout system applies credit to that checkout again (a stray retry)
    cart = {"currency": "USD", "items": [{"id": "line1", "quantity": 1, "unit_price": cart_price}]}
    body = {"checkout_id": "chk_1", "customer_id": "ann", "cart": cart, "requested_amount": "30.00"}
    again = api.post("/v1/checkout/apply", body, key=None)

    # Then it is refused: no order can pay that checkout any more, and nothing is held for it
    assert again.status == 409, again.json()
    assert balances(api) == ("50.00", "50.00", "0.00")
    # And a new checkout for a new order holds as usual
    assert money(apply(api, "30.00", checkout_id="chk_2"), "applied") == "30.00"
    consistent(merchant)


def test_credit_returned_into_a_lot_that_has_expired_expires_again_at_once(
    api: Api, hook: OrderWebhook, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a lot that expires tomorrow, spent by an order
    api.issue("ann", "10.00", expires={"days": 1})
    apply(api, "10.00")
    hook.send("order.paid", order())

    # When the order is cancelled three days later
    with shifted_clock(monkeypatch, days=3):
        cancelled = hook.send("order.cancelled", order())

    # Then the ledger shows the credit coming back and expiring again; nothing is spendable
    assert money(cancelled, "returned") == "10.00"
    assert ledger(api)[-2:] == [("refund", "10.00"), ("expiry", "-10.00")]
    assert balances(api) == ("0.00", "0.00", "0.00")
    consistent(merchant)


@contextmanager
def shifted_clock(monkeypatch: pytest.MonkeyPatch, *, days: int) -> Iterator[None]:
    """Move the service's clock (and the webhook's signing clock) forward."""
    offset = days * 86_400
    real_time, real_ns = time.time, time.time_ns
    with monkeypatch.context() as patch:
        patch.setattr(time, "time", lambda: real_time() + offset)
        patch.setattr(time, "time_ns", lambda: real_ns() + offset * 1_000_000_000)
        yield


# --- order.refunded --------------------------------------------------------------------------


def test_refund_to_original_returns_credit_in_proportion(api: Api, hook: OrderWebhook, merchant: Merchant) -> None:
    # Given an order of 100.00: 30.00 in store credit, 70.00 charged
    api.issue("ann", "30.00")
    apply(api, "30.00")
    hook.send("order.paid", order(total="70.00"))

    # When half of it is refunded to the original payment methods
    refund = {"amount": "50.00", "to": "original"}
    first = send_thrice(hook, "order.refunded", order(refund=refund), "evt_r1")

    # Then 15.00 of credit comes back (30% of 50.00); the second half brings the rest
    assert money(first, "returned") == "15.00"
    second = send_thrice(hook, "order.refunded", order(refund=refund), "evt_r2")
    assert money(second, "returned") == "15.00"
    assert balances(api) == ("30.00", "30.00", "0.00")

    # And a third refund is more than the order was worth: refused, nothing changes
    third = hook.send("order.refunded", order(refund=refund))
    assert third.status == 422
    assert balances(api) == ("30.00", "30.00", "0.00")
    consistent(merchant)


def test_partial_refund_then_cancel_never_returns_more_than_was_spent(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    api.issue("ann", "30.00")
    apply(api, "30.00")
    hook.send("order.paid", order(total="70.00"))
    hook.send("order.refunded", order(refund={"amount": "50.00", "to": "original"}))

    cancelled = send_thrice(hook, "order.cancelled", order(), "evt_cancel")

    assert money(cancelled, "returned") == "15.00"
    assert balances(api) == ("30.00", "30.00", "0.00")
    late_refund = hook.send("order.refunded", order(refund={"amount": "20.00", "to": "store_credit"}))
    assert late_refund.json()["outcome"] == "ignored"
    assert balances(api) == ("30.00", "30.00", "0.00")
    consistent(merchant)


def test_an_order_paid_with_a_codes_credit_gives_it_back_to_the_code(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given ann's order of 100.00 paid with 40.00 from a store-credit code and 60.00 by card
    made = api.post("/v1/codes", {"amount": {"amount": "40.00", "currency": "USD"}}, key="code-1")
    code = made.json()["codes"][0]["code"]
    cart = {"currency": "USD", "items": [{"id": "line1", "quantity": 1, "unit_price": "100.00"}]}
    assert api.post("/v1/checkout/apply", {"checkout_id": "chk_1", "code": code, "cart": cart}, key=None).status == 200
    paid = send_thrice(hook, "order.paid", order(total="60.00"), "evt_paid")
    assert money(paid, "captured") == "40.00"

    # When half the order is refunded to the card, then 20.00 as store credit, then it is cancelled
    half = send_thrice(hook, "order.refunded", order(refund={"amount": "50.00", "to": "original"}), "evt_r1")
    as_credit = hook.send("order.refunded", order(refund={"amount": "20.00", "to": "store_credit"}))
    cancelled = hook.send("order.cancelled", order())

    # Then the spent credit goes back to the code it came from (20.00 in proportion, then the
    # rest of what was not refunded), and only the refund as store credit is ann's
    assert (money(half, "returned"), money(cancelled, "returned")) == ("20.00", "20.00")
    code_wallet = api.get(f"/v1/codes/{code}").json()
    assert (code_wallet["balance"]["amount"], code_wallet["available"]["amount"]) == ("40.00", "40.00")
    assert [(i["kind"], i["customer_id"], i["amount"]["amount"]) for i in as_credit.json()["issued"]] == [
        ("refund", "ann", "20.00")
    ]
    assert balances(api) == ("20.00", "20.00", "0.00")
    consistent(merchant, "ann", f"~{code}")


def test_refund_to_store_credit_works_for_a_card_paid_order(api: Api, hook: OrderWebhook, merchant: Merchant) -> None:
    hook.send("order.paid", order(checkout_id=None, total="40.00"))
    refund = {"amount": "15.00", "to": "store_credit"}
    refunded = send_thrice(hook, "order.refunded", order(checkout_id=None, total="40.00", refund=refund), "evt_refund")
    assert [(i["kind"], i["amount"]["amount"]) for i in refunded.json()["issued"]] == [("refund", "15.00")]
    assert balances(api) == ("15.00", "15.00", "0.00")
    assert wallet(api)["lots"][0]["source"] == "refund"
    consistent(merchant)


def test_a_full_refund_as_store_credit_then_cancel_returns_no_more(api: Api, hook: OrderWebhook) -> None:
    # Given an order of 100.00 (30.00 credit + 70.00 charged) refunded in full as new credit
    api.issue("ann", "30.00")
    apply(api, "30.00")
    hook.send("order.paid", order(total="70.00"))
    hook.send("order.refunded", order(refund={"amount": "100.00", "to": "store_credit"}))
    assert balances(api) == ("100.00", "100.00", "0.00")
    # When it is cancelled as well, then nothing more comes back: it was refunded already
    cancelled = hook.send("order.cancelled", order())
    assert money(cancelled, "returned") == "0.00"
    assert balances(api) == ("100.00", "100.00", "0.00")


@pytest.mark.parametrize(("refund", "returned"), [("50.00", "15.00"), ("100.00", "30.00")])
def test_a_refund_that_arrives_before_the_payment_is_settled_by_it(
    api: Api, hook: OrderWebhook, merchant: Merchant, refund: str, returned: str
) -> None:
    # Given a checkout holding 30.00 of an order worth 100.00 (70.00 charged to the card)
    api.issue("ann", "30.00")
    apply(api, "30.00")
    # When the refund event overtakes the payment event (in full too: it is recorded, not
    # refused for counting only the card's 70.00)
    early = send_thrice(hook, "order.refunded", order(refund={"amount": refund, "to": "original"}), "evt_r")
    assert money(early, "returned") == "0.00"
    assert balances(api) == ("30.00", "0.00", "30.00")
    paid = send_thrice(hook, "order.paid", order(), "evt_paid")
    # Then the payment captures 30.00 and returns the refund's share of it at once
    assert (money(paid, "captured"), money(paid, "returned")) == ("30.00", returned)
    assert balances(api) == (returned, returned, "0.00")
    assert ledger(api) == [("credit", "30.00"), ("capture", "-30.00"), ("refund", returned)]
    consistent(merchant)


# --- order.updated / order.failed -------------------------------------------------------------


def test_updated_with_a_lower_total_returns_what_the_credit_now_exceeds(api: Api, hook: OrderWebhook) -> None:
    api.issue("ann", "30.00")
    apply(api, "30.00")
    hook.send("order.paid", order(total="70.00"))
    lowered = send_thrice(hook, "order.updated", order(total="20.00"), "evt_u1")
    assert money(lowered, "returned") == "10.00"
    raised = hook.send("order.updated", order(total="25.00"))
    assert money(raised, "returned") == "0.00"
    assert balances(api) == ("10.00", "10.00", "0.00")


def test_failed_keeps_the_hold_and_a_retried_payment_captures_it(api: Api, hook: OrderWebhook) -> None:
    api.issue("ann", "50.00")
    apply(api, "30.00")
    failed = send_thrice(hook, "order.failed", order(), "evt_failed")
    assert failed.json()["outcome"] == "applied"
    assert balances(api) == ("50.00", "20.00", "30.00")
    assert money(hook.send("order.paid", order()), "captured") == "30.00"
    assert balances(api) == ("20.00", "20.00", "0.00")


def test_credit_returned_by_a_lower_total_is_not_refunded_again_as_store_credit(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given an order worth 100.00: 70.00 charged to the card, 30.00 of store credit
    api.issue("ann", "30.00")
    apply(api, "30.00")
    hook.send("order.paid", order())
    # And a lower total that gave 10.00 of the credit back
    assert money(hook.send("order.updated", order(total="20.00")), "returned") == "10.00"
    # When the order is refunded in full as store credit (or the refund refused)
    hook.send("order.refunded", order(refund={"amount": "100.00", "to": "store_credit"}))
    # Then Ann holds at most what the order was worth, not 110.00
    assert Decimal(balances(api)[0]) <= Decimal("100.00")
    consistent(merchant)


# --- earning rules -----------------------------------------------------------------------------


# 10.00 at two orders, 15.00 at 150.00 spent
MILESTONES = (
    {"type": "milestone", "orders": 2, "credit": "10.00"},
    {"type": "milestone", "spent": "150.00", "credit": "15.00"},
)


def set_rules(api: Api, *rules: dict[str, Any]) -> None:
    assert api.put("/v1/settings", {"earning_rules": list(rules)}).status == 200


def test_place_order_rule_gives_one_per_twenty_spent(api: Api, hook: OrderWebhook, merchant: Merchant) -> None:
    set_rules(api, {"type": "place_order", "per": "20.00", "credit": "1.00"})
    paid = send_thrice(hook, "order.paid", order(checkout_id=None, total="100.00"), "evt_paid")
    assert [(i["kind"], i["amount"]["amount"]) for i in paid.json()["issued"]] == [("reward", "5.00")]
    assert balances(api) == ("5.00", "5.00", "0.00")
    assert wallet(api)["lots"][0]["source"] == "reward"
    consistent(merchant)


def test_a_reward_the_wallet_cannot_hold_is_not_given_and_the_payment_still_captures(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given a rule whose reward on a 100.00 order passes the 15-digit balance limit (a typo of
    # the merchant's: 100 x 9,999,999,999,999.99), and a checkout holding 30.00 of ann's credit
    set_rules(api, {"type": "place_order", "per": "1.00", "credit": "9999999999999.99"})
    api.issue("ann", "50.00")
    apply(api, "30.00")

    # When the order is paid
    paid = send_thrice(hook, "order.paid", order(total="70.00"), "evt_paid")

    # Then the payment captures the held credit (a 422 here is never re-sent: the hold would
    # lapse and the buyer keep both the goods and the credit), and no reward is given
    assert money(paid, "captured") == "30.00"
    assert paid.json()["issued"] == []
    assert balances(api) == ("20.00", "20.00", "0.00")
    consistent(merchant)


def test_referral_pays_ten_percent_of_the_first_order_to_the_referrer(api: Api, hook: OrderWebhook) -> None:
    set_rules(api, {"type": "referral", "percent": "10", "expires": {"days": 30}})
    first = order(checkout_id=None, total="100.00", referrer_customer_id="rita")
    send_thrice(hook, "order.paid", first, "evt_first")
    assert balances(api, "rita") == ("10.00", "10.00", "0.00")
    assert wallet(api, "rita")["lots"][0]["expires_at"] is not None
    # A second order by the same referee pays no referral
    hook.send("order.paid", order(id="ord_2", checkout_id=None, total="100.00", referrer_customer_id="rita"))
    assert balances(api, "rita") == ("10.00", "10.00", "0.00")


def test_milestones_fire_once(api: Api, hook: OrderWebhook) -> None:
    set_rules(api, *MILESTONES)
    for n in range(1, 5):
        hook.send("order.paid", order(id=f"ord_{n}", checkout_id=None, total="60.00"))
        hook.send("order.paid", order(id=f"ord_{n}", checkout_id=None, total="60.00"))  # another delivery
    # 2 orders → 10.00; 180.00 spent by the 3rd → 15.00; nothing after
    assert [(t, a) for t, a in ledger(api)] == [("credit", "10.00"), ("credit", "15.00")]


def test_paying_and_cancelling_orders_never_reaches_a_milestone(api: Api, hook: OrderWebhook) -> None:
    set_rules(api, *MILESTONES)
    # Given three orders of 60.00 paid and each cancelled (delivered twice, as senders retry)
    for n in range(1, 4):
        hook.send("order.paid", order(id=f"ord_{n}", checkout_id=None, total="60.00"))
        send_thrice(hook, "order.cancelled", order(id=f"ord_{n}", checkout_id=None, total="60.00"), f"evt_c{n}")
    # Then no milestone was reached: a cancelled order does not count
    assert ledger(api) == []
    # When two orders are paid and kept, the orders milestone fires; spent (120.00) is not reached
    for n in range(4, 6):
        hook.send("order.paid", order(id=f"ord_{n}", checkout_id=None, total="60.00"))
    assert ledger(api) == [("credit", "10.00")]


def test_a_referral_pays_once_even_when_the_first_order_is_cancelled(api: Api, hook: OrderWebhook) -> None:
    set_rules(api, {"type": "referral", "fixed": "5.00"})
    hook.send("order.paid", order(checkout_id=None, total="100.00", referrer_customer_id="rita"))
    api.debit("rita", "2.00")  # the referrer spends part of it
    cancelled = hook.send("order.cancelled", order(checkout_id=None, total="100.00"))
    assert money(cancelled, "taken_back") == "3.00"
    hook.send("order.paid", order(id="ord_2", checkout_id=None, total="100.00", referrer_customer_id="rita"))
    assert balances(api, "rita") == ("0.00", "0.00", "0.00")


def test_a_referral_pays_once_per_referee_whatever_the_currency(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given a referral of 5.00 that Ann's first order (in USD) paid to Rita
    set_rules(api, {"type": "referral", "fixed": "5.00"})
    hook.send("order.paid", order(checkout_id=None, total="100.00", referrer_customer_id="rita"))
    assert balances(api, "rita") == ("5.00", "5.00", "0.00")
    # When Ann's first order in EUR names Rita (or anyone) as referrer again
    for n, referrer in ((2, "rita"), (3, "rex")):
        body = order(id=f"ord_{n}", checkout_id=None, currency="EUR", total="100.00", referrer_customer_id=referrer)
        paid = send_thrice(hook, "order.paid", body, f"evt_eur_{n}")
        # Then no second referral is paid: Ann was referred once, not once per currency
        assert paid.json()["issued"] == []
    assert api.wallet("rita", "EUR").json()["balance"]["amount"] == "0.00"
    assert api.wallet("rex", "EUR").status == 404
    consistent(merchant, "rita")


def test_a_referral_does_not_pay_on_a_customers_first_order_in_another_currency(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given a referral of 5.00, and Ann, who has paid orders in EUR for a while
    set_rules(api, {"type": "referral", "fixed": "5.00"})
    for n in range(3):
        hook.send("order.paid", order(id=f"ord_eur_{n}", checkout_id=None, currency="EUR", total="100.00"))

    # When her first order in USD names Rita as her referrer
    body = order(id="ord_usd", checkout_id=None, total="100.00", referrer_customer_id="rita")
    paid = send_thrice(hook, "order.paid", body, "evt_usd")

    # Then no referral is paid: it is not Ann's first paid order
    assert paid.json()["issued"] == []
    assert api.wallet("rita").status == 404


def test_cancelling_takes_back_unspent_rewards(api: Api, hook: OrderWebhook, merchant: Merchant) -> None:
    set_rules(api, {"type": "place_order", "per": "10.00", "credit": "1.00"})
    hook.send("order.paid", order(checkout_id=None, total="100.00"))
    api.debit("ann", "4.00")
    cancelled = send_thrice(hook, "order.cancelled", order(checkout_id=None, total="100.00"), "evt_cancel")
    assert money(cancelled, "taken_back") == "6.00"
    assert balances(api) == ("0.00", "0.00", "0.00")
    consistent(merchant)


def reward_held_by_a_checkout(api: Api, hook: OrderWebhook, first: dict[str, Any] | None = None) -> dict[str, Any]:
    """A card order (``first``, by default of 100.00) that earned 10.00 at 1.00 per 10.00, all
    of it held by checkout ``chk_2``; the order."""
    first = first or order(checkout_id=None, total="100.00")
    set_rules(api, {"type": "place_order", "per": "10.00", "credit": "1.00"})
    hook.send("order.paid", first)
    apply(api, "10.00", checkout_id="chk_2")
    return first


def reward_spent_on_a_second_order(api: Api, hook: OrderWebhook, first: dict[str, Any] | None = None) -> dict[str, Any]:
    """As ``reward_held_by_a_checkout``, and the checkout's order ``ord_2`` paid with it alone."""
    first = reward_held_by_a_checkout(api, hook, first)
    hook.send("order.paid", order(id="ord_2", checkout_id="chk_2", total="0.00"))
    return first


def test_a_reward_spent_on_an_order_cancelled_later_does_not_outlive_its_own_order(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given a card order of 100.00 that earned 10.00, spent at once on a second order
    reward_spent_on_a_second_order(api, hook)
    # When the first order is cancelled (its reward is spent: nothing to take) and then the second
    hook.send("order.cancelled", order(checkout_id=None, total="100.00"))
    hook.send("order.cancelled", order(id="ord_2", checkout_id="chk_2", total="0.00"))
    # Then both orders are undone and the reward of the cancelled order is gone, not back in the
    # wallet (otherwise every pay-spend-cancel cycle mints a reward for nothing bought)
    assert balances(api) == ("0.00", "0.00", "0.00")
    consistent(merchant)


def test_a_reward_owed_back_is_taken_once_however_often_the_event_that_returns_it_arrives(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given 20.00 of goodwill and a card order of 100.00 that earned 10.00 (expiring in 30 days)
    api.issue("ann", "20.00")
    set_rules(api, {"type": "place_order", "per": "10.00", "credit": "1.00", "expires": {"days": 30}})
    hook.send("order.paid", order(checkout_id=None, total="100.00"))
    # and a second order paid with 25.00 of credit (the reward, which expires first, and 15.00 of
    # goodwill) and 5.00 by card, too little to earn a reward of its own
    apply(api, "25.00", checkout_id="chk_2")
    hook.send("order.paid", order(id="ord_2", checkout_id="chk_2", total="5.00"))
    # When the first order is cancelled: the reward is spent, so it is owed, not taken
    first = send_thrice(hook, "order.cancelled", order(checkout_id=None, total="100.00"), "evt_c1")
    assert money(first, "taken_back") == "0.00"
    # and the second is cancelled (delivered three times)
    second = send_thrice(hook, "order.cancelled", order(id="ord_2", checkout_id="chk_2", total="5.00"), "evt_c2")
    # Then its 25.00 comes back and the reward's 10.00 is taken at once, for the first order, once
    assert (money(second, "returned"), money(second, "taken_back")) == ("25.00", "10.00")
    assert balances(api) == ("20.00", "20.00", "0.00")
    items = api.get("/v1/customers/ann/transactions?limit=1").json()["items"]
    assert (items[0]["type"], items[0]["amount"]["amount"], items[0]["order_id"]) == ("debit", "-10.00", "ord_1")
    consistent(merchant)


def test_a_reward_held_when_its_order_is_cancelled_goes_when_the_hold_is_released(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given a card order that earned 10.00 and a checkout holding all of it
    reward_held_by_a_checkout(api, hook)
    # When the order is cancelled while the reward is held: nothing is free to take
    cancelled = hook.send("order.cancelled", order(checkout_id=None, total="100.00"))
    assert money(cancelled, "taken_back") == "0.00"
    assert balances(api) == ("10.00", "0.00", "10.00")
    # and the checkout lets go of it
    released = api.write("DELETE", "/v1/checkout/chk_2", None, key=None)
    # Then the reward does not become spendable again: it is taken back for the cancelled order
    assert released.status == 200, released.json()
    assert released.json()["balance_after"]["amount"] == "0.00"
    assert balances(api) == ("0.00", "0.00", "0.00")
    assert ledger(api)[-1] == ("debit", "-10.00")
    consistent(merchant)


def test_credit_coming_back_pays_what_a_lot_owes_before_it_refills_any_other(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given 30.00 of goodwill and a card order that earned 10.00 (expiring, so spent first)
    api.issue("ann", "30.00")
    set_rules(api, {"type": "place_order", "per": "10.00", "credit": "1.00", "expires": {"days": 30}})
    hook.send("order.paid", order(checkout_id=None, total="100.00"))
    # and a checkout that captured 15.00 at apply (the reward, then 5.00 of goodwill) for an
    # order charged 50.00, of whose 65.00 the merchant refunds 54.00 as store credit
    apply(api, "15.00", checkout_id="chk_2", capture=True)
    second = order(id="ord_2", checkout_id="chk_2", total="50.00")
    assert hook.send("order.refunded", {**second, "refund": {"amount": "54.00", "to": "store_credit"}}).status == 200
    # When the first order is cancelled (its reward is spent: owed) and then the second
    hook.send("order.cancelled", order(checkout_id=None, total="100.00"))
    cancelled = hook.send("order.cancelled", second)
    # Then of the 15.00 spent, the 11.00 not yet refunded comes back, into the reward's lot first:
    # the reward goes back to its order in full, and 1.00 of goodwill returns. The buyer keeps
    # goodwill and refund less the 4.00 the refund covered, as if the reward had never been
    # (last-spent-first would refill the goodwill and leave 4.00 of the reward for good)
    assert (money(cancelled, "returned"), money(cancelled, "taken_back")) == ("11.00", "10.00")
    assert balances(api) == ("80.00", "80.00", "0.00")
    consistent(merchant)


def test_a_reward_held_by_a_checkout_that_is_applied_again_is_not_held_again(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given 5.00 of goodwill, a card order that earned 10.00 and a checkout holding 12.00
    api.issue("ann", "5.00")
    set_rules(api, {"type": "place_order", "per": "10.00", "credit": "1.00"})
    hook.send("order.paid", order(checkout_id=None, total="100.00"))
    apply(api, "12.00", checkout_id="chk_2")
    hook.send("order.cancelled", order(checkout_id=None, total="100.00"))
    # When the checkout applies again with another amount (its hold is replaced)
    again = apply(api, "11.00", checkout_id="chk_2")
    # Then only the goodwill can be held: the reward went back to the cancelled order first
    assert money(again, "applied") == "5.00"
    assert balances(api) == ("5.00", "0.00", "5.00")
    consistent(merchant)


def test_a_reward_held_past_the_hold_time_goes_when_the_same_apply_comes_again(
    api: Api, hook: OrderWebhook, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a card order that earned 10.00, held by a checkout when the order is cancelled
    first = reward_held_by_a_checkout(api, hook)
    hook.send("order.cancelled", first)
    # When the checkout sends the same apply again after the hold's time, before the expiry job
    with shifted_clock(monkeypatch, days=1):
        again = apply(api, "10.00", checkout_id="chk_2")
    # Then it is no replay of the lapsed hold: the reward went back to the cancelled order, and
    # nothing is left to apply or hold
    assert again.headers.get("idempotent-replayed") is None
    assert (money(again, "applied"), again.json()["hold"]) == ("0.00", None)
    assert balances(api) == ("0.00", "0.00", "0.00")
    assert ledger(api)[-1] == ("debit", "-10.00")
    consistent(merchant)


def test_a_reward_held_past_the_hold_time_goes_when_the_expiry_job_releases_it(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    from tests.api.test_expiry_job import run_expiry

    # Given a card order that earned 10.00, held by a checkout when the order is cancelled
    reward_held_by_a_checkout(api, hook)
    hook.send("order.cancelled", order(checkout_id=None, total="100.00"))
    # When the expiry job runs after the hold's time (twice, as a retried schedule would)
    later = datetime.now(ZoneInfo("UTC")) + timedelta(days=30)
    run_expiry(later)
    run_expiry(later)
    # Then the hold is released and the reward taken back, once
    assert balances(api) == ("0.00", "0.00", "0.00")
    assert ledger(api)[-2:] == [("credit", "10.00"), ("debit", "-10.00")]
    consistent(merchant)


def test_the_expiry_job_reports_credit_taken_for_an_order_apart_from_credit_expired(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    from tests.api.test_expiry_job import run_expiry

    # Given a card order that earned 10.00, held by a checkout when the order is cancelled
    reward_held_by_a_checkout(api, hook)
    hook.send("order.cancelled", order(checkout_id=None, total="100.00"))
    # When the expiry job releases the hold after its time and takes the reward for the order
    summary = run_expiry(datetime.now(ZoneInfo("UTC")) + timedelta(days=30))
    # Then its summary says a hold was released and nothing expired: the 10.00 was taken back,
    # a debit, not an expiry
    assert (summary["holds_released"], summary["lots_expired"]) == (1, 0)
    assert summary["expired"].get("USD", "0.00") == "0.00"
    assert summary["taken_back"] == {"USD": "10.00"}
    assert ledger(api)[-1] == ("debit", "-10.00")
    consistent(merchant)


def test_a_reward_captured_at_apply_goes_when_the_order_that_spent_it_is_cancelled_unpaid(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given a card order that earned 10.00, spent by a checkout that captured it at apply
    set_rules(api, {"type": "place_order", "per": "10.00", "credit": "1.00"})
    hook.send("order.paid", order(checkout_id=None, total="100.00"))
    apply(api, "10.00", checkout_id="chk_2", capture=True)
    hook.send("order.cancelled", order(checkout_id=None, total="100.00"))
    # When the second order is cancelled before it was ever paid
    cancelled = hook.send("order.cancelled", order(id="ord_2", checkout_id="chk_2", total="0.00"))
    # Then the captured credit comes back into the reward's lot and goes to the first order
    assert (money(cancelled, "returned"), money(cancelled, "taken_back")) == ("10.00", "10.00")
    assert balances(api) == ("0.00", "0.00", "0.00")
    consistent(merchant)


def test_a_partial_refund_owes_back_only_the_rewards_refunded_share(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given a card order of 100.00 that earned 10.00, all of it spent on a second order
    reward_spent_on_a_second_order(api, hook)
    # When 40.00 of the first order goes back to the card (4.00 of its reward is owed)
    refunded = hook.send(
        "order.refunded", order(checkout_id=None, total="100.00", refund={"amount": "40.00", "to": "original"})
    )
    assert money(refunded, "taken_back") == "0.00"
    # and the second order is cancelled
    hook.send("order.cancelled", order(id="ord_2", checkout_id="chk_2", total="0.00"))
    # Then of the 10.00 back, the refunded share goes and the kept share stays
    assert balances(api) == ("6.00", "6.00", "0.00")
    consistent(merchant)


def test_a_write_that_only_records_credit_owed_moves_the_wallets_version_on(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    from store_credit import wallet_store

    # Given a card order that earned 10.00, all of it spent on a second order
    reward_spent_on_a_second_order(api, hook)
    # When 5.00 of goodwill is issued and, after it read the wallet but before it writes, the first
    # order is cancelled (the reward is spent: the cancel only records that it is owed)
    events = wallet_store.dynamodb().meta.events
    raced: list[int] = []

    def cancel_first(**_: Any) -> None:
        if not raced:
            raced.append(1)
            cancelled = hook.send("order.cancelled", order(checkout_id=None, total="100.00"))
            assert cancelled.status == 200, cancelled.json()

    events.register("before-call.dynamodb.TransactWriteItems", cancel_first, unique_id="race-owed")
    try:
        assert api.issue("ann", "5.00").status == 201
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="race-owed")
    # and then the second order is cancelled
    hook.send("order.cancelled", order(id="ord_2", checkout_id="chk_2", total="0.00"))
    # Then the issue met the cancel's write and read again: the reward that came back is taken
    # for the first order, not left in the wallet (the issue's write must not erase the debt)
    assert raced == [1]
    assert balances(api) == ("5.00", "5.00", "0.00")
    consistent(merchant)


def test_credit_owed_by_many_lots_goes_back_in_one_write_when_it_returns(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given 10.00 of goodwill and three orders that each bought 40 units of 1.00 of store credit
    api.issue("ann", "10.00")
    units = [{"id": "gc", "quantity": 40, "unit_price": "1.00", "store_credit_product": True}]
    for n in range(1, 4):
        bought = order(id=f"ord_p{n}", checkout_id=None, total="40.00", items=units)
        assert hook.send("order.paid", bought).status == 200
    # and an order paid with all 130.00 of it (120 lots)
    cart = {"currency": "USD", "items": [{"id": "line1", "quantity": 1, "unit_price": "200.00"}]}
    applied = api.post("/v1/checkout/apply", {"checkout_id": "chk_9", "customer_id": "ann", "cart": cart}, key=None)
    assert money(applied, "applied") == "130.00"
    big = order(id="ord_9", checkout_id="chk_9", total="70.00")
    assert money(hook.send("order.paid", big), "captured") == "130.00"
    # When the three orders are cancelled (their credit is spent: all of it is owed)
    for n in range(1, 4):
        hook.send("order.cancelled", order(id=f"ord_p{n}", checkout_id=None, total="40.00", items=units))
    # and then the order that spent it is cancelled (delivered three times)
    cancelled = send_thrice(hook, "order.cancelled", big, "evt_c9")
    # Then all 130.00 comes back, the 120.00 owed goes back to the three orders in the same
    # write, and the buyer keeps exactly their goodwill
    assert (money(cancelled, "returned"), money(cancelled, "taken_back")) == ("130.00", "120.00")
    assert balances(api) == ("10.00", "10.00", "0.00")
    assert sorted(entry for entry in ledger(api) if entry[0] == "debit") == [("debit", "-40.00")] * 3
    consistent(merchant)


def test_a_checkout_holding_many_owed_lots_is_released_in_one_write(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given three orders that each bought 40 units of 1.00 of store credit, all held by a checkout
    units = [{"id": "gc", "quantity": 40, "unit_price": "1.00", "store_credit_product": True}]
    for n in range(1, 4):
        bought = order(id=f"ord_p{n}", checkout_id=None, total="40.00", items=units)
        assert hook.send("order.paid", bought).status == 200
    cart = {"currency": "USD", "items": [{"id": "line1", "quantity": 1, "unit_price": "200.00"}]}
    applied = api.post("/v1/checkout/apply", {"checkout_id": "chk_9", "customer_id": "ann", "cart": cart}, key=None)
    assert money(applied, "applied") == "120.00"
    # and the three orders cancelled while it holds their credit
    for n in range(1, 4):
        hook.send("order.cancelled", order(id=f"ord_p{n}", checkout_id=None, total="40.00", items=units))
    # When the checkout lets go of it
    released = api.write("DELETE", "/v1/checkout/chk_9", None, key=None)
    # Then the 120.00 goes back to the three orders in that write: one debit each
    assert released.status == 200, released.body
    assert balances(api) == ("0.00", "0.00", "0.00")
    assert [entry for entry in ledger(api) if entry[0] == "debit"] == [("debit", "-40.00")] * 3
    consistent(merchant)


def test_a_cancel_on_a_full_wallet_still_records_the_credit_it_is_owed(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given a card order that earned 10.00, all of it spent on a second order, and then a wallet
    # filled until not even a plain lot fits
    first = reward_spent_on_a_second_order(api, hook, order(id="ord_" + "1" * 100, checkout_id=None, total="100.00"))
    api.fill_wallet("ann")
    filled = Decimal(balances(api)[0])
    # When the first order is cancelled (the reward is spent: owed), the buyer makes room by
    # spending 5.00, and the second order is cancelled
    cancelled = hook.send("order.cancelled", first)
    api.debit("ann", "5.00")
    hook.send("order.cancelled", order(id="ord_2", checkout_id="chk_2", total="0.00"))
    # Then the cancel was applied, and the reward that came back went to the first order
    assert cancelled.status == 200, cancelled.json()
    assert Decimal(balances(api)[0]) == filled - Decimal("5.00")
    consistent(merchant)


def test_a_referral_reward_spent_by_the_referrer_is_owed_in_the_referrers_wallet(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given Ann's first order paid Rita a referral of 5.00, which Rita spent on her own order
    set_rules(api, {"type": "referral", "fixed": "5.00"})
    hook.send("order.paid", order(checkout_id=None, total="100.00", referrer_customer_id="rita"))
    apply(api, "5.00", checkout_id="chk_r", customer="rita")
    ritas = order(id="ord_r", customer_id="rita", checkout_id="chk_r", total="10.00")
    hook.send("order.paid", ritas)
    # When Ann's order is cancelled (the referral is spent: owed) and then Rita's (three times)
    assert money(hook.send("order.cancelled", order(checkout_id=None, total="100.00")), "taken_back") == "0.00"
    cancelled = send_thrice(hook, "order.cancelled", ritas, "evt_cr")
    # Then the 5.00 comes back into the referral's lot and goes to Ann's order, once
    assert (money(cancelled, "returned"), money(cancelled, "taken_back")) == ("5.00", "5.00")
    assert balances(api, "rita") == ("0.00", "0.00", "0.00")
    consistent(merchant, "rita")


def test_credit_owed_from_a_lot_that_expired_meanwhile_is_taken_before_it_expires_again(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    from tests.api.test_expiry_job import run_expiry

    # Given a reward of 10.00 expiring in 30 days, 4.00 of it spent on a second order and the
    # rest expired
    set_rules(api, {"type": "place_order", "per": "10.00", "credit": "1.00", "expires": {"days": 30}})
    hook.send("order.paid", order(checkout_id=None, total="100.00"))
    apply(api, "4.00", checkout_id="chk_2")
    hook.send("order.paid", order(id="ord_2", checkout_id="chk_2", total="10.00"))
    run_expiry(datetime.now(ZoneInfo("UTC")) + timedelta(days=31))
    # When the first order is cancelled (all of the reward is owed) and then the second
    hook.send("order.cancelled", order(checkout_id=None, total="100.00"))
    cancelled = hook.send("order.cancelled", order(id="ord_2", checkout_id="chk_2", total="10.00"))
    # Then the 4.00 that comes back goes to the first order (a debit, not a second expiry), and a
    # later run of the job finds nothing to do
    assert (money(cancelled, "returned"), money(cancelled, "taken_back")) == ("4.00", "4.00")
    assert ledger(api)[-2:] == [("refund", "4.00"), ("debit", "-4.00")]
    assert run_expiry(datetime.now(ZoneInfo("UTC")) + timedelta(days=32))["wallets_changed"] == 0
    assert balances(api) == ("0.00", "0.00", "0.00")
    consistent(merchant)


def test_owed_credit_is_taken_once_when_the_answer_of_the_write_that_frees_it_is_lost(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    from botocore.exceptions import ReadTimeoutError

    from tests.harness.faults import on_call

    # Given 5.00 of goodwill and a card order's reward of 10.00, both held by a checkout when the
    # order is cancelled
    api.issue("ann", "5.00")
    set_rules(api, {"type": "place_order", "per": "10.00", "credit": "1.00"})
    hook.send("order.paid", order(checkout_id=None, total="100.00"))
    apply(api, "15.00", checkout_id="chk_2")
    hook.send("order.cancelled", order(checkout_id=None, total="100.00"))
    # When the checkout is released but the answer is lost after the write, and the client retries
    with on_call("TransactWriteItems", after=[ReadTimeoutError(endpoint_url="dynamodb")]):
        api.write("DELETE", "/v1/checkout/chk_2", None, key=None)
    retried = api.write("DELETE", "/v1/checkout/chk_2", None, key=None)
    # Then the reward went back to the order once, and the goodwill is free
    assert retried.status == 200
    assert balances(api) == ("5.00", "5.00", "0.00")
    assert [entry for entry in ledger(api) if entry[0] == "debit"] == [("debit", "-10.00")]
    consistent(merchant)


def test_a_partial_refund_takes_back_its_share_of_the_order_reward_once(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given 1.00 per 10.00: a card order of 100.00 earned 10.00
    set_rules(api, {"type": "place_order", "per": "10.00", "credit": "1.00"})
    hook.send("order.paid", order(checkout_id=None, total="100.00"))
    assert balances(api) == ("10.00", "10.00", "0.00")
    # When 25.00 is refunded to the card (delivered three times)
    refund = {"amount": "25.00", "to": "original"}
    refunded = send_thrice(hook, "order.refunded", order(checkout_id=None, total="100.00", refund=refund), "evt_r1")
    # Then a quarter of the reward goes back, once
    assert money(refunded, "taken_back") == "2.50"
    assert balances(api) == ("7.50", "7.50", "0.00")
    assert ledger(api)[-1] == ("debit", "-2.50")
    # When the customer spends most of the rest and the remaining 75.00 is refunded
    api.debit("ann", "6.00")
    rest = {"amount": "75.00", "to": "original"}
    last = hook.send("order.refunded", order(checkout_id=None, total="100.00", refund=rest))
    # Then what is unspent goes back; what was spent stays spent
    assert money(last, "taken_back") == "1.50"
    assert balances(api) == ("0.00", "0.00", "0.00")
    consistent(merchant)


def test_refunded_orders_do_not_reach_milestones(api: Api, hook: OrderWebhook, merchant: Merchant) -> None:
    set_rules(api, *MILESTONES)
    # Given two orders of 60.00 paid and each refunded in full (to the card, then as credit)
    for n, to in ((1, "original"), (2, "store_credit")):
        paid = order(id=f"ord_{n}", checkout_id=None, total="60.00")
        hook.send("order.paid", paid)
        send_thrice(hook, "order.refunded", {**paid, "refund": {"amount": "60.00", "to": to}}, f"evt_r{n}")
    # Then no milestone was reached (the refund as credit is the only credit)
    assert ledger(api) == [("credit", "60.00")]
    # When a third order of 100.00 is paid and 10.00 of it refunded, it counts 90.00
    third = order(id="ord_3", checkout_id=None, total="100.00")
    hook.send("order.paid", third)
    hook.send("order.refunded", {**third, "refund": {"amount": "10.00", "to": "original"}})
    assert ledger(api) == [("credit", "60.00")]
    # and a fourth of 60.00 reaches both: two orders that stand, 150.00 kept
    hook.send("order.paid", order(id="ord_4", checkout_id=None, total="60.00"))
    assert ledger(api)[1:] == [("credit", "10.00"), ("credit", "15.00")]
    consistent(merchant)


@pytest.mark.parametrize(
    ("rule", "totals"),
    [
        ({"type": "milestone", "spent": "500.00", "credit": "15.00"}, ("490.00", "10.00")),
        ({"type": "milestone", "orders": 2, "credit": "15.00"}, ("100.00", "100.00")),
    ],
    ids=["spent", "orders"],
)
def test_a_milestone_reached_with_an_order_cancelled_later_is_taken_back(
    api: Api, hook: OrderWebhook, merchant: Merchant, rule: dict[str, Any], totals: tuple[str, str]
) -> None:
    # Given a milestone of 15.00, reached by Ann's second order (the first is a big one)
    set_rules(api, rule)
    big, small = (
        order(id=f"ord_{n}", checkout_id=None, total=t) for n, t in (("big", totals[0]), ("small", totals[1]))
    )
    hook.send("order.paid", big)
    reached = hook.send("order.paid", small)
    assert [i["amount"]["amount"] for i in reached.json()["issued"]] == ["15.00"]

    # When the big order is cancelled (bought and returned), delivered three times
    cancelled = send_thrice(hook, "order.cancelled", big, "evt_cancel_big")

    # Then the milestone, no longer reached by what Ann kept, is taken back, once
    assert money(cancelled, "taken_back") == "15.00"
    assert balances(api) == ("0.00", "0.00", "0.00")
    # And cancelling the order that reached it later takes nothing more; nor does it fire again
    assert money(hook.send("order.cancelled", small), "taken_back") == "0.00"
    for n in range(3):
        hook.send("order.paid", order(id=f"ord_again_{n}", checkout_id=None, total="500.00"))
    assert balances(api) == ("0.00", "0.00", "0.00")
    consistent(merchant)


def test_a_milestone_whose_order_is_refunded_below_its_threshold_is_taken_back(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given 15.00 at 500.00 spent, reached by one order of 500.00
    set_rules(api, {"type": "milestone", "spent": "500.00", "credit": "15.00"})
    body = order(checkout_id=None, total="500.00")
    hook.send("order.paid", body)
    assert balances(api) == ("15.00", "15.00", "0.00")

    # When 490.00 of it is refunded to the card (the customer kept 10.00 of goods)
    refunded = send_thrice(hook, "order.refunded", {**body, "refund": {"amount": "490.00", "to": "original"}}, "evt_r")

    # Then the milestone goes back
    assert money(refunded, "taken_back") == "15.00"
    assert balances(api) == ("0.00", "0.00", "0.00")
    consistent(merchant)


def test_a_milestone_stays_while_the_orders_that_stand_still_reach_it(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given 15.00 at 500.00 spent, reached by a 10.00 order after one of 490.00, then one of 20.00
    set_rules(api, {"type": "milestone", "spent": "500.00", "credit": "15.00"})
    first, reaching, third = (
        order(id=f"ord_{n}", checkout_id=None, total=t) for n, t in ((1, "490.00"), (2, "10.00"), (3, "20.00"))
    )
    for body in (first, reaching, third):
        hook.send("order.paid", body)

    # When the order that reached it is cancelled: 510.00 still stands
    kept = hook.send("order.cancelled", reaching)

    # Then the milestone stays
    assert money(kept, "taken_back") == "0.00"
    assert balances(api) == ("15.00", "15.00", "0.00")
    # When the 20.00 order is cancelled too, 490.00 stands: the milestone goes back
    assert money(hook.send("order.cancelled", third), "taken_back") == "15.00"
    assert balances(api) == ("0.00", "0.00", "0.00")
    consistent(merchant)


def test_a_full_refund_takes_back_store_credit_bought_and_milestone_rewards(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    set_rules(api, {"type": "milestone", "orders": 1, "credit": "5.00"})
    items = [{"id": "gc", "quantity": 1, "unit_price": "25.00", "store_credit_product": True}]
    paid = order(checkout_id=None, total="25.00", items=items)
    hook.send("order.paid", paid)
    assert balances(api) == ("30.00", "30.00", "0.00")
    # When a partial refund arrives, a gift card bought and a milestone stay (no line is named)
    hook.send("order.refunded", {**paid, "refund": {"amount": "5.00", "to": "original"}})
    assert balances(api) == ("30.00", "30.00", "0.00")
    # When the rest is refunded, both are taken back as far as they are unspent
    api.debit("ann", "4.00")
    last = hook.send("order.refunded", {**paid, "refund": {"amount": "20.00", "to": "original"}})
    assert money(last, "taken_back") == "26.00"
    assert balances(api) == ("0.00", "0.00", "0.00")
    consistent(merchant)


def test_a_refund_before_the_payment_earns_only_on_what_is_kept(api: Api, hook: OrderWebhook) -> None:
    set_rules(api, {"type": "place_order", "per": "10.00", "credit": "1.00"}, {"type": "referral", "percent": "10"})
    body = order(checkout_id=None, total="100.00", referrer_customer_id="rita")
    # Given a refund of 40.00 delivered before the order's payment
    hook.send("order.refunded", {**body, "refund": {"amount": "40.00", "to": "original"}})
    # When the payment arrives, the rewards are those of the 60.00 kept
    paid = hook.send("order.paid", body)
    assert sorted((i["customer_id"], i["amount"]["amount"]) for i in paid.json()["issued"]) == [
        ("ann", "6.00"),
        ("rita", "6.00"),
    ]
    assert money(paid, "taken_back") == "0.00"
    # And refunding the rest takes both back
    last = hook.send("order.refunded", {**body, "refund": {"amount": "60.00", "to": "original"}})
    assert money(last, "taken_back") == "12.00"
    assert balances(api, "rita") == ("0.00", "0.00", "0.00")


def test_orders_stored_by_the_earlier_release_still_count_and_give_back(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    import json
    import os

    from store_credit import wallet_store

    set_rules(
        api,
        {"type": "place_order", "per": "10.00", "credit": "1.00"},
        {"type": "milestone", "orders": 2, "credit": "7.00"},
    )
    body = order(checkout_id=None, total="50.00")
    hook.send("order.paid", body)
    # Given the order record as the earlier release stored it: no counts, no partial take-backs
    table, key = os.environ["TABLE_NAME"], wallet_store.order_key(merchant.merchant_id, "ord_1")
    item = wallet_store.dynamodb().get_item(TableName=table, Key=key)["Item"]
    doc = json.loads(item["doc"]["S"])
    doc.pop("counted")
    doc["taken_back"] = False
    doc["issued"] = [row[:4] for row in doc["issued"]]
    item["doc"] = {"S": json.dumps(doc)}
    wallet_store.dynamodb().put_item(TableName=table, Item=item)
    # When half of it is refunded: it still counts as an order; its reward (which rule gave it
    # was not stored) is kept until the order is cancelled or refunded in full
    hook.send("order.refunded", {**body, "refund": {"amount": "25.00", "to": "original"}})
    assert balances(api) == ("5.00", "5.00", "0.00")
    hook.send("order.paid", order(id="ord_2", checkout_id=None, total="5.00"))
    assert ledger(api)[-1] == ("credit", "7.00")
    # When the rest is refunded, the reward goes back, and so does the milestone of two orders
    # that ord_2 reached: one order stands
    hook.send("order.refunded", {**body, "refund": {"amount": "25.00", "to": "original"}})
    assert balances(api) == ("0.00", "0.00", "0.00")
    consistent(merchant)


# --- selling store credit -----------------------------------------------------------------------


def test_store_credit_products_issue_one_lot_per_unit_to_buyer_or_recipient(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    items = [
        {"id": "gc", "quantity": 2, "unit_price": "10.00", "credit_amount": "12.00", "store_credit_product": True},
        {
            "id": "gift",
            "quantity": 1,
            "unit_price": "25.00",
            "store_credit_product": True,
            "recipient_customer_id": "bob",
        },
        {"id": "mug", "quantity": 1, "unit_price": "8.00"},
    ]
    paid = send_thrice(hook, "order.paid", order(checkout_id=None, total="53.00", items=items), "evt_paid")

    assert sorted((i["customer_id"], i["amount"]["amount"]) for i in paid.json()["issued"]) == [
        ("ann", "12.00"),
        ("ann", "12.00"),
        ("bob", "25.00"),
    ]
    assert [lot["remaining"]["amount"] for lot in wallet(api)["lots"]] == ["12.00", "12.00"]
    assert wallet(api)["lots"][0]["source"] == "purchase"
    assert balances(api, "bob") == ("25.00", "25.00", "0.00")

    # When Ann spends 5.00 and the order is cancelled, what is still unspent is taken back
    api.debit("ann", "5.00")
    cancelled = hook.send("order.cancelled", order(checkout_id=None, total="53.00", items=items))
    assert money(cancelled, "taken_back") == "44.00"
    assert balances(api) == ("0.00", "0.00", "0.00")
    assert balances(api, "bob") == ("0.00", "0.00", "0.00")
    consistent(merchant, "ann", "bob")


def test_credit_applied_to_a_cart_that_became_store_credit_products_does_not_buy_them(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given 20.00 of goodwill that expires, all held by a checkout for a 100.00 shoe
    api.issue("ann", "20.00", expires={"days": 30})
    apply(api, "20.00")
    # When the order paid is a 20.00 gift card for Bob instead (the cart changed after apply),
    # charged 0.00 because the hold paid for it
    gift = {"id": "gc", "quantity": 1, "unit_price": "20.00", "store_credit_product": True}
    paid = send_thrice(
        hook, "order.paid", order(total="0.00", items=[{**gift, "recipient_customer_id": "bob"}]), "evt_paid"
    )
    # Then the hold is captured, but no credit is issued for the card: store credit does not
    # become fresh, never-expiring credit in someone else's wallet
    assert money(paid, "captured") == "20.00"
    assert paid.json()["issued"] == []
    assert "not issued" in paid.json()["detail"]
    assert balances(api) == ("0.00", "0.00", "0.00")
    assert api.wallet("bob").status == 404
    consistent(merchant)


def test_an_order_that_spent_credit_issues_the_products_its_charge_pays_for(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given a checkout holding 30.00 for a 100.00 shoe
    api.issue("ann", "30.00")
    apply(api, "30.00")
    # When the order paid is the shoe plus two 40.00 cards (credit 50.00 each), charged 150.00
    items = [
        {"id": "shoe", "quantity": 1, "unit_price": "100.00"},
        {"id": "gc", "quantity": 2, "unit_price": "40.00", "credit_amount": "50.00", "store_credit_product": True},
    ]
    paid = hook.send("order.paid", order(total="60.00", items=items))
    # Then the 60.00 charged pays the first card and half the second: 50.00 + 25.00 issued
    assert sorted(i["amount"]["amount"] for i in paid.json()["issued"]) == ["25.00", "50.00"]
    assert balances(api) == ("75.00", "75.00", "0.00")
    # And cancelling the order takes back exactly what was issued and returns the credit spent
    cancelled = hook.send("order.cancelled", order(total="60.00", items=items))
    assert money(cancelled, "taken_back") == "75.00"
    assert balances(api) == ("30.00", "30.00", "0.00")
    consistent(merchant)


def test_a_card_paid_order_issues_its_products_in_full_even_when_discounted(api: Api, hook: OrderWebhook) -> None:
    # Given no store credit spent, a 50.00 card sold for 45.00 (a discount code)
    items = [{"id": "gc", "quantity": 1, "unit_price": "50.00", "store_credit_product": True}]
    paid = hook.send("order.paid", order(checkout_id=None, total="45.00", items=items))
    # Then its full credit is issued: only store credit is kept from buying credit
    assert [i["amount"]["amount"] for i in paid.json()["issued"]] == ["50.00"]


def test_too_many_credit_units_in_one_order_is_refused(api: Api, hook: OrderWebhook) -> None:
    items = [{"id": "gc", "quantity": 41, "unit_price": "1.00", "store_credit_product": True}]
    response = hook.send("order.paid", order(checkout_id=None, total="41.00", items=items))
    assert response.status == 422
    assert api.wallet("ann").status == 404


# --- the event itself ----------------------------------------------------------------------------


def test_the_same_event_id_with_another_body_is_a_conflict(api: Api, hook: OrderWebhook) -> None:
    api.issue("ann", "10.00")
    hook.send("order.paid", order(checkout_id=None), "evt_1")
    response = hook.send("order.paid", order(checkout_id=None, total="1.00"), "evt_1")
    assert response.status == 409
    assert response.headers["content-type"] == "application/problem+json"


def test_an_order_keeps_its_customer(api: Api, hook: OrderWebhook) -> None:
    hook.send("order.paid", order(checkout_id=None))
    response = hook.send("order.cancelled", order(checkout_id=None, customer_id="mallory"))
    assert response.status == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "order.paid", "order": order()}, "id"),
        ({"id": "e", "type": "order.shipped", "order": order()}, "type"),
        ({"id": "e", "type": "order.paid", "order": order(total=70)}, "order.total"),
        ({"id": "e", "type": "order.paid", "order": order(total="1.234")}, "order.total"),
        ({"id": "e", "type": "order.refunded", "order": order()}, "body"),
        ({"id": "e", "type": "order.paid", "order": order(currency="XXY")}, "order.currency"),
    ],
)
def test_a_signed_but_invalid_event_is_422_and_writes_nothing(
    hook: OrderWebhook, body: dict[str, Any], field: str
) -> None:
    before = len(all_items())
    response = hook.post(body)
    assert response.status == 422, response.json()
    problem = response.json()
    assert problem["status"] == 422
    assert field in {e["field"] for e in problem["errors"]} or field in problem["detail"]
    assert len(all_items()) == before


def test_a_body_that_is_not_json_is_refused(hook: OrderWebhook) -> None:
    response = hook.post(b"{not json")
    assert response.status in (400, 422)


# --- signatures -----------------------------------------------------------------------------------


@pytest.fixture
def paid_event(api: Api, hook: OrderWebhook) -> Iterator[dict[str, Any]]:
    api.issue("ann", "50.00")
    apply(api, "30.00")
    yield hook.event("order.paid", order())
    # Whatever was refused, the hold is untouched
    assert balances(api) == ("50.00", "20.00", "30.00")


def refused(response: Any) -> None:
    assert response.status == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("invalid-signature")


def test_a_tampered_body_is_refused(hook: OrderWebhook, paid_event: dict[str, Any], merchant: Merchant) -> None:
    import json

    from store_credit.webhook_signatures import sign

    raw = json.dumps(paid_event).encode()
    header = sign(merchant.webhook_secret, int(time.time()), raw)
    tampered = raw.replace(b"70.00", b"7.00")
    before = len(all_items())
    refused(hook.post(tampered, signature=header))
    assert len(all_items()) == before


def test_a_wrong_secret_is_refused(hook: OrderWebhook, paid_event: dict[str, Any]) -> None:
    refused(hook.post(paid_event, secret="whsec_someone_else_entirely"))


def test_an_old_or_future_timestamp_is_refused(hook: OrderWebhook, paid_event: dict[str, Any]) -> None:
    refused(hook.post(paid_event, timestamp=int(time.time()) - 301))
    refused(hook.post(paid_event, timestamp=int(time.time()) + 301))


def test_a_missing_or_malformed_header_is_refused(hook: OrderWebhook, paid_event: dict[str, Any]) -> None:
    refused(hook.post(paid_event, signature=None))
    refused(hook.post(paid_event, signature="v1=abc"))
    refused(hook.post(paid_event, signature="t=notanumber,v1=abc"))


def test_a_signature_with_characters_beyond_ascii_is_refused(hook: OrderWebhook, paid_event: dict[str, Any]) -> None:
    # Given a header whose v1 is not hex but carries non-ASCII text (anyone can send one)
    now = int(time.time())
    for v1 in ("é" * 64, "\u00ff"):
        # When the webhook receives it, Then it is the same 401 as any wrong signature
        refused(hook.post(paid_event, signature=f"t={now},v1={v1}"))


def test_an_unsigned_request_is_401_whatever_its_content_type(hook: OrderWebhook) -> None:
    response = hook.gateway.request(
        "POST",
        "/v1/webhooks/orders/acme",
        headers={"content-type": "application/x-www-form-urlencoded"},
        body="id=evt_1&type=order.paid",
    )
    refused(response)


def test_another_merchants_secret_or_an_unknown_merchant_is_refused(
    hook: OrderWebhook, paid_event: dict[str, Any]
) -> None:
    from tests.harness.api_client import make_merchant

    other = make_merchant("other")
    refused(hook.post(paid_event, secret=other.webhook_secret))
    refused(hook.post(paid_event, merchant_id="nobody"))


def test_after_a_rotation_both_secrets_verify_during_the_grace_period(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    api.issue("ann", "50.00")
    old_secret = merchant.webhook_secret
    assert api.put("/v1/settings", {"webhook_secret": "whsec_rotated_0123456789"}).status == 200
    assert hook.send("order.paid", order(id="o1", checkout_id=None), secret="whsec_rotated_0123456789").status == 200
    assert hook.send("order.paid", order(id="o2", checkout_id=None), secret=old_secret).status == 200
    # A second rotation retires the first secret for good
    assert api.put("/v1/settings", {"webhook_secret": "whsec_rotated_again_012345"}).status == 200
    refused(hook.send("order.paid", order(id="o3", checkout_id=None), secret=old_secret))


def test_another_merchants_order_events_never_reach_this_merchants_wallets(
    api: Api, hook: OrderWebhook, gateway: Any
) -> None:
    # Given Ann's checkout at this merchant holding 30.00
    from tests.harness.api_client import make_merchant

    api.issue("ann", "50.00")
    apply(api, "30.00")
    # When another merchant, with its own valid signature, sends events naming the same ids
    other_hook = OrderWebhook(gateway, make_merchant("other"))
    assert other_hook.send("order.paid", order()).json()["captured"]["amount"] == "0.00"
    assert other_hook.send("order.cancelled", order()).status == 200
    # Then this merchant's wallet and hold are untouched, and its own order still works
    assert balances(api) == ("50.00", "20.00", "30.00")
    assert money(hook.send("order.paid", order()), "captured") == "30.00"


def test_a_guests_order_paid_with_a_code_captures_the_codes_credit(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given a guest's checkout paying 25.00 with a store-credit code (no customer: the contract
    # lets a checkout name a code instead)
    made = api.post("/v1/codes", {"amount": {"amount": "25.00", "currency": "USD"}}, key="code-g")
    code = made.json()["codes"][0]["code"]
    cart = {"currency": "USD", "items": [{"id": "line1", "quantity": 1, "unit_price": "100.00"}]}
    assert api.post("/v1/checkout/apply", {"checkout_id": "chk_g", "code": code, "cart": cart}, key=None).status == 200
    guest = {k: v for k, v in order(id="ord_g", checkout_id="chk_g", total="75.00").items() if k != "customer_id"}

    # When the guest's order is paid (the order has no customer to name)
    with count_calls() as calls:
        first = hook.send("order.paid", guest, "evt_g_paid")
    paid = send_thrice(hook, "order.paid", guest, "evt_g_paid")

    # Then the code's credit is captured: it cannot come back to the code when the hold lapses
    assert money(paid, "captured") == "25.00" and first.json() == paid.json()
    # And learning whose order it is costs one read of order and hold, not a second one: the
    # settings, order + hold, the code's wallet + statistics, one transaction
    assert calls == ["GetItem", "BatchGetItem", "BatchGetItem", "TransactWriteItems"]
    shown = api.get(f"/v1/codes/{code}").json()
    assert (shown["balance"]["amount"], shown["held"]["amount"]) == ("0.00", "0.00")

    # And when the order is cancelled, the credit goes back to the code
    cancelled = send_thrice(hook, "order.cancelled", guest, "evt_g_cancel")
    assert money(cancelled, "returned") == "25.00"
    assert api.get(f"/v1/codes/{code}").json()["available"]["amount"] == "25.00"
    consistent(merchant, f"~{code}")


def test_an_order_without_a_customer_must_be_a_codes(api: Api, hook: OrderWebhook, merchant: Merchant) -> None:
    # Given ann's checkout holding her credit
    api.issue("ann", "30.00")
    apply(api, "30.00")
    nobody = {k: v for k, v in order().items() if k != "customer_id"}
    # Then an order naming no customer cannot claim it, nor an order with no checkout at all
    refused = hook.send("order.paid", nobody)
    assert refused.status == 422 and refused.json()["errors"][0]["field"] == "order.customer_id"
    assert hook.send("order.paid", {**nobody, "id": "ord_2", "checkout_id": None}).status == 422
    assert balances(api) == ("30.00", "0.00", "30.00")
    consistent(merchant)


def test_a_refund_before_payment_counts_the_hold_only_if_the_payment_captures_it(api: Api, hook: OrderWebhook) -> None:
    from tests.api.test_expiry_job import run_expiry

    # Given 30.00 of ann's 50.00 held by a checkout, and an order of 100.00 that charged 70.00
    api.issue("ann", "50.00")
    apply(api, "30.00")
    # When a refund of the whole order into store credit overtakes the payment
    refund = {"amount": "100.00", "to": "store_credit"}
    assert hook.send("order.refunded", order(refund=refund)).status == 200
    # And the hold lapses (the expiry job releases it) before the payment arrives
    run_expiry(datetime.now(ZoneInfo("UTC")) + timedelta(hours=2))
    paid = hook.send("order.paid", order())
    assert money(paid, "captured") == "0.00"

    # Then ann has what she had plus what she paid by card (70.00), not 30.00 more: the 100.00
    # counted the 30.00 of credit the payment would capture, and it never did
    assert balances(api)[0] == "120.00"


def test_a_refund_as_credit_that_overtakes_the_payment_issues_the_held_part_when_it_is_captured(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given 30.00 of ann's 50.00 held by a checkout, and an order of 100.00 that charged 70.00
    api.issue("ann", "50.00")
    apply(api, "30.00")
    # When a refund of 100.00 into store credit overtakes the payment
    early = send_thrice(hook, "order.refunded", order(refund={"amount": "100.00", "to": "store_credit"}), "evt_r")
    # Then the card's 70.00 is issued now, and the 30.00 the hold pays for waits for the capture
    assert [i["amount"]["amount"] for i in early.json()["issued"]] == ["70.00"]
    assert "30.00 USD" in early.json()["detail"]
    assert balances(api) == ("120.00", "90.00", "30.00")
    # And when the payment captures the hold, the rest of the refund is issued
    paid = send_thrice(hook, "order.paid", order(), "evt_paid")
    assert money(paid, "captured") == "30.00"
    assert [i["amount"]["amount"] for i in paid.json()["issued"] if i["kind"] == "refund"] == ["30.00"]
    assert balances(api) == ("120.00", "120.00", "0.00")
    consistent(merchant)


def test_a_cancel_after_a_refund_that_overtook_the_payment_issues_nothing_of_the_held_part(
    api: Api, hook: OrderWebhook, merchant: Merchant
) -> None:
    # Given a refund of 100.00 as credit that overtook the payment of an order whose checkout
    # holds 30.00 of ann's 50.00 (70.00 charged to the card)
    api.issue("ann", "50.00")
    apply(api, "30.00")
    hook.send("order.refunded", order(refund={"amount": "100.00", "to": "store_credit"}))
    # When the order is cancelled before it is paid
    cancelled = send_thrice(hook, "order.cancelled", order(), "evt_c")
    # Then the hold goes back and the held part of the refund is never issued: ann has her 50.00
    # and the card's 70.00 refunded as credit
    assert money(cancelled, "released") == "30.00"
    assert balances(api) == ("120.00", "120.00", "0.00")
    # And a payment arriving after all captures and issues nothing
    late = hook.send("order.paid", order())
    assert money(late, "captured") == "0.00" and late.json()["issued"] == []
    assert balances(api) == ("120.00", "120.00", "0.00")
    consistent(merchant)
