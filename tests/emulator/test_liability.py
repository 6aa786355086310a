"""The liability report equals the sum of the ledger, kept by counters from the stream, and a
redelivered stream record is never counted twice."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from tests.harness.api_client import Api, OrderWebhook, make_merchant
from tests.harness.audit import all_items
from tests.harness.gateway import Gateway
from tests.harness.pumps import StreamPump


def ledger_by_source(merchant_id: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for item in all_items():
        if item["SK"]["S"].startswith("L#") and item["PK"]["S"].startswith(f"M#{merchant_id}#"):
            for source, amount in item["by_source"]["M"].items():
                totals[source] = totals.get(source, 0) + int(amount["N"])
    return {k: v for k, v in totals.items() if v}


def test_liability_equals_the_ledger_and_survives_redelivery(emulator: str) -> None:
    from store_credit.expiry_service import run_expiry

    api = Api(Gateway(), make_merchant("books").api_key)
    # Given credit from several sources, spent, captured at checkout, and some of it expired
    api.issue("ann", "50.00")
    api.issue("ann", "20.00", source="refund")
    api.issue("bob", "30.00", source="reward", expires={"days": 1})
    api.debit("ann", "10.00")
    checkout = {
        "checkout_id": "chk_1",
        "customer_id": "ann",
        "capture": True,
        "cart": {"currency": "USD", "items": [{"id": "x", "quantity": 1, "unit_price": "15.00"}]},
    }
    assert api.post("/v1/checkout/apply", checkout, key=None).json()["applied"]["amount"] == "15.00"
    later = int(time.time()) + 3 * 86_400
    assert run_expiry(later)["lots_expired"] == 1

    # When the stream is delivered, and then delivered all over again
    StreamPump().pump()
    StreamPump().pump()  # a fresh reader from the start: every record a second time

    # Then outstanding credit by source is what the ledger adds up to, counted once
    to_day = datetime.fromtimestamp(later, UTC).date().isoformat()
    from_day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    report = api.get(f"/v1/reports/liability?currency=USD&from={from_day}&to={to_day}").json()
    expected = ledger_by_source("books")
    assert {k: v["amount"] for k, v in report["outstanding"]["by_source"].items()} == {
        k: f"{v / 100:.2f}" for k, v in sorted(expected.items())
    }
    assert report["outstanding"]["total"]["amount"] == "45.00"  # ann 50 + 20 - 10 - 15; bob 0
    assert report["expired"]["amount"] == "30.00"
    assert report["redeemed"]["amount"] == "25.00"
    # And the balances of the wallets agree
    assert sum(Decimal(api.wallet(c).json()["balance"]["amount"]) for c in ("ann", "bob")) == Decimal("45.00")


def test_bad_report_parameters_are_422(emulator: str) -> None:
    api = Api(Gateway(), make_merchant("books2").api_key)
    assert api.get("/v1/reports/liability").status == 422
    assert api.get("/v1/reports/liability?currency=USD&from=yesterday").status == 422
    assert api.get("/v1/reports/liability?currency=USD&from=2026-02-01&to=2026-01-01").status == 422
    empty = api.get("/v1/reports/liability?currency=JPY").json()
    assert empty["outstanding"]["total"] == {"amount": "0", "currency": "JPY"}


def test_order_refunds_lower_redeemed_and_restore_outstanding(emulator: str) -> None:
    # Given 50.00 of refund credit, 30.00 of it captured by an order that is then cancelled
    merchant = make_merchant("books")
    gateway = Gateway()
    api = Api(gateway, merchant.api_key)
    hook = OrderWebhook(gateway, merchant)
    api.issue("ann", "50.00", source="refund")
    checkout = {
        "checkout_id": "chk_1",
        "customer_id": "ann",
        "requested_amount": "30.00",
        "cart": {"currency": "USD", "items": [{"id": "x", "quantity": 1, "unit_price": "100.00"}]},
    }
    assert api.post("/v1/checkout/apply", checkout, key=None).status == 200
    order = {"id": "o1", "checkout_id": "chk_1", "customer_id": "ann", "currency": "USD", "total": "70.00"}
    assert hook.send("order.paid", order).status == 200
    assert hook.send("order.cancelled", order).status == 200

    # When the stream is delivered twice
    StreamPump().pump()
    StreamPump().pump()

    # Then the credit is owed again, from its own source, and nothing counts as redeemed
    today = datetime.now(UTC).date().isoformat()
    report = api.get(f"/v1/reports/liability?currency=USD&from={today}&to={today}").json()
    assert {k: v["amount"] for k, v in report["outstanding"]["by_source"].items()} == {"refund": "50.00"}
    assert report["redeemed"]["amount"] == "0.00"
    assert ledger_by_source("books") == {"refund": 50_00}


def test_credit_a_cancelled_order_takes_back_is_not_redeemed(emulator: str) -> None:
    # Given a card order that earned a 10.00 reward, spent at once on a second order, and a card
    # order that earned 5.00, left unspent
    merchant = make_merchant("books")
    gateway = Gateway()
    api = Api(gateway, merchant.api_key)
    hook = OrderWebhook(gateway, merchant)
    rules = {"earning_rules": [{"type": "place_order", "per": "10.00", "credit": "1.00"}]}
    assert api.put("/v1/settings", rules).status == 200
    first = {"id": "o1", "customer_id": "ann", "currency": "USD", "total": "100.00"}
    assert hook.send("order.paid", first).status == 200
    checkout = {
        "checkout_id": "chk_2",
        "customer_id": "ann",
        "requested_amount": "10.00",
        "cart": {"currency": "USD", "items": [{"id": "x", "quantity": 1, "unit_price": "10.00"}]},
    }
    assert api.post("/v1/checkout/apply", checkout, key=None).json()["applied"]["amount"] == "10.00"
    second = {"id": "o2", "checkout_id": "chk_2", "customer_id": "ann", "currency": "USD", "total": "0.00"}
    assert hook.send("order.paid", second).status == 200
    third = {"id": "o3", "customer_id": "bob", "currency": "USD", "total": "50.00"}
    assert hook.send("order.paid", third).status == 200

    # When all three orders are cancelled: the first's reward is owed back (spent), and taken
    # when the second's cancel returns it; the third's is taken back at once
    for body in (first, second, third):
        assert hook.send("order.cancelled", body).status == 200
    StreamPump().pump()
    StreamPump().pump()

    # Then nothing was redeemed: no order stands, the rewards went back with their orders
    today = datetime.now(UTC).date().isoformat()
    report = api.get(f"/v1/reports/liability?currency=USD&from={today}&to={today}").json()
    assert report["outstanding"]["total"]["amount"] == "0.00"
    assert report["redeemed"]["amount"] == "0.00"
    assert report["taken_back"]["amount"] == "15.00"


def test_the_report_counts_days_in_the_merchants_timezone(emulator: str) -> None:
    # Given a merchant whose own day is not UTC's right now (one of UTC-11 and UTC+14 never is)
    now = datetime.now(UTC)
    tz = next(
        name
        for name in ("Pacific/Pago_Pago", "Pacific/Kiritimati")
        if now.astimezone(ZoneInfo(name)).date() != now.date()
    )
    merchant = make_merchant("books")
    api = Api(Gateway(), merchant.api_key)
    assert api.put("/v1/settings", {"timezone": tz}).status == 200
    # and 10.00 of its credit spent now
    api.issue("ann", "30.00")
    api.debit("ann", "10.00")
    StreamPump().pump()

    # When the merchant asks for its today, named or by default
    local_today = datetime.now(ZoneInfo(tz)).date().isoformat()
    named = api.get(f"/v1/reports/liability?currency=USD&from={local_today}&to={local_today}").json()
    default = api.get("/v1/reports/liability?currency=USD").json()

    # Then the debit is in it: the days are the merchant's, like every day the contract names
    assert named["redeemed"]["amount"] == "10.00"
    assert default["to"] == local_today
    assert default["redeemed"]["amount"] == "10.00"
    # and the UTC day it is not is empty
    utc_today = now.date().isoformat()
    other = api.get(f"/v1/reports/liability?currency=USD&from={utc_today}&to={utc_today}").json()
    assert other["redeemed"]["amount"] == "0.00"


def test_credit_is_expired_on_the_day_it_expired_not_the_day_the_job_saw_it(emulator: str) -> None:
    from store_credit.expiry_service import run_expiry

    # Given 30.00 expiring at the end of tomorrow (23:59:59, the merchant's time: UTC here)
    api = Api(Gateway(), make_merchant("books").api_key)
    api.issue("ann", "30.00", expires={"days": 1})
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    end_of_tomorrow = int(datetime.combine(tomorrow, datetime.max.time(), tzinfo=UTC).timestamp())

    # When the expiry job, run every few minutes, next runs just after midnight
    assert run_expiry(end_of_tomorrow + 180)["lots_expired"] == 1
    StreamPump().pump()

    # Then the credit counts as expired tomorrow, the day it expired, not the day after
    day = tomorrow.isoformat()
    report = api.get(f"/v1/reports/liability?currency=USD&from={day}&to={day}").json()
    assert report["expired"]["amount"] == "30.00"


def test_codes_wallets_count_like_customers_wallets(emulator: str) -> None:
    # Given two codes of 25.00, one spent in part by a captured checkout and 10.00 of it given
    # back by its order's cancel
    merchant = make_merchant("books")
    gateway = Gateway()
    api = Api(gateway, merchant.api_key)
    hook = OrderWebhook(gateway, merchant)
    made = api.post("/v1/codes", {"amount": {"amount": "25.00", "currency": "USD"}, "count": 2}, key="auto")
    assert made.status == 201, made.json()
    code = made.json()["codes"][0]["code"]
    cart = {"currency": "USD", "items": [{"id": "a", "quantity": 1, "unit_price": "15.00"}]}
    body = {"checkout_id": "chk_c", "code": code, "capture": True, "cart": cart}
    assert api.post("/v1/checkout/apply", body, key=None).json()["applied"]["amount"] == "15.00"
    order = {"id": "o1", "checkout_id": "chk_c", "customer_id": "ann", "currency": "USD", "total": "0.00"}
    assert hook.send("order.paid", order).status == 200
    refunded = hook.send("order.refunded", {**order, "refund": {"amount": "10.00", "to": "original"}})
    assert refunded.status == 200, refunded.json()

    # When the stream is delivered twice
    StreamPump().pump()
    StreamPump().pump()

    # Then the report owes what the codes hold, and redeemed what stayed spent
    today = datetime.now(UTC).date().isoformat()
    report = api.get(f"/v1/reports/liability?currency=USD&from={today}&to={today}").json()
    held = sum(Decimal(api.get(f"/v1/codes/{c['code']}").json()["balance"]["amount"]) for c in made.json()["codes"])
    assert Decimal(report["outstanding"]["total"]["amount"]) == held
    assert Decimal(report["redeemed"]["amount"]) == Decimal("50.00") - held
    assert {k: v for k, v in ledger_by_source("books").items()} == {"manual": int(held * 100)}


def test_a_lapsed_hold_on_an_expired_reward_its_order_owes_is_taken_back_not_expired(emulator: str) -> None:
    from store_credit.expiry_service import run_expiry

    # Given a reward of 10.00 expiring tomorrow, 6.00 of it held by a checkout, and 20.00 of
    # goodwill; the reward's order is cancelled (4.00 taken now, 6.00 owed while held)
    merchant = make_merchant("books")
    gateway = Gateway()
    api = Api(gateway, merchant.api_key)
    hook = OrderWebhook(gateway, merchant)
    rule = {"type": "place_order", "per": "10.00", "credit": "1.00", "expires": {"days": 1}}
    assert api.put("/v1/settings", {"earning_rules": [rule]}).status == 200
    api.issue("ann", "20.00")
    first = {"id": "o1", "customer_id": "ann", "currency": "USD", "total": "100.00"}
    assert hook.send("order.paid", first).status == 200
    cart = {"currency": "USD", "items": [{"id": "x", "quantity": 1, "unit_price": "50.00"}]}
    apply = {"checkout_id": "chk_2", "customer_id": "ann", "requested_amount": "6.00", "cart": cart}
    assert api.post("/v1/checkout/apply", apply, key=None).json()["applied"]["amount"] == "6.00"
    assert hook.send("order.cancelled", first).status == 200

    # When the hold lapses and the expiry job runs days later, and the stream is delivered twice
    later = int(time.time()) + 3 * 86_400
    run_expiry(later)
    StreamPump().pump()
    StreamPump().pump()

    # Then the whole reward went back to its order (taken back, never expired nor redeemed) and
    # the report owes what the wallet holds
    to_day = datetime.fromtimestamp(later, UTC).date().isoformat()
    from_day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    report = api.get(f"/v1/reports/liability?currency=USD&from={from_day}&to={to_day}").json()
    assert api.wallet("ann").json()["balance"]["amount"] == "20.00"
    assert {k: v["amount"] for k, v in report["outstanding"]["by_source"].items()} == {"manual": "20.00"}
    assert (report["taken_back"]["amount"], report["expired"]["amount"], report["redeemed"]["amount"]) == (
        "10.00",
        "0.00",
        "0.00",
    )
