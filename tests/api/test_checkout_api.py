"""POST /v1/checkout/apply and DELETE /v1/checkout/{id}: holds, replays, capture, release."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.harness.api_client import Api, Merchant
from tests.harness.audit import audit_wallet
from tests.harness.faults import count_calls


def cart(*prices: str, **extra: Any) -> dict[str, Any]:
    items = [{"id": f"line{i}", "quantity": 1, "unit_price": p} for i, p in enumerate(prices)]
    return {"currency": "USD", "items": items, **extra}


def apply(api: Api, checkout_id: str = "chk_1", customer: str = "ann", **fields: Any) -> Any:
    body = {"checkout_id": checkout_id, "customer_id": customer, "cart": fields.pop("cart", cart("80.00")), **fields}
    return api.post("/v1/checkout/apply", body, key=None)


def test_apply_holds_credit_and_shows_the_totals(api: Api, merchant: Merchant) -> None:
    # Given 20.00 of credit, when an 80.00 cart applies it
    api.issue("ann", "20.00")
    response = apply(api)

    # Then 20.00 is held and 60.00 is left to pay
    assert response.status == 200
    quote = response.json()
    assert quote["applied"] == {"amount": "20.00", "currency": "USD"}
    assert quote["totals"]["total"]["amount"] == "60.00"
    assert quote["hold"]["id"] == "chk_1"
    assert quote["balance_after"]["amount"] == "0.00"
    wallet = api.wallet("ann").json()
    assert (wallet["held"]["amount"], wallet["available"]["amount"], wallet["balance"]["amount"]) == (
        "20.00",
        "0.00",
        "20.00",
    )
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()


def test_the_same_apply_again_is_one_hold_and_the_same_answer(api: Api) -> None:
    api.issue("ann", "50.00")
    first = apply(api)
    again = [apply(api) for _ in range(3)]
    assert all(r.json() == first.json() for r in again)
    assert again[0].headers.get("idempotent-replayed") == "true"
    assert api.wallet("ann").json()["held"]["amount"] == "50.00"


def test_a_changed_cart_replaces_the_hold(api: Api) -> None:
    api.issue("ann", "50.00")
    apply(api, cart=cart("30.00"))
    replaced = apply(api, cart=cart("10.00"))
    assert replaced.json()["applied"]["amount"] == "10.00"
    wallet = api.wallet("ann").json()
    assert (wallet["held"]["amount"], wallet["available"]["amount"]) == ("10.00", "40.00")


def test_two_checkouts_cannot_hold_the_same_credit(api: Api) -> None:
    api.issue("ann", "50.00")
    assert apply(api, "chk_1", cart=cart("30.00")).json()["applied"]["amount"] == "30.00"
    assert apply(api, "chk_2", cart=cart("30.00")).json()["applied"]["amount"] == "20.00"
    nothing_left = apply(api, "chk_3", cart=cart("30.00"))
    assert nothing_left.status == 200
    assert nothing_left.json()["applied"]["amount"] == "0.00"
    assert nothing_left.json()["hold"] is None


def test_release_gives_the_credit_back_and_is_idempotent(api: Api) -> None:
    api.issue("ann", "50.00")
    apply(api, cart=cart("30.00"))
    released = api.write("DELETE", "/v1/checkout/chk_1", None, key=None)
    assert released.status == 200
    assert released.json()["released"]["amount"] == "30.00"
    assert api.wallet("ann").json()["available"]["amount"] == "50.00"
    again = api.write("DELETE", "/v1/checkout/chk_1", None, key=None)
    assert again.status == 200
    assert again.json()["state"] == "released"
    assert api.write("DELETE", "/v1/checkout/nope", None, key=None).status == 404


def test_capture_spends_at_once_and_only_once(api: Api, merchant: Merchant) -> None:
    api.issue("ann", "50.00")
    first = apply(api, cart=cart("30.00"), capture=True)
    assert first.json()["captured"] is True
    assert first.json()["hold"] is None
    again = apply(api, cart=cart("30.00"), capture=True)
    assert again.json() == first.json()
    changed = apply(api, cart=cart("10.00"), capture=True)
    assert changed.status == 409
    assert changed.json()["type"].endswith("checkout-conflict")
    wallet = api.wallet("ann").json()
    assert (wallet["balance"]["amount"], wallet["held"]["amount"]) == ("20.00", "0.00")
    history = api.get("/v1/customers/ann/transactions").json()["items"]
    newest = history[0]
    assert (newest["type"], newest["amount"]["amount"], newest["order_id"]) == ("capture", "-30.00", "chk_1")
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()


def test_a_checkout_id_stays_with_its_customer(api: Api) -> None:
    api.issue("ann", "50.00")
    api.issue("bob", "50.00")
    apply(api, "chk_1", "ann", cart=cart("10.00"))
    stolen = apply(api, "chk_1", "bob", cart=cart("10.00"))
    assert stolen.status == 409
    assert api.wallet("bob").json()["held"]["amount"] == "0.00"


def test_settings_shape_the_quote(api: Api) -> None:
    api.put("/v1/settings", {"redemption_limits": [{"min_order": None, "max_percent": "5"}]})
    api.issue("ann", "1000.00")
    quote = apply(api, cart=cart("477.00", discount_total="48.00")).json()
    assert quote["applied"]["amount"] == "22.00"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"checkout_id": "c", "cart": cart("10.00")}, "body"),
        ({"checkout_id": "c", "customer_id": "ann", "cart": {**cart("10.00"), "currency": "XYZ"}}, "cart"),
        ({"checkout_id": "c", "customer_id": "ann", "cart": cart("10.001")}, "cart.items.0.unit_price"),
        ({"checkout_id": "c", "customer_id": "ann", "cart": cart("-1.00")}, "cart.items.0.unit_price"),
        ({"checkout_id": "c", "customer_id": "ann", "cart": {"currency": "USD", "items": []}}, "cart.items"),
        (
            {"checkout_id": "c", "customer_id": "ann", "cart": {**cart("10.00"), "discount_total": "11.00"}},
            "cart.discount_total",
        ),
        (
            {
                "checkout_id": "c",
                "customer_id": "ann",
                "cart": {
                    "currency": "USD",
                    "items": [{"id": "g", "quantity": 1, "unit_price": "25.00", "store_credit_product": True}],
                },
            },
            "cart.items",
        ),
        ({"checkout_id": "c", "customer_id": "ann", "cart": cart("10.00"), "requested_amount": 5}, "requested_amount"),
    ],
)
def test_bad_checkouts_are_422_and_hold_nothing(api: Api, body: dict[str, Any], field: str) -> None:
    api.issue("ann", "50.00")
    response = api.post("/v1/checkout/apply", body, key=None)
    assert response.status == 422, response.body
    assert any(e["field"].startswith(field) for e in response.json()["errors"]), response.json()
    assert api.wallet("ann").json()["held"]["amount"] == "0.00"


def test_apply_costs_two_round_trips_and_reads_only_the_wallet_once_settings_are_cached(api: Api) -> None:
    api.issue("ann", "50.00")
    with count_calls() as calls:
        assert apply(api, cart=cart("30.00")).status == 200
        assert apply(api, cart=cart("20.00")).status == 200
    # GetItem first: the authorizer (cached by the gateway in production). The first apply reads
    # settings and wallet together; the next reads the wallet alone (settings cached 30 s).
    assert calls == ["GetItem", "BatchGetItem", "TransactWriteItems", "GetItem", "GetItem", "TransactWriteItems"]


def test_a_settings_change_reaches_checkout_at_once_here_and_within_30_seconds_elsewhere(
    api: Api, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from store_credit import wallet_store

    # Given a checkout container that has read the settings (no redemption limit)
    api.issue("ann", "500.00")
    assert apply(api, checkout_id="chk_s1", cart=cart("40.00")).json()["applied"]["amount"] == "40.00"
    # When this container changes them: the very next checkout sees the 10.00 cap
    tiers = {"redemption_limits": [{"min_order": None, "max_fixed": "10.00"}]}
    assert api.put("/v1/settings", tiers).status == 200
    assert apply(api, checkout_id="chk_s2", cart=cart("40.00")).json()["applied"]["amount"] == "10.00"
    # When another container changes them (written straight to the table, this cache untouched)
    record = wallet_store.load_settings(merchant.merchant_id)
    assert record is not None
    document = {**record.document, "redemption_limits": [{"min_order": None, "max_fixed": "5.00"}]}
    wallet_store.put_settings(
        merchant.merchant_id, document, expected_version=record.version, webhook_secret=None, idempotency=None
    )
    wallet_store._settings_cache[merchant.merchant_id] = (time.monotonic() + 30, record)  # as cached before
    # Then this container keeps the old cap for up to 30 seconds, and the new one after
    assert apply(api, checkout_id="chk_s3", cart=cart("40.00")).json()["applied"]["amount"] == "10.00"
    later = time.monotonic() + 31
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert apply(api, checkout_id="chk_s4", cart=cart("40.00")).json()["applied"]["amount"] == "5.00"


def test_the_decision_is_logged_without_the_buyer(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    api.issue("cus-private-77", "50.00")
    with caplog.at_level(logging.INFO, logger="store-credit"):
        body = {"checkout_id": "chk_log", "customer_id": "cus-private-77", "cart": cart("30.00")}
        assert api.post("/v1/checkout/apply", body, key=None).status == 200
    decisions = [r for r in caplog.records if r.name == "store-credit" and r.getMessage() == "checkout credit decided"]
    assert len(decisions) == 1
    assert decisions[0].__dict__["applied"] == 3000
    assert decisions[0].__dict__["eligible"] == 3000
    assert "cus-private-77" not in repr([r.__dict__ for r in caplog.records if r.name == "store-credit"])


def test_a_repeated_capture_is_marked_as_a_replay(api: Api) -> None:
    api.issue("ann", "50.00")
    first = apply(api, cart=cart("30.00"), capture=True)
    again = apply(api, cart=cart("30.00"), capture=True)
    assert first.headers.get("idempotent-replayed") is None
    assert again.headers.get("idempotent-replayed") == "true"
    assert api.wallet("ann").json()["balance"]["amount"] == "20.00"


def test_a_retried_capture_answers_its_first_result_even_once_the_credit_is_spent(api: Api, merchant: Merchant) -> None:
    # Given a capture at apply that spent all of the buyer's 30.00
    api.issue("ann", "30.00")
    first = apply(api, cart=cart("30.00"), capture=True)
    assert first.json()["applied"]["amount"] == "30.00"

    # When the checkout system retries it (its first answer lost), with nothing left to apply
    again = apply(api, cart=cart("30.00"), capture=True)

    # Then it gets the first answer, not "no credit applied" (which would charge the buyer
    # again for what their credit already paid), and nothing moves
    assert again.status == 200
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert api.wallet("ann").json()["balance"]["amount"] == "0.00"
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()


def test_a_captured_checkout_is_final_even_for_a_request_that_applies_nothing(api: Api) -> None:
    # Given a checkout captured at apply
    api.issue("ann", "30.00")
    apply(api, cart=cart("30.00"), capture=True)

    # When it is applied again with another body that would apply nothing
    changed = apply(api, cart=cart("30.00"), requested_amount="0")

    # Then it is the conflict any other change of a captured checkout is, not "0.00 applied"
    assert changed.status == 409
    assert changed.json()["type"].endswith("checkout-conflict")


def test_a_checkout_id_stays_with_its_customer_even_when_the_other_has_no_credit(api: Api) -> None:
    # Given ann's checkout holding 10.00, and bob with no credit
    api.issue("ann", "50.00")
    apply(api, "chk_1", "ann", cart=cart("10.00"))

    # When bob's checkout uses the same id
    stolen = apply(api, "chk_1", "bob", cart=cart("10.00"))

    # Then it is a conflict, as it is when bob has credit, and ann's hold stays
    assert stolen.status == 409
    assert stolen.json()["type"].endswith("checkout-conflict")
    assert api.wallet("ann").json()["held"]["amount"] == "10.00"


def test_redemption_tiers_written_with_cents_still_cap_a_yen_and_a_dinar_cart(api: Api) -> None:
    # Given tiers written as in the contract ("100.00", "10.00"), one set for every currency
    tiers = [{"min_order": "100.00", "max_fixed": "10.00"}, {"min_order": "1000.005", "max_percent": "5"}]
    api.put("/v1/settings", {"redemption_limits": tiers})
    api.issue("ann", "5000", currency="JPY")
    api.issue("bob", "5000.000", currency="KWD")

    # When a JPY cart of 999 yen and a KWD cart of 1000.005 dinars apply credit
    yen = {"currency": "JPY", "items": [{"id": "a", "quantity": 1, "unit_price": "999"}]}
    dinar = {"currency": "KWD", "items": [{"id": "a", "quantity": 1, "unit_price": "1000.005"}]}
    yen_quote = apply(api, "chk_jpy", "ann", cart=yen)
    dinar_quote = apply(api, "chk_kwd", "bob", cart=dinar)

    # Then the tiers read as numbers in the cart's currency: 999 yen reaches 100, capped at 10
    # yen (not a 422 blaming the settings); 1000.005 dinars reaches the 5% tier: 50.00025 → 51
    assert yen_quote.status == 200, yen_quote.body
    assert yen_quote.json()["applied"]["amount"] == "10"
    assert dinar_quote.status == 200, dinar_quote.body
    assert dinar_quote.json()["applied"]["amount"] == "51.000"


def test_two_tiers_that_meet_in_whole_yen_apply_the_higher_one(api: Api) -> None:
    # Given tiers at 100.2 and 100.4: in yen both are reached first at 101
    tiers = [{"min_order": "100.2", "max_fixed": "5"}, {"min_order": "100.4", "max_fixed": "7"}]
    api.put("/v1/settings", {"redemption_limits": tiers})
    api.issue("ann", "5000", currency="JPY")

    # When a 101 yen cart applies credit
    yen = {"currency": "JPY", "items": [{"id": "a", "quantity": 1, "unit_price": "101"}]}
    quote = apply(api, "chk_jpy", "ann", cart=yen)

    # Then the order reaches 100.4 too, so that tier (the highest reached) caps it at 7
    assert quote.status == 200, quote.body
    assert quote.json()["applied"]["amount"] == "7"


@pytest.mark.parametrize(("offset", "applied"), [(-1, "15.00"), (0, "5.00")])
def test_a_lot_expiring_this_second_is_no_longer_applied(
    api: Api, monkeypatch: pytest.MonkeyPatch, offset: int, applied: str
) -> None:
    # Given an open lot of 5.00 and a lot of 10.00 expiring at the end of a day
    api.issue("ann", "5.00")
    expiring = api.issue("ann", "10.00", expires={"on": "2099-06-30"}).json()["transaction"]["expires_at"]
    expires_at = int(datetime.fromisoformat(expiring).timestamp())

    # When the checkout runs one second before that expiry, or at it exactly
    monkeypatch.setattr("store_credit.checkout_service.time.time_ns", lambda: (expires_at + offset) * 10**9)
    quote = apply(api).json()

    # Then the expiring lot pays only before its time
    assert quote["applied"]["amount"] == applied


def test_a_lot_not_yet_valid_is_not_applied(api: Api) -> None:
    # Given 5.00 open and 20.00 valid only from tomorrow
    api.issue("ann", "5.00")
    api.issue("ann", "20.00", valid_from=(datetime.now(UTC) + timedelta(days=1)).isoformat())

    # When an 80.00 cart applies credit
    quote = apply(api).json()

    # Then only the open 5.00 is held
    assert quote["applied"]["amount"] == "5.00"
    assert [lot["amount"] for lot in quote["lots"]] == ["5.00"]


def test_a_tax_inclusive_yen_cart_paid_in_full_adds_up_by_hand(api: Api) -> None:
    # Given credit covering tax, shipping and non-discountable items, and 5,000 yen of credit
    api.put("/v1/settings", {"include_tax": True, "apply_to_shipping": True, "exclude_non_discountable": False})
    api.issue("ann", "5000", currency="JPY")
    cart = {
        "currency": "JPY",
        "prices_include_tax": True,
        "discount_total": "101",
        "shipping": "550",
        "shipping_tax_rate": "10",
        "items": [
            {"id": "a", "quantity": 3, "unit_price": "333", "tax_rate": "8"},
            {"id": "b", "quantity": 1, "unit_price": "1999", "tax_rate": "10", "discountable": False},
        ],
    }

    # When it applies credit
    quote = apply(api, cart=cart, requested_amount="4000").json()

    # Then by hand: a is 999 (74 tax, 925 before), 898 after the discount (67 tax, 831); b is
    # 1999 (182 tax, 1817); shipping 550 (50 tax, 500). Subtotal 2742, discounts 94, tax 299,
    # and the 3447 to pay (898 + 1999 + 550) is all paid
    totals = {name: money["amount"] for name, money in quote["totals"].items()}
    assert totals == {
        "subtotal": "2742",
        "discounts": "94",
        "shipping": "500",
        "tax": "299",
        "store_credit": "3447",
        "total": "0",
    }
    assert quote["breakdown"] == {
        "items": {"amount": "2648", "currency": "JPY"},
        "shipping": {"amount": "500", "currency": "JPY"},
        "tax": {"amount": "299", "currency": "JPY"},
    }


# --- the same apply again after the hold's time ------------------------------------------------


def shift_clock(monkeypatch: pytest.MonkeyPatch, minutes: int) -> datetime:
    """Move the service's clock ``minutes`` forward (from the real clock); the new now."""
    import time

    real_time, real_ns = time.time, time.time_ns
    offset = minutes * 60
    monkeypatch.setattr(time, "time", lambda: real_time() + offset)
    monkeypatch.setattr(time, "time_ns", lambda: real_ns() + offset * 10**9)
    return datetime.now(UTC) + timedelta(minutes=minutes)


def hold_ends(quote: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(quote["hold"]["expires_at"])


@pytest.mark.parametrize("released_by_the_job", [False, True], ids=["lapsed", "released"])
def test_the_same_apply_after_the_hold_lapsed_holds_the_credit_again(
    api: Api, merchant: Merchant, monkeypatch: pytest.MonkeyPatch, released_by_the_job: bool
) -> None:
    from tests.api.test_expiry_job import run_expiry

    # Given a 30-minute hold of 30.00 of ann's 50.00
    api.put("/v1/settings", {"hold_ttl_minutes": 30})
    api.issue("ann", "50.00")
    first = apply(api, cart=cart("30.00")).json()

    # When the checkout sends the same apply 31 minutes later (the expiry job has run, or not yet)
    now = shift_clock(monkeypatch, 31)
    if released_by_the_job:
        assert run_expiry(now)["holds_released"] == 1
    again = apply(api, cart=cart("30.00"))

    # Then it is no replay of the lapsed quote: 30.00 is held again, for 30 minutes from now
    assert again.status == 200, again.body
    assert again.headers.get("idempotent-replayed") is None
    quote = again.json()
    assert quote["applied"]["amount"] == "30.00"
    assert hold_ends(quote) > now + timedelta(minutes=29)
    assert hold_ends(quote) > hold_ends(first)
    assert quote["balance_after"]["amount"] == "20.00"
    wallet = api.wallet("ann").json()
    assert (wallet["held"]["amount"], wallet["available"]["amount"]) == ("30.00", "20.00")
    # and the expiry job leaves the new hold alone until its own time
    assert run_expiry(now + timedelta(minutes=10))["holds_released"] == 0
    assert api.wallet("ann").json()["held"]["amount"] == "30.00"
    # and while it is live, the same apply again is a replay of this answer, with no write
    with count_calls() as calls:
        replay = apply(api, cart=cart("30.00"))
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.json() == quote
    assert "TransactWriteItems" not in calls
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()


@pytest.mark.parametrize("released_by_the_job", [False, True], ids=["lapsed", "released"])
def test_the_same_apply_after_the_hold_lapsed_says_so_when_the_credit_is_gone(
    api: Api, merchant: Merchant, monkeypatch: pytest.MonkeyPatch, released_by_the_job: bool
) -> None:
    from tests.api.test_expiry_job import run_expiry

    # Given a 30-minute hold of all of ann's 20.00, credit that expires within two days
    api.put("/v1/settings", {"hold_ttl_minutes": 30})
    api.issue("ann", "20.00", expires={"on": (datetime.now(UTC) + timedelta(days=2)).date().isoformat()})
    assert apply(api, cart=cart("30.00")).json()["applied"]["amount"] == "20.00"

    # When the same apply comes again after both the lot's and the hold's time
    now = shift_clock(monkeypatch, 3 * 24 * 60)
    if released_by_the_job:
        assert run_expiry(now)["holds_released"] == 1
    again = apply(api, cart=cart("30.00"))

    # Then it answers what is true now: no credit applied, nothing held, the full total to pay
    assert again.status == 200, again.body
    assert again.headers.get("idempotent-replayed") is None
    quote = again.json()
    assert (quote["applied"]["amount"], quote["hold"], quote["totals"]["total"]["amount"]) == ("0.00", None, "30.00")
    assert quote["balance_after"]["amount"] == "0.00"
    assert api.wallet("ann").json()["held"]["amount"] == "0.00"
    # and a release of the checkout finds nothing held
    released = api.write("DELETE", "/v1/checkout/chk_1", None, key=None)
    assert (released.status, released.json()["released"]["amount"]) == (200, "0.00")
    run_expiry(now)
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()


@pytest.mark.parametrize("released_by_the_job", [False, True], ids=["later", "after-the-job"])
def test_a_capture_at_apply_sent_again_after_the_hold_time_is_still_its_first_answer(
    api: Api, merchant: Merchant, monkeypatch: pytest.MonkeyPatch, released_by_the_job: bool
) -> None:
    from tests.api.test_expiry_job import run_expiry

    # Given a checkout that captured 30.00 of ann's 50.00 at apply
    api.put("/v1/settings", {"hold_ttl_minutes": 30})
    api.issue("ann", "50.00")
    first = apply(api, cart=cart("30.00"), capture=True)

    # When the same capture comes again long after a hold would have lapsed
    now = shift_clock(monkeypatch, 31)
    if released_by_the_job:
        run_expiry(now)
    again = apply(api, cart=cart("30.00"), capture=True)

    # Then it is a pure replay: the credit was spent then, and is not spent again
    assert again.status == 200
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    wallet = api.wallet("ann").json()
    assert (wallet["balance"]["amount"], wallet["held"]["amount"]) == ("20.00", "0.00")
    assert audit_wallet(merchant.merchant_id, "ann", "USD").entries == 2


def test_two_applies_racing_after_the_hold_lapsed_hold_the_credit_once(
    api: Api, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from store_credit import wallet_store

    # Given a 30-minute hold of 30.00 of ann's 50.00, lapsed (the expiry job has not run yet)
    api.put("/v1/settings", {"hold_ttl_minutes": 30})
    api.issue("ann", "50.00")
    apply(api, cart=cart("30.00"))
    shift_clock(monkeypatch, 31)
    # When the checkout sends the same apply twice at once: the second one writes after the
    # first has read the wallet, but before the first writes
    events = wallet_store.dynamodb().meta.events
    second: list[Any] = []

    def race(**_: Any) -> None:
        if not second:
            second.append(None)
            second[0] = apply(api, cart=cart("30.00"))

    events.register("before-call.dynamodb.TransactWriteItems", race, unique_id="race-lapsed")
    try:
        first = apply(api, cart=cart("30.00"))
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="race-lapsed")

    # Then the credit is held once, and both are told the same hold (the loser replays it)
    assert second[0].status == first.status == 200
    assert second[0].headers.get("idempotent-replayed") is None
    assert first.headers.get("idempotent-replayed") == "true"
    assert first.json() == second[0].json()
    assert first.json()["applied"]["amount"] == "30.00"
    wallet = api.wallet("ann").json()
    assert (wallet["held"]["amount"], wallet["available"]["amount"]) == ("30.00", "20.00")
    audit = audit_wallet(merchant.merchant_id, "ann", "USD")
    audit.assert_consistent()
    assert audit.held == 3000
