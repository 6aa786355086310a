"""GET/PUT settings: defaults from the contract, merge updates, write-only webhook secret."""

from __future__ import annotations

from tests.harness.api_client import Api, Merchant


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
