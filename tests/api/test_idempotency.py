"""Idempotency-Key: replays change nothing and answer the same; reuse with another body is 409."""

from __future__ import annotations

from tests.harness.api_client import Api, Merchant
from tests.harness.audit import audit_wallet
from tests.harness.faults import client_error, on_call


def issue_body(amount: str = "10.00") -> dict[str, object]:
    return {"amount": {"amount": amount, "currency": "USD"}, "reason": "goodwill"}


def test_the_same_request_n_times_has_one_effect_and_one_answer(api: Api, merchant: Merchant) -> None:
    # Given one issue request sent five times with the same key
    answers = [api.post("/v1/customers/cus_1/credits", issue_body(), key="key-1") for _ in range(5)]

    # Then every answer is the first one, and the wallet holds the credit once
    assert {a.status for a in answers} == {201}
    assert all(a.json() == answers[0].json() for a in answers)
    assert [a.headers.get("idempotent-replayed") for a in answers] == [None, "true", "true", "true", "true"]
    assert api.wallet("cus_1").json()["available"]["amount"] == "10.00"
    assert audit_wallet(merchant.merchant_id, "cus_1", "USD").entries == 1


def test_same_key_with_a_different_body_is_409_and_changes_nothing(api: Api) -> None:
    api.post("/v1/customers/cus_1/credits", issue_body("10.00"), key="key-1")
    reused = api.post("/v1/customers/cus_1/credits", issue_body("99.00"), key="key-1")
    assert reused.status == 409
    assert reused.json()["type"].endswith("idempotency-key-reused")
    other_customer = api.post("/v1/customers/cus_2/credits", issue_body("10.00"), key="key-1")
    assert other_customer.status == 409
    assert api.wallet("cus_1").json()["available"]["amount"] == "10.00"


def test_key_order_in_the_body_does_not_matter(api: Api) -> None:
    first = api.post(
        "/v1/customers/cus_1/credits", '{"amount":{"amount":"1.00","currency":"USD"},"reason":"r"}', key="k"
    )
    again = api.post(
        "/v1/customers/cus_1/credits", '{"reason":"r","amount":{"currency":"USD","amount":"1.00"}}', key="k"
    )
    assert first.status == again.status == 201
    assert again.json() == first.json()


def test_writes_without_a_key_are_refused(api: Api) -> None:
    response = api.post("/v1/customers/cus_1/credits", issue_body(), key=None)
    assert response.status == 400
    assert response.json()["type"].endswith("idempotency-key-required")
    assert api.wallet("cus_1").status == 404


def test_retry_after_a_timeout_whose_write_went_through_gets_the_first_result(api: Api, merchant: Merchant) -> None:
    # Given a debit whose transaction commits but whose answer never reaches the function
    api.issue("cus_1", "10.00")
    with on_call("TransactWriteItems", after=[client_error("RequestTimeout")]):
        lost = api.debit("cus_1", "7.00", key="debit-1")
    assert lost.status == 500

    # When the client retries with the same key, although only 3.00 is left now
    retried = api.debit("cus_1", "7.00", key="debit-1")

    # Then it gets the debit that happened, not "insufficient credit", and no second debit
    assert retried.status == 201
    assert retried.json()["transaction"]["amount"]["amount"] == "-7.00"
    assert api.wallet("cus_1").json()["available"]["amount"] == "3.00"
    audit = audit_wallet(merchant.merchant_id, "cus_1", "USD")
    assert audit.entries == 2
    audit.assert_consistent()


def test_a_refused_request_is_not_remembered(api: Api) -> None:
    # A 409 for insufficient credit wrote nothing, so the same key may succeed later.
    assert api.debit("cus_1", "5.00", key="d").status == 404
    api.issue("cus_1", "10.00")
    assert api.debit("cus_1", "5.00", key="d").status == 201


def test_settings_writes_are_idempotent_too(api: Api) -> None:
    first = api.put("/v1/settings", {"hold_ttl_minutes": 30}, key="s-1")
    again = api.put("/v1/settings", {"hold_ttl_minutes": 30}, key="s-1")
    conflict = api.put("/v1/settings", {"hold_ttl_minutes": 45}, key="s-1")
    assert first.status == again.status == 200
    assert again.headers.get("idempotent-replayed") == "true"
    assert conflict.status == 409
    assert api.get("/v1/settings").json()["hold_ttl_minutes"] == 30
