"""Privacy export and erasure: everything out on request; identity gone, amounts kept."""

from __future__ import annotations

from typing import Any

from tests.harness.api_client import Api, Merchant, make_merchant
from tests.harness.audit import all_items, audit_wallet


def seed(api: Api) -> None:
    api.issue("ann", "20.00", email="ann@example.com", phone="+886912345678", note="called about order 1001")
    api.issue("ann", "5.00", currency="EUR")
    api.debit("ann", "3.00")
    api.put(
        "/v1/customers/ann/renewal",
        {"amount": {"amount": "5.00", "currency": "USD"}, "mode": "grant", "period": "monthly"},
    )


def test_export_has_every_wallet_entry_plan_and_profile_field(api: Api) -> None:
    seed(api)
    export = api.get("/v1/customers/ann/export")
    assert export.status == 200
    body = export.json()
    assert body["profile"] == {"email": "ann@example.com", "phone": "+886912345678"}
    assert sorted(w["currency"] for w in body["wallets"]) == ["EUR", "USD"]
    assert len(body["ledger"]) == 3
    assert any(e["note"] == "called about order 1001" for e in body["ledger"])
    assert body["renewal_plans"] == [
        {"currency": "USD", "amount": {"amount": "5.00", "currency": "USD"}, "period": "monthly", "mode": "grant"}
    ]


def test_the_export_shows_money_as_money_and_times_with_their_offset(api: Api) -> None:
    # Given a merchant in Taipei, a customer with 20.00 of which 7.50 is held by a checkout
    api.put("/v1/settings", {"timezone": "Asia/Taipei"})
    api.issue("ann", "20.00")
    cart = {"currency": "USD", "items": [{"id": "x", "quantity": 1, "unit_price": "7.50"}]}
    assert api.post("/v1/checkout/apply", {"checkout_id": "chk_1", "customer_id": "ann", "cart": cart}).status == 200

    # When the customer's data is exported
    wallet = api.get("/v1/customers/ann/export").json()["wallets"][0]

    # Then the hold reads as the wallet does: money a decimal string, its time ISO 8601 in Taipei
    (hold,) = wallet["holds"]
    assert hold["amount"] == {"amount": "7.50", "currency": "USD"}
    assert hold["expires_at"].endswith("+08:00")


def test_erasure_removes_identity_and_keeps_the_books(api: Api, merchant: Merchant) -> None:
    seed(api)
    before = audit_wallet(merchant.merchant_id, "ann", "USD")

    erased = api.write("DELETE", "/v1/customers/ann/personal-data", None, key=None)

    assert erased.status == 200 and erased.json()["items_erased"] == 2  # the profile and the noted entry
    text = repr(all_items())
    for personal in ("ann@example.com", "+886912345678", "called about order 1001"):
        assert personal not in text
    after = audit_wallet(merchant.merchant_id, "ann", "USD")
    after.assert_consistent()
    assert (after.balance, after.sum_of_ledger, after.entries) == (before.balance, before.sum_of_ledger, before.entries)
    assert api.get("/v1/customers/ann/export").json()["profile"] == {}
    again = api.write("DELETE", "/v1/customers/ann/personal-data", None, key=None)
    assert again.status == 200 and again.json()["items_erased"] == 0


def test_the_customer_can_no_longer_be_found_by_email_or_phone(api: Api, merchant: Merchant) -> None:
    import boto3

    seed(api)
    api.write("DELETE", "/v1/customers/ann/personal-data", None, key=None)
    client = boto3.client("dynamodb", region_name="us-east-1")
    for index, key in (("ByEmail", "email_key"), ("ByPhone", "phone_key")):
        value = f"M#{merchant.merchant_id}#{'E#ann@example.com' if key == 'email_key' else 'P#+886912345678'}"
        found = client.query(
            TableName="store-credit-test",
            IndexName=index,
            KeyConditionExpression=f"{key} = :v",
            ExpressionAttributeValues={":v": {"S": value}},
        )
        assert found["Items"] == []


def test_privacy_routes_see_only_the_merchants_own_customers(api: Api, gateway: Any) -> None:
    seed(api)
    rival = Api(gateway, make_merchant("rival").api_key)
    assert rival.get("/v1/customers/ann/export").status == 404
    assert rival.write("DELETE", "/v1/customers/ann/personal-data", None, key=None).status == 404
    assert api.get("/v1/customers/ann/export").json()["profile"]["email"] == "ann@example.com"


def test_an_erasure_cut_short_and_retried_still_scrubs_the_replayed_answer(api: Api) -> None:
    from tests.harness.faults import client_error, on_call

    # Given a credit issued with a note under a key whose answer is kept for replays
    body = {"amount": {"amount": "20.00", "currency": "USD"}, "reason": "goodwill", "note": "called about 1001"}
    assert api.post("/v1/customers/ann/credits", body, key="credit-1").status == 201

    # When the erasure dies just after removing the ledger note, before scrubbing the kept
    # answer (the update's response is lost to throttling), and the merchant retries it
    with on_call("UpdateItem", after=[client_error("ThrottlingException")]):
        cut_short = api.write("DELETE", "/v1/customers/ann/personal-data", None, key=None)
    assert cut_short.status == 503
    assert api.write("DELETE", "/v1/customers/ann/personal-data", None, key=None).status == 200

    # Then the note is gone everywhere: a replay of the first request no longer quotes it
    replayed = api.post("/v1/customers/ann/credits", body, key="credit-1")
    assert replayed.status == 201 and replayed.json()["transaction"]["note"] is None
    assert "called about 1001" not in repr(all_items())


def test_an_erasure_racing_the_ttl_of_a_kept_answer_leaves_the_key_usable(api: Api, merchant: Merchant) -> None:
    import boto3

    from store_credit import wallet_store

    # Given a noted credit whose kept answer DynamoDB's TTL deletes just as the erasure has
    # read it (the record is 7 days old: the sweep may run at any moment)
    body = {"amount": {"amount": "20.00", "currency": "USD"}, "reason": "goodwill", "note": "called about 1001"}
    assert api.post("/v1/customers/ann/credits", body, key="credit-1").status == 201
    events = wallet_store.dynamodb().meta.events
    record_key = {"PK": {"S": f"M#{merchant.merchant_id}#IDEM#credit-1"}, "SK": {"S": "IDEM"}}

    reading_the_record = [False]

    def notice(params: dict[str, Any], **_: object) -> None:
        reading_the_record[0] = params.get("Key") == record_key

    def ttl_sweeps(**_: object) -> None:
        if reading_the_record[0]:
            boto3.client("dynamodb", region_name="us-east-1").delete_item(TableName="store-credit-test", Key=record_key)

    events.register("provide-client-params.dynamodb.GetItem", notice, unique_id="ttl-notice")
    events.register("after-call.dynamodb.GetItem", ttl_sweeps, unique_id="ttl-sweep")
    try:
        # When the customer's personal data is erased
        erased = api.write("DELETE", "/v1/customers/ann/personal-data", None, key=None)
    finally:
        events.unregister("provide-client-params.dynamodb.GetItem", unique_id="ttl-notice")
        events.unregister("after-call.dynamodb.GetItem", unique_id="ttl-sweep")
    assert erased.status == 200

    # Then no stub of the record is left behind: the key, now free, works for a new request
    assert "credit-1" not in repr([item["PK"] for item in all_items()])
    assert api.post("/v1/customers/ann/credits", body, key="credit-1").status == 201
