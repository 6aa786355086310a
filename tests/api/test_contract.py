"""CONTRACT.md, sentence by sentence: promises no other test pinned down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.test_checkout_api import apply, cart
from tests.harness.api_client import Api


def test_a_hold_lasts_60_minutes_by_default(api: Api) -> None:
    api.issue("ann", "20.00")
    before = datetime.now(UTC)
    q = apply(api).json()
    exp = datetime.fromisoformat(q["hold"]["expires_at"])
    assert exp.utcoffset() is not None
    assert timedelta(minutes=59) <= exp - before <= timedelta(minutes=61)


def test_a_hold_follows_hold_ttl_minutes_and_shows_the_merchants_offset(api: Api) -> None:
    api.put("/v1/settings", {"timezone": "Asia/Kolkata", "hold_ttl_minutes": 15})
    api.issue("ann", "20.00")
    before = datetime.now(UTC)
    q = apply(api).json()
    assert q["hold"]["expires_at"].endswith("+05:30")
    exp = datetime.fromisoformat(q["hold"]["expires_at"])
    assert timedelta(minutes=14) <= exp - before <= timedelta(minutes=16)


def test_expires_on_is_23_59_59_merchant_time_on_that_date(api: Api) -> None:
    api.put("/v1/settings", {"timezone": "America/New_York"})
    day = (datetime.now(UTC) + timedelta(days=40)).date().isoformat()
    e = api.issue("c1", "1.00", expires={"on": day}).json()["transaction"]
    assert e["expires_at"].startswith(f"{day}T23:59:59-0")


def test_a_reason_is_at_most_50_characters(api: Api) -> None:
    assert api.issue("c1", "1.00", reason="x" * 50).status == 201
    r = api.issue("c1", "1.00", reason="x" * 51)
    assert r.status == 422
    body = {"amount": {"amount": "0.50", "currency": "USD"}, "reason": "y" * 51}
    assert api.post("/v1/customers/c1/debits", body).status == 422


def test_money_with_more_decimals_than_its_currency_or_a_float_is_a_problem(api: Api) -> None:
    for amount, cur in (("1.001", "USD"), ("1.0", "JPY"), ("1.0001", "KWD")):
        r = api.issue("c1", amount, currency=cur)
        assert r.status == 422, (amount, cur, r.body)
        assert r.headers["content-type"] == "application/problem+json"
    r = api.post("/v1/customers/c1/credits", {"amount": {"amount": 1.5, "currency": "USD"}, "reason": "r"})
    assert r.status in (400, 422)
    p = r.json()
    assert set(p) >= {"type", "title", "status", "detail", "errors"}
    assert p["status"] == r.status
    assert all(set(e) >= {"field", "message"} for e in p["errors"])


def test_requested_amount_zero_applies_none_and_an_amount_applies_at_most_that(api: Api) -> None:
    api.issue("ann", "20.00")
    q = apply(api, requested_amount="0")
    assert q.status == 200
    assert q.json()["applied"]["amount"] == "0.00"
    assert api.wallet("ann").json()["held"]["amount"] == "0.00"
    q = apply(api, "chk_2", requested_amount="5.00")
    assert q.json()["applied"]["amount"] == "5.00"


def test_shipping_is_paid_only_with_apply_to_shipping(api: Api) -> None:
    api.issue("ann", "100.00")
    q = apply(api, cart=cart("10.00", shipping="5.00")).json()
    assert q["applied"]["amount"] == "10.00"
    assert q["totals"]["total"]["amount"] == "5.00"
    api.put("/v1/settings", {"apply_to_shipping": True})
    q = apply(api, "chk_2", cart=cart("10.00", shipping="5.00")).json()
    assert q["applied"]["amount"] == "15.00"
    assert q["breakdown"]["shipping"]["amount"] == "5.00"


def test_include_tax_off_is_a_pre_tax_discount_and_on_covers_the_tax(api: Api) -> None:
    api.issue("ann", "30.00")
    items = [{"id": "a", "quantity": 1, "unit_price": "100.00", "tax_rate": "10"}]
    q = apply(api, cart={"currency": "USD", "items": items}).json()
    assert q["applied"]["amount"] == "30.00"
    assert q["totals"]["tax"]["amount"] == "7.00"
    assert q["totals"]["total"]["amount"] == "77.00"
    api.issue("bob", "500.00")
    q = apply(api, "chk_b", "bob", cart={"currency": "USD", "items": items}).json()
    assert q["applied"]["amount"] == "100.00"
    assert q["totals"]["total"]["amount"] == "0.00"
    api.put("/v1/settings", {"include_tax": True})
    q = apply(api, "chk_c", "bob", cart={"currency": "USD", "items": items}).json()
    assert q["applied"]["amount"] == "110.00"
    assert q["totals"]["total"]["amount"] == "0.00"


def test_non_discountable_items_are_excluded_only_while_the_setting_is_on(api: Api) -> None:
    api.issue("ann", "100.00")
    items = [
        {"id": "a", "quantity": 1, "unit_price": "10.00"},
        {"id": "b", "quantity": 1, "unit_price": "20.00", "discountable": False},
    ]
    q = apply(api, cart={"currency": "USD", "items": items}).json()
    assert q["applied"]["amount"] == "10.00"
    api.put("/v1/settings", {"exclude_non_discountable": False})
    q = apply(api, "chk_2", cart={"currency": "USD", "items": items}).json()
    assert q["applied"]["amount"] == "30.00"


def test_redemption_tiers_use_items_less_discounts_and_round_percent_caps_up(api: Api) -> None:
    api.issue("ann", "1000.00")
    api.put(
        "/v1/settings",
        {
            "redemption_limits": [
                {"min_order": "50.00", "max_fixed": "10.00"},
                {"min_order": "100.00", "max_percent": "5"},
            ]
        },
    )
    # below every tier: nothing, even with shipping pushing it over
    q = apply(api, cart=cart("49.99", shipping="20.00")).json()
    assert q["applied"]["amount"] == "0.00"
    q = apply(api, "c2", cart=cart("60.00", discount_total="5.00")).json()
    assert q["applied"]["amount"] == "10.00"
    # 101.00 * 5% = 5.05 -> 6.00
    q = apply(api, "c3", cart=cart("101.00")).json()
    assert q["applied"]["amount"] == "6.00"
    # discounts push below 100
    q = apply(api, "c4", cart=cart("101.00", discount_total="2.00")).json()
    assert q["applied"]["amount"] == "10.00"


def test_a_restricted_lot_pays_only_its_products_never_shipping(api: Api) -> None:
    api.issue("ann", "50.00", restrictions={"product_ids": ["p1"]})
    api.put("/v1/settings", {"apply_to_shipping": True})
    items = [
        {"id": "a", "product_id": "p1", "quantity": 1, "unit_price": "10.00"},
        {"id": "b", "product_id": "p2", "quantity": 1, "unit_price": "20.00"},
    ]
    q = apply(api, cart={"currency": "USD", "items": items, "shipping": "5.00"}).json()
    assert q["applied"]["amount"] == "10.00"


def test_checkout_spends_expiring_credit_before_credit_that_never_expires(api: Api) -> None:
    api.issue("ann", "10.00")
    api.issue("ann", "10.00", expires={"days": 3})
    q = apply(api, cart=cart("5.00"), capture=True).json()
    lots = {lot["lot_id"]: lot["remaining"]["amount"] for lot in api.wallet("ann").json()["lots"]}
    assert lots == {"lot_1": "10.00", "lot_2": "5.00"}, (lots, q)


def test_report_and_export_times_carry_the_merchants_offset(api: Api) -> None:
    # Given a merchant in Taipei ("Times are ISO 8601 with offset", in the merchant's timezone)
    api.put("/v1/settings", {"timezone": "Asia/Taipei"})
    api.issue("c1", "10.00")
    before = datetime.now(UTC).replace(microsecond=0)

    # Then the report's and the export's own time read as Taipei time, like every other time
    as_of = api.get("/v1/reports/liability?currency=USD").json()["as_of"]
    exported_at = api.get("/v1/customers/c1/export").json()["exported_at"]
    for stamp in (as_of, exported_at):
        assert stamp.endswith("+08:00"), stamp
        assert before <= datetime.fromisoformat(stamp) <= before + timedelta(minutes=1)
