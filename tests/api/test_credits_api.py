"""Issue, deduct, wallet and ledger through the template's routes (in-process moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.harness.api_client import Api, Merchant
from tests.harness.audit import audit_wallet
from tests.harness.faults import recorded_params


def test_issue_credit_creates_a_lot_and_a_ledger_entry(api: Api, merchant: Merchant) -> None:
    # Given a customer with no credit
    # When the merchant issues 25.00 USD expiring in 30 days
    response = api.issue(
        "cus_1", "25.00", reason="Refund order 1001", source="refund", expires={"days": 30}, note="box damaged"
    )

    # Then the answer is 201 with the ledger entry and the wallet after it
    assert response.status == 201
    body = response.json()
    entry = body["transaction"]
    assert entry["type"] == "credit"
    assert entry["amount"] == {"amount": "25.00", "currency": "USD"}
    assert entry["balance_after"] == {"amount": "25.00", "currency": "USD"}
    assert entry["reason"] == "Refund order 1001"
    assert entry["expires_at"].endswith("T23:59:59+00:00")
    wallet = body["wallet"]
    assert wallet["available"] == {"amount": "25.00", "currency": "USD"}
    assert wallet["held"] == {"amount": "0.00", "currency": "USD"}
    assert "lots" not in wallet  # writes answer balances; GET wallet lists the lots
    assert [lot["source"] for lot in api.wallet("cus_1").json()["lots"]] == ["refund"]
    assert wallet["next_expiry"] == {
        "expires_at": entry["expires_at"],
        "amount": {"amount": "25.00", "currency": "USD"},
    }
    audit_wallet(merchant.merchant_id, "cus_1", "USD").assert_consistent()


def test_next_expiry_counts_every_lot_expiring_at_that_instant(api: Api, merchant: Merchant) -> None:
    # Given two credits issued the same day for 30 days (one instant: 23:59:59 on day 30)
    # and one expiring later
    first = api.issue("cus_1", "25.00", expires={"days": 30}).json()["transaction"]
    api.issue("cus_1", "50.00", expires={"days": 30})
    api.issue("cus_1", "7.00", expires={"days": 90})

    # When the wallet is read, and written again
    shown = api.wallet("cus_1").json()["next_expiry"]
    written = api.debit("cus_1", "5.00").json()["wallet"]["next_expiry"]

    # Then next_expiry is the credit that expires at that instant: both lots, not one of them
    assert shown == {"expires_at": first["expires_at"], "amount": {"amount": "75.00", "currency": "USD"}}
    assert written == {"expires_at": first["expires_at"], "amount": {"amount": "70.00", "currency": "USD"}}


def test_debit_spends_earliest_expiring_lot_first(api: Api, merchant: Merchant) -> None:
    # Given a never-expiring lot, a lot expiring in 90 days and one expiring in 10
    api.issue("cus_1", "10.00")
    api.issue("cus_1", "10.00", expires={"days": 90})
    api.issue("cus_1", "10.00", expires={"days": 10})

    # When 15.00 is deducted
    response = api.debit("cus_1", "15.00")

    # Then the 10-day lot empties, the 90-day lot gives 5, the never-expiring one is untouched
    assert response.status == 201
    assert response.json()["transaction"]["lots"] == [
        {"lot_id": "lot_3", "amount": "-10.00"},
        {"lot_id": "lot_2", "amount": "-5.00"},
    ]
    lots = {lot["lot_id"]: lot["remaining"]["amount"] for lot in api.wallet("cus_1").json()["lots"]}
    assert lots == {"lot_2": "5.00", "lot_1": "10.00"}
    audit_wallet(merchant.merchant_id, "cus_1", "USD").assert_consistent()


def test_debit_beyond_the_balance_is_409_insufficient_credit_and_writes_nothing(api: Api, merchant: Merchant) -> None:
    api.issue("cus_1", "5.00")
    response = api.debit("cus_1", "5.01")
    assert response.status == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("insufficient-credit")
    assert api.wallet("cus_1").json()["available"]["amount"] == "5.00"
    assert audit_wallet(merchant.merchant_id, "cus_1", "USD").entries == 1


def test_each_currency_is_its_own_wallet_with_its_own_decimals(api: Api) -> None:
    assert api.issue("cus_1", "1500", currency="JPY").status == 201
    assert api.issue("cus_1", "1.250", currency="KWD").status == 201
    assert api.wallet("cus_1", "JPY").json()["available"] == {"amount": "1500", "currency": "JPY"}
    assert api.wallet("cus_1", "KWD").json()["available"] == {"amount": "1.250", "currency": "KWD"}
    assert api.wallet("cus_1", "USD").json()["available"] == {"amount": "0.00", "currency": "USD"}


def test_credit_not_yet_valid_counts_in_balance_but_not_in_available(api: Api) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    api.issue("cus_1", "8.00", valid_from=tomorrow)
    wallet = api.wallet("cus_1").json()
    assert wallet["balance"]["amount"] == "8.00"
    assert wallet["available"]["amount"] == "0.00"
    assert wallet["lots"][0]["state"] == "pending"
    assert api.debit("cus_1", "1.00").status == 409


def test_a_valid_from_with_a_fraction_of_a_second_is_never_valid_early(api: Api) -> None:
    # Given credit valid from half a second past a whole second
    assert api.issue("cus_1", "8.00", valid_from="2030-01-01T00:00:00.500Z").status == 201
    # Then it becomes valid at the next whole second, not the one before
    assert api.wallet("cus_1").json()["lots"][0]["valid_from"] == "2030-01-01T00:00:01+00:00"


def test_merchant_default_expiry_and_timezone_apply_when_expires_is_omitted(api: Api) -> None:
    api.put("/v1/settings", {"timezone": "Asia/Taipei", "default_expiry": {"days": 1}})
    entry = api.issue("cus_1", "1.00").json()["transaction"]
    assert entry["expires_at"].endswith("T23:59:59+08:00")
    assert entry["created_at"].endswith("+08:00")
    never = api.issue("cus_1", "1.00", expires={"never": True}).json()["transaction"]
    assert never["expires_at"] is None


def test_unknown_customer_is_404_and_known_customer_without_that_currency_is_zero(api: Api) -> None:
    assert api.wallet("nobody").status == 404
    assert api.get("/v1/customers/nobody/transactions").status == 404
    assert api.debit("nobody", "1.00").status == 404
    api.issue("cus_1", "1.00", currency="EUR")
    assert api.wallet("cus_1", "USD").json()["available"] == {"amount": "0.00", "currency": "USD"}


def test_transactions_are_newest_first_and_paginate_with_a_cursor(api: Api) -> None:
    for amount in ("1.00", "2.00", "3.00", "4.00", "5.00"):
        api.issue("cus_1", amount)
    api.debit("cus_1", "0.50")

    first = api.get("/v1/customers/cus_1/transactions?limit=4").json()
    second = api.get(f"/v1/customers/cus_1/transactions?limit=4&cursor={first['next_cursor']}").json()

    seen = [(e["type"], e["amount"]["amount"], e["balance_after"]["amount"]) for e in first["items"] + second["items"]]
    assert seen == [
        ("debit", "-0.50", "14.50"),
        ("credit", "5.00", "15.00"),
        ("credit", "4.00", "10.00"),
        ("credit", "3.00", "6.00"),
        ("credit", "2.00", "3.00"),
        ("credit", "1.00", "1.00"),
    ]
    assert second["next_cursor"] is None
    for entry in first["items"]:
        assert set(entry) >= {"type", "amount", "balance_after", "reason", "order_id", "created_at"}


def test_the_ledger_is_read_consistently_so_a_credit_just_issued_is_listed(api: Api) -> None:
    # Given a credit of 10.00 issued a moment ago (the wallet, read consistently, shows it)
    api.issue("cus_1", "10.00")
    assert api.wallet("cus_1").json()["balance"]["amount"] == "10.00"

    # When the merchant lists the customer's transactions, recording every Query made
    with recorded_params("Query") as queries:
        listed = api.get("/v1/customers/cus_1/transactions")

    # Then the ledger is read consistently, as the wallet is: an eventually consistent Query on
    # DynamoDB can miss the entry written a moment before, and list no credit behind a balance
    # of 10.00 (an empty page for a customer who exists, not even a 404)
    assert queries and all(q.get("ConsistentRead") for q in queries)
    assert [e["amount"]["amount"] for e in listed.json()["items"]] == ["10.00"]


def test_a_forged_cursor_is_refused(api: Api) -> None:
    api.issue("cus_1", "1.00")
    response = api.get("/v1/customers/cus_1/transactions?cursor=TSNhY21lI0MjY3VzXzE")
    assert response.status == 422
    assert response.json()["errors"][0]["field"] == "cursor"


def test_profile_email_and_phone_are_kept_for_lookup(api: Api, merchant: Merchant) -> None:
    from tests.harness.audit import all_items

    api.issue("cus_1", "1.00", email="Ann@example.com", phone="+886912345678")
    profile = next(i for i in all_items() if i["SK"]["S"] == "PROFILE")
    assert profile["email_key"]["S"] == f"M#{merchant.merchant_id}#E#Ann@example.com"
    assert profile["phone_key"]["S"] == f"M#{merchant.merchant_id}#P#+886912345678"


def test_credit_a_wallet_has_no_room_left_for_is_refused_not_a_500(api: Api, merchant: Merchant) -> None:
    # Given a customer holding lots whose restrictions are as long as the API allows
    restrictions = {
        "product_ids": [f"p{i:03d}" + "x" * 124 for i in range(100)],
        "categories": [f"c{i:03d}" + "y" * 124 for i in range(100)],
    }
    statuses = [api.issue("ann", "1.00", restrictions=restrictions).status for _ in range(16)]

    # Then a credit the wallet item cannot hold any more is refused as a problem, never a 500
    assert 500 not in statuses
    refused = api.issue("ann", "1.00", restrictions=restrictions)
    assert refused.status == 409, refused.body
    assert refused.json()["type"].endswith("wallet-full")
    # And the wallet still takes what makes it smaller, and adds up
    assert api.debit("ann", "1.00").status == 201
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()
