"""GET/PUT settings: defaults from the contract, merge updates, write-only webhook secret."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.harness.api_client import Api, Merchant, OrderWebhook


def test_defaults_are_the_contracts(api: Api) -> None:
    settings = api.get("/v1/settings").json()
    assert settings == {
        "timezone": "UTC",
        "default_expiry": None,
        "notifications": {"email": False},
        "apply_to_shipping": False,
        "include_tax": False,
        "exclude_non_discountable": True,
        "redemption_limits": [],
        "hold_ttl_minutes": 60,
        "earning_rules": [],
        "webhook_secret_set": True,
    }


def test_put_replaces_the_fields_given_and_keeps_the_rest(api: Api) -> None:
    api.put("/v1/settings", {"timezone": "Asia/Taipei", "apply_to_shipping": True})
    response = api.put(
        "/v1/settings",
        {
            "redemption_limits": [
                {"min_order": None, "max_fixed": "10.00"},
                {"min_order": "100.00", "max_percent": "5"},
            ],
            "earning_rules": [
                {"type": "place_order", "per": "20.00", "credit": "1.00"},
                {"type": "referral", "percent": "10"},
                {"type": "milestone", "orders": 5, "credit": "10.00", "expires": {"days": 30}},
            ],
        },
    )
    assert response.status == 200
    settings = api.get("/v1/settings").json()
    assert settings["timezone"] == "Asia/Taipei"
    assert settings["apply_to_shipping"] is True
    assert settings["redemption_limits"][1] == {"min_order": "100.00", "max_fixed": None, "max_percent": "5"}
    assert [rule["type"] for rule in settings["earning_rules"]] == ["place_order", "referral", "milestone"]
    assert response.json() == settings


def test_null_clears_the_default_expiry(api: Api) -> None:
    api.put("/v1/settings", {"default_expiry": {"days": 365}})
    assert api.get("/v1/settings").json()["default_expiry"] == {"never": None, "days": 365, "on": None}
    api.put("/v1/settings", {"default_expiry": None})
    assert api.get("/v1/settings").json()["default_expiry"] is None


def test_webhook_secret_is_write_only(api: Api) -> None:
    response = api.put("/v1/settings", {"webhook_secret": "whsec_rotated_0123456789"})
    assert response.status == 200
    assert "webhook_secret" not in response.json()
    assert "whsec_rotated_0123456789" not in api.get("/v1/settings").body
    assert api.get("/v1/settings").json()["webhook_secret_set"] is True


def test_rotating_the_webhook_secret_keeps_the_old_one_for_the_grace_period(api: Api, merchant: Merchant) -> None:
    from store_credit import wallet_store
    from store_credit.webhook_signatures import accepted_secrets

    api.put("/v1/settings", {"webhook_secret": "whsec_rotated_0123456789"})
    record = wallet_store.load_settings(merchant.merchant_id)
    assert record is not None and record.rotated_at is not None
    assert record.webhook_secret == "whsec_rotated_0123456789"
    assert record.previous_webhook_secret == merchant.webhook_secret
    secrets = accepted_secrets(
        record.webhook_secret, record.previous_webhook_secret, record.rotated_at, record.rotated_at + 60
    )
    assert secrets == ["whsec_rotated_0123456789", merchant.webhook_secret]
    api.put("/v1/settings", {"timezone": "Asia/Taipei"})  # other changes keep the rotation
    assert wallet_store.load_settings(merchant.merchant_id).previous_webhook_secret == merchant.webhook_secret  # type: ignore[union-attr]


def test_an_expiry_date_already_over_is_refused_as_a_default_or_for_a_rule(api: Api) -> None:
    # Given a merchant whose settings work
    rule = {"type": "place_order", "per": "10.00", "credit": "1.00"}

    # When a default expiry or an earning rule's expiry names a day already over
    default = api.put("/v1/settings", {"default_expiry": {"on": "2020-01-01"}})
    rules = api.put("/v1/settings", {"earning_rules": [rule, {**rule, "expires": {"on": "2020-01-01"}}]})

    # Then each is 422 on the field that names it, and nothing changes
    assert default.status == 422, default.body
    assert [e["field"] for e in default.json()["errors"]] == ["default_expiry.on"]
    assert rules.status == 422, rules.body
    assert [e["field"] for e in rules.json()["errors"]] == ["earning_rules.1.expires.on"]
    settings = api.get("/v1/settings").json()
    assert (settings["default_expiry"], settings["earning_rules"]) == (None, [])
    # And credit issued without an expiry still works
    assert api.issue("ann", "5.00").status == 201


def test_an_earning_rule_whose_expiry_date_passes_does_not_block_payments(
    api: Api, gateway: Any, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a reward rule whose credit expires tomorrow, and a checkout holding 30.00
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    rule = {"type": "place_order", "per": "10.00", "credit": "1.00", "expires": {"on": tomorrow}}
    assert api.put("/v1/settings", {"earning_rules": [rule]}).status == 200
    api.issue("ann", "50.00")
    cart = {"currency": "USD", "items": [{"id": "x", "quantity": 1, "unit_price": "100.00"}]}
    body = {"checkout_id": "chk_1", "customer_id": "ann", "requested_amount": "30.00", "cart": cart}
    assert api.post("/v1/checkout/apply", body).status == 200

    # When the order is paid three days later
    real, real_ns = time.time, time.time_ns
    monkeypatch.setattr(time, "time", lambda: real() + 3 * 86_400)
    monkeypatch.setattr(time, "time_ns", lambda: real_ns() + 3 * 86_400 * 10**9)
    order = {"id": "ord_1", "checkout_id": "chk_1", "customer_id": "ann", "currency": "USD", "total": "70.00"}
    paid = OrderWebhook(gateway, merchant).send("order.paid", order)

    # Then the payment still captures the hold, and the reward, born expired, is not given
    assert paid.status == 200, paid.body
    assert paid.json()["captured"] == {"amount": "30.00", "currency": "USD"}
    wallet = api.wallet("ann").json()
    assert (wallet["available"]["amount"], wallet["held"]["amount"]) == ("20.00", "0.00")


def test_credit_an_order_owes_is_issued_after_the_default_expiry_date_passed(
    api: Api, gateway: Any, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a default expiry of tomorrow and an order paid by card today
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert api.put("/v1/settings", {"default_expiry": {"on": tomorrow}}).status == 200
    hook = OrderWebhook(gateway, merchant)
    order = {"id": "ord_1", "customer_id": "ann", "currency": "USD", "total": "80.00"}
    assert hook.send("order.paid", order).status == 200

    # When, three days later, part of it is refunded as store credit
    real, real_ns = time.time, time.time_ns
    monkeypatch.setattr(time, "time", lambda: real() + 3 * 86_400)
    monkeypatch.setattr(time, "time_ns", lambda: real_ns() + 3 * 86_400 * 10**9)
    refunded = hook.send("order.refunded", {**order, "refund": {"amount": "25.00", "to": "store_credit"}})

    # Then the refund is not refused (the order system would not retry a 422): the buyer gets
    # the credit, which never expires since the merchant's default date is over
    assert refunded.status == 200, refunded.body
    wallet = api.wallet("ann").json()
    assert wallet["available"]["amount"] == "25.00"
    assert [lot["expires_at"] for lot in wallet["lots"]] == [None]


def days_later(monkeypatch: pytest.MonkeyPatch, days: int) -> None:
    """Every clock the service reads (and the webhook signer) runs ``days`` ahead from now on."""
    real, real_ns = time.time, time.time_ns
    monkeypatch.setattr(time, "time", lambda: real() + days * 86_400)
    monkeypatch.setattr(time, "time_ns", lambda: real_ns() + days * 86_400 * 10**9)


def tomorrow() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).date().isoformat()


def test_a_caller_relying_on_a_default_expiry_date_that_passed_is_told_the_setting(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a merchant whose credit expires tomorrow by default
    assert api.put("/v1/settings", {"default_expiry": {"on": tomorrow()}}).status == 200

    # When, three days later, credit and codes are issued without `expires`
    days_later(monkeypatch, 3)
    issued = api.issue("ann", "5.00")
    codes = api.post("/v1/codes", {"amount": {"amount": "5.00", "currency": "USD"}, "count": 1, "reason": "Promo"})

    # Then each is 422 on the merchant's setting, not on a field the caller never sent
    for response in (issued, codes):
        assert response.status == 422, response.body
        assert [e["field"] for e in response.json()["errors"]] == ["settings.default_expiry.on"]
    # And a caller that says when its credit expires is served
    assert api.issue("ann", "5.00", expires={"days": 30}).status == 201
    assert api.wallet("ann").json()["available"]["amount"] == "5.00"


def test_an_import_relying_on_a_default_expiry_date_that_passed_is_refused_naming_the_setting(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.api.test_imports_api import csv_body, post_csv, queued

    # Given a customer, and a default expiry of tomorrow
    api.issue("ann", "1.00")
    assert api.put("/v1/settings", {"default_expiry": {"on": tomorrow()}}).status == 200
    days_later(monkeypatch, 3)

    # When, three days later, a file is uploaded with one row relying on the default
    refused = post_csv(
        api, csv_body("ann,,,5.00,USD,Migration,,30", "ann,,,2.00,USD,Migration,,", "ann,,,-1.00,USD,Fix,,")
    )

    # Then the whole file is refused on the setting, and nothing is queued
    assert refused.status == 422, refused.body
    assert [e["field"] for e in refused.json()["errors"]] == ["settings.default_expiry.on"]
    assert queued() == 0
    # And a file whose credit rows all say when they expire is accepted (debits need no expiry)
    assert post_csv(api, csv_body("ann,,,5.00,USD,Migration,,30", "ann,,,-1.00,USD,Fix,,")).status == 202


def test_import_rows_queued_before_the_default_expiry_date_passed_are_applied_after_it(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.api.test_imports_api import csv_body, import_status, post_csv
    from tests.harness.pumps import QueuePump

    # Given a default expiry of tomorrow, and a file accepted today that relies on it
    api.issue("ann", "1.00", expires={"never": True})
    assert api.put("/v1/settings", {"default_expiry": {"on": tomorrow()}}).status == 200
    accepted = post_csv(api, csv_body("ann,,,5.00,USD,Migration,,"))
    assert accepted.status == 202, accepted.body

    # When its rows are applied only after that day (the queue was backed up)
    days_later(monkeypatch, 3)
    QueuePump().drain()

    # Then the row is applied, not failed on a column it never had: its credit never expires
    status = import_status(api, accepted.json()["import_id"])
    assert (status["rows_applied"], status["rows_failed"]) == (1, 0), status
    lots = api.wallet("ann").json()["lots"]
    assert [lot["expires_at"] for lot in lots if lot["source"] == "import"] == [None]


def test_rewards_are_earned_after_the_default_expiry_date_passed(
    api: Api, gateway: Any, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an earning rule of its own without an expiry, and a default expiry of tomorrow
    rule = {"type": "place_order", "per": "10.00", "credit": "1.00"}
    assert api.put("/v1/settings", {"earning_rules": [rule], "default_expiry": {"on": tomorrow()}}).status == 200

    # When an order of 50.00 is paid three days later
    days_later(monkeypatch, 3)
    order = {"id": "ord_1", "customer_id": "ann", "currency": "USD", "total": "50.00"}
    paid = OrderWebhook(gateway, merchant).send("order.paid", order)

    # Then the buyer earns the reward, which never expires (the stale default no longer applies)
    assert paid.status == 200, paid.body
    wallet = api.wallet("ann").json()
    assert wallet["available"]["amount"] == "5.00"
    assert [(lot["source"], lot["expires_at"]) for lot in wallet["lots"]] == [("reward", None)]


def test_a_renewal_plan_grants_after_the_default_expiry_date_passed(api: Api) -> None:
    from tests.api.test_renewal import first_of_next_month, run_renewal

    # Given a monthly grant of 10.00 without an expiry of its own, and a default expiry of tomorrow
    assert api.put("/v1/settings", {"default_expiry": {"on": tomorrow()}}).status == 200
    body = {"amount": {"amount": "10.00", "currency": "USD"}, "mode": "grant", "period": "monthly"}
    assert api.put("/v1/customers/ann/renewal", body).status == 200

    # When the renewal job runs after that day has passed
    summary = run_renewal(first_of_next_month("UTC", 2) + timedelta(minutes=5))

    # Then the period is granted (not passed over with nothing), and the credit never expires
    assert summary["granted"] == {"USD": "10.00"}, summary
    lots = api.wallet("ann").json()["lots"]
    assert [(lot["source"], lot["expires_at"]) for lot in lots] == [("renewal", None)]


@pytest.mark.parametrize(
    "change",
    [
        {"earning_rules": [{"type": "referral", "percent": "100.99"}]},
        {"redemption_limits": [{"min_order": None, "max_percent": "100.50"}]},
    ],
    ids=["referral", "redemption_limit"],
)
def test_a_percentage_over_100_is_refused(api: Api, change: dict[str, Any]) -> None:
    # Given a merchant with no rules
    # When a referral or a redemption cap is set to more than 100%
    response = api.put("/v1/settings", change)

    # Then it is 422 and nothing changes (a 100.99% referral paid the referrer more than the order)
    assert response.status == 422, response.body
    settings = api.get("/v1/settings").json()
    assert (settings["earning_rules"], settings["redemption_limits"]) == ([], [])
    # And 100% written with decimals is still a percentage
    assert api.put("/v1/settings", {"earning_rules": [{"type": "referral", "percent": "100.00"}]}).status == 200
