"""How the write path behaves when DynamoDB conflicts, throttles or loses answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest

from tests.harness.api_client import Api, Merchant
from tests.harness.audit import audit_wallet
from tests.harness.faults import client_error, count_calls, on_call, transaction_canceled


def test_transaction_conflicts_are_retried_until_the_write_lands(api: Api, merchant: Merchant) -> None:
    api.issue("cus_1", "10.00")
    conflicts = [transaction_canceled("TransactionConflict", "None", "None")] * 3
    with on_call("TransactWriteItems", before=conflicts) as calls:
        response = api.debit("cus_1", "4.00")
    assert response.status == 201
    assert len(calls) == 4
    audit_wallet(merchant.merchant_id, "cus_1", "USD").assert_consistent()


def test_persistent_throttling_is_503_with_retry_after_and_nothing_written(api: Api, merchant: Merchant) -> None:
    api.issue("cus_1", "10.00")
    throttled = [client_error("ThrottlingException")] * 50
    with on_call("TransactWriteItems", before=throttled):
        response = api.debit("cus_1", "4.00")
    assert response.status == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["type"].endswith("wallet-busy")
    assert audit_wallet(merchant.merchant_id, "cus_1", "USD").entries == 1


def test_throttled_reads_are_503_not_500(api: Api) -> None:
    with on_call("BatchGetItem", before=[client_error("ProvisionedThroughputExceededException")]):
        response = api.issue("cus_1", "1.00")
    assert response.status == 503


def test_a_write_costs_two_round_trips(api: Api) -> None:
    api.issue("cus_1", "10.00")
    with count_calls() as calls:
        assert api.debit("cus_1", "1.00").status == 201
        assert api.issue("cus_1", "1.00").status == 201
    # The authorizer's GetItem (cached by API Gateway in production), then one consistent
    # BatchGetItem (settings + wallet) and one TransactWriteItems per write.
    assert calls == ["GetItem", "BatchGetItem", "TransactWriteItems"] * 2


def test_reading_a_wallet_is_one_round_trip(api: Api) -> None:
    api.issue("cus_1", "10.00")
    with count_calls() as calls:
        assert api.wallet("cus_1").status == 200
    assert calls == ["GetItem", "BatchGetItem"]


@contextmanager
def unprocessed_batch_reads(times: int) -> Iterator[list[int]]:
    """Answer the next ``times`` BatchGetItem calls as DynamoDB does when it throttles some keys:
    nothing read, every key handed back as unprocessed (the real call is never made)."""
    from store_credit import wallet_store

    events = wallet_store.dynamodb().meta.events
    answered: list[int] = []

    def short_circuit(params: dict[str, Any], **_: Any) -> Any:
        if len(answered) >= times:
            return None
        answered.append(1)
        unprocessed = json.loads(params["body"])["RequestItems"]  # the request as it would be sent
        return SimpleNamespace(status_code=200), {"Responses": {}, "UnprocessedKeys": unprocessed}

    events.register("before-call.dynamodb.BatchGetItem", short_circuit, unique_id="unprocessed-reads")
    try:
        yield answered
    finally:
        events.unregister("before-call.dynamodb.BatchGetItem", unique_id="unprocessed-reads")


def test_keys_dynamodb_leaves_unprocessed_are_read_again_after_a_pause(
    api: Api, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 10.00 of credit, and DynamoDB handing back the first two batch reads unprocessed
    api.issue("cus_1", "10.00")
    pauses: list[float] = []
    monkeypatch.setattr("store_credit.wallet_store.time.sleep", pauses.append)
    with unprocessed_batch_reads(2) as answered:
        # When a debit reads settings and wallet
        response = api.debit("cus_1", "4.00")
    # Then it reads them on the third try, after growing pauses, and debits once
    assert response.status == 201 and len(answered) == 2
    assert pauses == [0.1, 0.2]
    assert audit_wallet(merchant.merchant_id, "cus_1", "USD").entries == 2


def test_reads_left_unprocessed_for_seconds_are_503_and_nothing_written(
    api: Api, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.issue("cus_1", "10.00")
    monkeypatch.setattr("store_credit.wallet_store.time.sleep", lambda _: None)
    with unprocessed_batch_reads(100):
        response = api.debit("cus_1", "4.00")
    assert response.status == 503 and response.json()["type"].endswith("wallet-busy")
    assert audit_wallet(merchant.merchant_id, "cus_1", "USD").entries == 1


def test_a_retry_that_writes_other_items_never_reuses_the_request_token(api: Api, merchant: Merchant) -> None:
    # Given a debit whose first transaction meets a TransactionConflict (the wallet is unchanged,
    # so the retry is conditioned on the same version, with a new entry id and time)
    api.issue("cus_1", "10.00")
    from store_credit import wallet_store

    tokens: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        tokens.append(json.loads(params["body"])["ClientRequestToken"])

    events = wallet_store.dynamodb().meta.events
    events.register("before-call.dynamodb.TransactWriteItems", record, unique_id="record-tokens")
    try:
        with on_call("TransactWriteItems", before=[transaction_canceled("TransactionConflict", "None", "None")]):
            assert api.debit("cus_1", "4.00").status == 201
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="record-tokens")
    # Then the retry carries a token of its own: DynamoDB would answer a token reused with other
    # parameters with IdempotentParameterMismatch for ten minutes
    assert len(tokens) == 2 and tokens[0] != tokens[1]
    audit_wallet(merchant.merchant_id, "cus_1", "USD").assert_consistent()
