"""Bulk import through the template's routes and the import queue (in-process moto): matching,
validation before anything is stored, tenancy, and exactly-once application under redelivery."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest

from tests.harness.api_client import Api, Merchant, make_merchant
from tests.harness.audit import audit_wallet
from tests.harness.faults import on_call, recorded_params
from tests.harness.gateway import Gateway
from tests.harness.pumps import QueuePump

HEADER = "customer_id,email,phone,amount,currency,reason,expires_on,expires_days"


def csv_body(*lines: str) -> str:
    return "\n".join([HEADER, *lines]) + "\n"


def post_csv(api: Api, text: str | bytes, key: str | None = "auto", **headers: str) -> Any:
    return api.post("/v1/imports", text, key=key, headers={"content-type": "text/csv", **headers})


def import_status(api: Api, import_id: str, query: str = "") -> dict[str, Any]:
    response = api.get(f"/v1/imports/{import_id}{query}")
    assert response.status == 200, response.body
    return dict(response.json())


def available(api: Api, customer: str, currency: str = "USD") -> str:
    return str(api.wallet(customer, currency).json()["available"]["amount"])


def queued() -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=os.environ["IMPORT_QUEUE_URL"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def ledger_count(api: Api, customer: str) -> int:
    return len(api.get(f"/v1/customers/{customer}/transactions?limit=100").json()["items"])


@contextmanager
def crash_after_write(nth: int) -> Iterator[None]:
    """The nth TransactWriteItems commits, then the consumer dies before it can answer."""
    from store_credit import wallet_store

    events = wallet_store.dynamodb().meta.events
    seen = [0]

    def after_call(**_: Any) -> None:
        seen[0] += 1
        if seen[0] == nth:
            raise RuntimeError("Lambda crashed after the write")

    events.register("after-call.dynamodb.TransactWriteItems", after_call, unique_id="crash-after-write")
    try:
        yield
    finally:
        events.unregister("after-call.dynamodb.TransactWriteItems", unique_id="crash-after-write")


def run_import(api: Api, text: str) -> dict[str, Any]:
    response = post_csv(api, text)
    assert response.status == 202, response.body
    QueuePump().drain()
    return import_status(api, response.json()["import_id"])


def test_a_csv_import_is_accepted_queued_and_applied(api: Api, merchant: Merchant) -> None:
    # Given two customers who already have credit
    api.issue("cus_1", "1.00")
    api.issue("cus_2", "1.00")

    # When a CSV of three rows is imported
    response = post_csv(
        api, csv_body("cus_1,,,5.00,USD,Migration,,", "cus_2,,,2.50,USD,Migration,,30", "cus_1,,,3,JPY,Yen,,")
    )

    # Then the answer is 202 with the import id, and the rows wait in the queue
    assert response.status == 202, response.body
    body = response.json()
    assert body["state"] == "queued" and body["rows_total"] == 3
    assert body["import_id"].startswith("imp_")
    before = import_status(api, body["import_id"])
    assert (before["state"], before["rows_applied"], before["rows_failed"]) == ("queued", 0, 0)

    # And once the consumer has run, every row is applied with source "import"
    QueuePump().drain()
    after = import_status(api, body["import_id"])
    assert (after["state"], after["rows_total"], after["rows_applied"], after["rows_failed"]) == ("completed", 3, 3, 0)
    assert after["errors"] == []
    assert available(api, "cus_1") == "6.00"
    assert available(api, "cus_2") == "3.50"
    assert available(api, "cus_1", "JPY") == "3"
    lots = api.wallet("cus_2").json()["lots"]
    assert [lot["source"] for lot in lots if lot["source"] == "import"] == ["import"]
    assert any(lot["expires_at"] is not None for lot in lots)
    entry = api.get("/v1/customers/cus_1/transactions?limit=1").json()["items"][0]
    assert entry["reason"] == "Yen"
    audit_wallet(merchant.merchant_id, "cus_1", "USD").assert_consistent()


def test_customer_id_beats_email_beats_phone(api: Api, merchant: Merchant) -> None:
    # Given three customers with their own email and phone on their profiles
    api.issue("ann", "1.00", email="ann@shop.example", phone="+14155550101")
    api.issue("bob", "1.00", email="bob@shop.example", phone="+14155550102")
    api.issue("cat", "1.00", email="cat@shop.example", phone="+14155550103")

    # When rows name several of them at once
    result = run_import(
        api,
        csv_body(
            "ann,bob@shop.example,+14155550103,10.00,USD,id wins,,",  # customer_id → ann
            ",bob@shop.example,+14155550103,20.00,USD,email wins,,",  # email → bob
            ",,+14155550103,30.00,USD,phone,,",  # phone → cat
            "nobody,cat@shop.example,,40.00,USD,unknown id falls back,,",  # unknown id → email → cat
        ),
    )

    # Then customer_id is used first, then email, then phone
    assert result["rows_applied"] == 4
    assert (available(api, "ann"), available(api, "bob"), available(api, "cat")) == ("11.00", "21.00", "71.00")


def test_email_matches_exactly_and_case_sensitively(api: Api) -> None:
    # Given a customer whose email is Ann@Shop.example
    api.issue("ann", "1.00", email="Ann@Shop.example")

    # When rows give the email in other cases, and exactly
    result = run_import(api, csv_body(",ann@shop.example,,5.00,USD,lower,,", ",Ann@Shop.example,,7.00,USD,exact,,"))

    # Then only the exact email matches; the other row fails with its reason
    assert (result["state"], result["rows_applied"], result["rows_failed"]) == ("completed_with_errors", 1, 1)
    assert result["errors"] == [{"row": 0, "reason": "no customer matches the row's email"}]
    assert available(api, "ann") == "8.00"


def test_negative_rows_deduct_earliest_expiring_first_and_fail_without_enough_credit(
    api: Api, merchant: Merchant
) -> None:
    # Given a never-expiring lot and a lot expiring in 10 days
    api.issue("ann", "10.00")
    api.issue("ann", "10.00", expires={"days": 10})
    api.issue("bob", "3.00")

    # When rows deduct 15.00 from ann and 5.00 from bob (who has 3.00)
    result = run_import(api, csv_body("ann,,,-15.00,USD,Correction,,", "bob,,,-5.00,USD,Correction,,"))

    # Then ann's expiring lot empties first; bob's row fails and bob keeps his 3.00
    assert (result["rows_applied"], result["rows_failed"]) == (1, 1)
    assert result["errors"][0]["row"] == 1 and "requested" in result["errors"][0]["reason"]
    lots = {lot["lot_id"]: lot["remaining"]["amount"] for lot in api.wallet("ann").json()["lots"]}
    assert lots == {"lot_1": "5.00"}
    assert available(api, "bob") == "3.00"
    assert api.get("/v1/customers/ann/transactions?limit=1").json()["items"][0]["type"] == "debit"
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()
    audit_wallet(merchant.merchant_id, "bob", "USD").assert_consistent()


def test_unmatched_rows_fail_and_never_create_a_customer(api: Api) -> None:
    # Given no customer called ghost, and nobody with that email or phone
    # When rows name them
    result = run_import(
        api,
        csv_body(
            "ghost,,,5.00,USD,Promo,,", ",ghost@shop.example,,5.00,USD,Promo,,", ",,+14155550199,5.00,USD,Promo,,"
        ),
    )

    # Then every row fails with its reason, and no customer exists afterwards
    assert (result["state"], result["rows_applied"], result["rows_failed"]) == ("completed_with_errors", 0, 3)
    assert [e["row"] for e in result["errors"]] == [0, 1, 2]
    assert "customer_id" in result["errors"][0]["reason"]
    assert api.wallet("ghost").status == 404


def test_a_malformed_file_is_422_listing_every_bad_row_and_nothing_is_stored_or_queued(api: Api) -> None:
    # Given a file with good rows and a bad field in several rows
    text = csv_body(
        "cus_1,,,5.00,USD,ok,,",
        "cus_2,,,5.001,USD,three decimals,,",
        ",,,5.00,USD,no identifier,,",
        "cus_3,,,0,USD,zero,,",
        "cus_4,,,5.00,USD," + "x" * 51 + ",,",
        "cus_5,,,5.00,USD,both expiries,2030-01-01,30",
        "cus_6,not-an-email,,1.00,XXX,bad email and currency,,",
        "cus_7,,,5,JPY,ok,,-3",
        "cus_8,,,5,JPY,past,2020-01-01,",
        "cus_9,,,abc,USD,not a number,,",
        "cus_10,,,5.00,USD",
        'cus_11,,,5.00,USD,"two\nlines",,',
    )

    # When it is imported
    response = post_csv(api, text, key="file-1")

    # Then it is 422 problem+json naming every bad row and field
    assert response.status == 422, response.body
    assert response.headers["content-type"] == "application/problem+json"
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == [
        "rows[1].amount",
        "rows[2]",
        "rows[3].amount",
        "rows[4].reason",
        "rows[5].expires_on",
        "rows[6].email",
        "rows[6].currency",
        "rows[7].expires_days",
        "rows[8].expires_on",
        "rows[9].amount",
        "rows[10]",
        "rows[11].reason",
    ]
    # And nothing was stored or queued: the key is free to use again once the file is fixed
    assert queued() == 0
    assert api.wallet("cus_1").status == 404
    fixed = post_csv(api, csv_body("cus_1,,,5.00,USD,ok,,"), key="file-1")
    assert fixed.status == 202


def test_a_wrong_header_an_empty_file_and_other_types_are_refused(api: Api) -> None:
    wrong = post_csv(api, "customer,amount\ncus_1,5.00\n")
    assert wrong.status == 422
    assert wrong.json()["errors"][0]["field"] == "header"
    assert post_csv(api, HEADER + "\n").json()["errors"][0]["field"] == "rows"
    xml = api.post("/v1/imports", "<rows/>", headers={"content-type": "application/xml"})
    assert xml.status == 415
    assert api.post("/v1/imports", [{"customer_id": "a"}], key=None).status == 400  # no Idempotency-Key
    assert queued() == 0


def test_json_rows_are_validated_like_csv(api: Api) -> None:
    rows = [
        {"customer_id": "c1", "amount": {"amount": "5.00", "currency": "USD"}, "reason": "ok"},
        {"customer_id": "c2", "amount": 5, "currency": "USD", "reason": "a JSON number"},
        {"customer_id": "c3", "amount": "1.00", "currency": "USD", "reason": "ok", "colour": "red"},
    ]
    response = api.post("/v1/imports", rows)
    assert response.status == 422
    assert [e["field"] for e in response.json()["errors"]] == ["rows[1].amount", "rows[2].colour"]


def test_a_group_import_credits_every_customer_listed_with_the_merchants_default_expiry(api: Api) -> None:
    # Given a merchant whose credit expires after 30 days by default, and three customers
    assert api.put("/v1/settings", {"default_expiry": {"days": 30}}).status == 200
    for customer in ("g1", "g2", "g3"):
        api.issue(customer, "1.00", expires={"never": True})

    # When 4.00 is added to the group
    group = {"customer_ids": ["g1", "g2", "g3"], "amount": {"amount": "4.00", "currency": "USD"}, "reason": "VIP"}
    response = api.post("/v1/imports", group)
    assert response.status == 202, response.body
    QueuePump().drain()

    # Then each has 5.00, the imported lot expiring by the default
    result = import_status(api, response.json()["import_id"])
    assert (result["state"], result["rows_total"], result["rows_applied"]) == ("completed", 3, 3)
    for customer in ("g1", "g2", "g3"):
        lots = api.wallet(customer).json()["lots"]
        assert available(api, customer) == "5.00"
        assert [lot["expires_at"] is not None for lot in lots if lot["source"] == "import"] == [True]


def test_a_bad_group_is_422(api: Api) -> None:
    group = {"customer_ids": ["g1", "g1"], "amount": {"amount": "0.00", "currency": "USD"}, "reason": "VIP"}
    response = api.post("/v1/imports", group)
    assert response.status == 422
    assert [e["field"] for e in response.json()["errors"]] == ["customer_ids"]


def test_tenancy_another_merchant_can_neither_see_an_import_nor_reach_its_customers(
    api: Api, gateway: Gateway, merchant: Merchant
) -> None:
    # Given merchant A's customer with an email, and A's import
    api.issue("ann", "1.00", email="ann@shop.example", phone="+14155550101")
    mine = post_csv(api, csv_body("ann,,,5.00,USD,A's import,,")).json()["import_id"]
    QueuePump().drain()

    # When merchant B reads A's import and imports rows naming A's customer three ways
    other = Api(gateway, make_merchant("globex").api_key)
    assert other.get(f"/v1/imports/{mine}").status == 404
    theirs = post_csv(
        other, csv_body("ann,,,50.00,USD,B,,", ",ann@shop.example,,50.00,USD,B,,", ",,+14155550101,50.00,USD,B,,")
    ).json()["import_id"]
    QueuePump().drain()

    # Then B's rows all fail and A's customer is untouched; A cannot see B's import either
    result = import_status(other, theirs)
    assert (result["rows_applied"], result["rows_failed"]) == (0, 3)
    assert available(api, "ann") == "6.00"
    assert api.get(f"/v1/imports/{theirs}").status == 404
    assert other.wallet("ann").status == 404


def test_an_unknown_import_id_is_404(api: Api) -> None:
    assert api.get("/v1/imports/imp_01M81V89044R6ZT55DXVTPK6JT").status == 404
    assert api.get("/v1/imports/not-an-id").status == 404


def test_the_same_key_and_file_answer_the_same_import_and_queue_nothing_more(api: Api) -> None:
    text = csv_body("cus_1,,,5.00,USD,once,,")
    first = post_csv(api, text, key="imp-key")
    assert queued() == 1
    again = post_csv(api, text, key="imp-key")
    assert again.status == 202 and again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    assert queued() == 1
    assert post_csv(api, csv_body("cus_1,,,6.00,USD,other,,"), key="imp-key").status == 409


def test_a_gzip_csv_of_many_rows_is_accepted(api: Api) -> None:
    api.issue("cus_1", "1.00")
    lines = [f"cus_1,,,0.01,USD,row {i},," for i in range(2_000)]
    response = post_csv(api, gzip.compress(csv_body(*lines).encode()), **{"content-encoding": "gzip"})
    assert response.status == 202, response.body
    assert response.json()["rows_total"] == 2_000
    assert queued() == 80  # 25 rows a message


def test_redelivering_a_whole_batch_after_a_partial_failure_applies_each_row_once(
    api: Api, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 15 rows over three customers: three messages of 6, 6 and 3 rows
    from store_credit import imports_service

    monkeypatch.setattr(imports_service, "ROWS_PER_MESSAGE", 6)  # moto copies the table per transaction
    for customer in ("a", "b", "c"):
        api.issue(customer, "100.00")
    lines = [f"{'abc'[i % 3]},,,{'1.00' if i % 4 else '-2.00'},USD,row {i},," for i in range(15)]
    import_id = post_csv(api, csv_body(*lines)).json()["import_id"]
    pump = QueuePump()
    messages = pump.receive()
    assert len(messages) == 3

    # When the second message hits throttling half-way (at row 8) on the first delivery
    from store_credit.errors import WalletBusy

    real = imports_service.apply_row
    throttled: list[int] = []

    def flaky(job: Any, row: Any, block: Any) -> str:
        if row.number == 8 and not throttled:
            throttled.append(row.number)
            raise WalletBusy(detail="DynamoDB is throttling this table; retry shortly")
        return real(job, row, block)

    monkeypatch.setattr(imports_service, "apply_row", flaky)
    failed = pump.deliver(messages)
    assert len(failed) == 1
    partial = import_status(api, import_id)
    assert partial["state"] == "applying" and partial["rows_applied"] == 11  # 6 + 2 + 3

    # And then SQS delivers the whole batch again (as after a timeout), and once more
    pump.deliver(messages)
    pump.deliver(messages)

    # Then every row applied exactly once: counts and balances exact
    result = import_status(api, import_id)
    assert (result["state"], result["rows_applied"], result["rows_failed"]) == ("completed", 15, 0)
    expected = {c: 100_00 for c in "abc"}
    for i in range(15):
        expected["abc"[i % 3]] += 100 if i % 4 else -200
    for customer, cents in expected.items():
        assert available(api, customer) == f"{cents // 100}.{cents % 100:02d}"
        audit_wallet(merchant.merchant_id, customer, "USD").assert_consistent()
    assert sum(ledger_count(api, c) for c in "abc") == 3 + 15


def test_a_crash_after_the_write_before_the_acknowledgement_changes_nothing_on_redelivery(
    api: Api, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a message of 12 rows crediting one customer
    from store_credit import imports_service

    monkeypatch.setattr(imports_service, "ROWS_PER_MESSAGE", 12)  # moto copies the table per transaction
    api.issue("cus_1", "1.00")
    import_id = post_csv(api, csv_body(*[f"cus_1,,,1.00,USD,row {i},," for i in range(12)])).json()["import_id"]
    pump = QueuePump()
    messages = pump.receive()

    # When the 5th row's transaction commits but the consumer dies before answering
    with crash_after_write(5):
        pump.deliver(messages)
    assert import_status(api, import_id)["rows_applied"] == 5

    # And SQS delivers it again (the acknowledgement never happened), then once more
    pump.drain()
    pump.deliver(messages)

    # Then each row counts once: 12 applied, 13.00 in the wallet, 13 ledger entries
    result = import_status(api, import_id)
    assert (result["state"], result["rows_applied"], result["rows_failed"]) == ("completed", 12, 0)
    assert available(api, "cus_1") == "13.00"
    assert ledger_count(api, "cus_1") == 13
    audit_wallet(merchant.merchant_id, "cus_1", "USD").assert_consistent()


def test_a_failed_row_is_recorded_once_and_never_retried_into_a_credit(api: Api) -> None:
    # Given a row that fails (no such customer)
    import_id = post_csv(api, csv_body("later,,,5.00,USD,too early,,")).json()["import_id"]
    pump = QueuePump()
    messages = pump.receive()
    pump.deliver(messages)
    assert import_status(api, import_id)["rows_failed"] == 1

    # When the customer appears and the message is delivered again
    api.issue("later", "1.00")
    pump.deliver(messages)

    # Then the row stays failed, counted once, and never credits
    result = import_status(api, import_id)
    assert (result["rows_applied"], result["rows_failed"], len(result["errors"])) == (0, 1, 1)
    assert available(api, "later") == "1.00"


def test_a_poison_message_fails_alone_and_is_dead_lettered(api: Api) -> None:
    # Given a good import and a message that is not an import message
    api.issue("cus_1", "1.00")
    post_csv(api, csv_body("cus_1,,,5.00,USD,good,,"))
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=os.environ["IMPORT_QUEUE_URL"], MessageBody="{not json")
    sqs.send_message(
        QueueUrl=os.environ["IMPORT_QUEUE_URL"],
        MessageBody=json.dumps({"v": 1, "merchant_id": "acme", "import_id": "imp_forged", "rows": []}),
    )

    # When the consumer runs until the queue is empty
    pump = QueuePump()
    pump.drain(max_empty_receives=3)

    # Then the good row applied, and the bad messages went to the DLQ after maxReceiveCount tries
    assert available(api, "cus_1") == "6.00"
    dlq = sqs.get_queue_attributes(
        QueueUrl=os.environ["IMPORT_DLQ_URL"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert int(dlq["Attributes"]["ApproximateNumberOfMessages"]) == 2
    assert pump.failures == 2 * 5


def test_the_consumer_reads_its_job_consistently(api: Api) -> None:
    # Given an import just accepted (its job written a moment before its messages were sent)
    api.issue("cus_1", "1.00")
    post_csv(api, csv_body("cus_1,,,5.00,USD,good,,"))
    # When the consumer applies the message, recording every GetItem it makes
    with recorded_params("GetItem") as reads:
        QueuePump().drain()

    # Then the job is read with a consistent read: an eventually consistent one on DynamoDB can
    # miss a job written a moment before, and the message would be taken for poison
    job_reads = [r for r in reads if r["Key"]["SK"] == {"S": "JOB"}]
    assert job_reads and all(r.get("ConsistentRead") for r in job_reads)
    assert available(api, "cus_1") == "6.00"


def test_failed_rows_are_paginated(api: Api) -> None:
    import_id = post_csv(api, csv_body(*[f"ghost{i},,,1.00,USD,r,," for i in range(7)])).json()["import_id"]
    QueuePump().drain()
    first = import_status(api, import_id, "?limit=5")
    assert [e["row"] for e in first["errors"]] == [0, 1, 2, 3, 4]
    rest = import_status(api, import_id, f"?limit=5&cursor={first['next_cursor']}")
    assert [e["row"] for e in rest["errors"]] == [5, 6]
    assert rest["rows_failed"] == 7


@pytest.mark.parametrize("cursor", ["%C2%B2", "-1", "x", "1234567", "%D9%A1"])
def test_a_cursor_the_api_never_returned_is_a_clear_422(api: Api, cursor: str) -> None:
    # Given an import with failed rows
    import_id = post_csv(api, csv_body("ghost,,,1.00,USD,r,,")).json()["import_id"]

    # When its status is read with a cursor that is not one (superscript two, Arabic-Indic one, …)
    response = api.get(f"/v1/imports/{import_id}?cursor={cursor}")

    # Then the answer is the usual invalid-input problem naming the cursor, not a 500
    assert response.status == 422, response.body
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["cursor"]


def test_the_table_unreachable_mid_message_fails_it_back_to_sqs_and_the_retry_applies_the_rest(
    api: Api, merchant: Merchant
) -> None:
    from botocore.exceptions import EndpointConnectionError

    # Given a message of 25 rows
    api.issue("cus_1", "1.00")
    import_id = post_csv(api, csv_body(*[f"cus_1,,,1.00,USD,row {i},," for i in range(25)])).json()["import_id"]
    pump = QueuePump()

    # When DynamoDB cannot be reached for the first row's transaction
    with on_call("TransactWriteItems", before=[EndpointConnectionError(endpoint_url="http://dynamodb")]):
        failed = pump.deliver(pump.receive())

    # Then the message goes back to SQS, and its redelivery applies each row once
    assert len(failed) == 1
    pump.drain()
    result = import_status(api, import_id)
    assert (result["state"], result["rows_applied"]) == ("completed", 25)
    assert available(api, "cus_1") == "26.00"
    audit_wallet(merchant.merchant_id, "cus_1", "USD").assert_consistent()


def sqs_down(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make every send to the import queue fail as SQS being down; the real sender, to put back."""
    from store_credit import import_queue

    real = import_queue.send_all

    def down(bodies: list[str]) -> int:
        raise import_queue.QueueUnavailable(detail="SQS is down")

    monkeypatch.setattr(import_queue, "send_all", down)
    return real


def test_a_retry_with_the_same_key_queues_what_sqs_refused_the_first_time(
    api: Api, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from store_credit import import_queue, imports_service, wallet_store

    # Given SQS refusing messages
    api.issue("cus_1", "1.00")
    real = sqs_down(monkeypatch)
    text = csv_body(*[f"cus_1,,,1.00,USD,row {i},," for i in range(30)])

    # When an import is posted, it is stored but answers 503 (retry with the same key)
    refused = post_csv(api, text, key="imp-503")
    assert refused.status == 503 and refused.headers["retry-after"] == "1"
    assert refused.json()["type"].endswith("queue-unavailable")

    # Then the job is "validating" while that request could still be running, "interrupted" after
    # (the id as on-call finds it: the client got none)
    record = wallet_store.get_idempotency_record(merchant.merchant_id, "imp-503")
    assert record is not None
    import_id = json.loads(record.body)["import_id"]
    assert import_status(api, import_id)["state"] == "validating"
    later = imports_service._now_ms() + imports_service.INTERRUPTED_AFTER_MS + 1_000
    monkeypatch.setattr(imports_service, "_now_ms", lambda: later)
    assert import_status(api, import_id)["state"] == "interrupted"

    # And when SQS is back and the client retries with the same key
    monkeypatch.setattr(import_queue, "send_all", real)
    retried = post_csv(api, text, key="imp-503")
    assert retried.status == 202
    assert retried.json()["import_id"] == import_id
    assert import_status(api, import_id)["state"] == "queued"
    QueuePump().drain()

    # Then every row applied once
    result = import_status(api, import_id)
    assert (result["state"], result["rows_applied"]) == ("completed", 30)
    assert available(api, "cus_1") == "31.00"


@pytest.mark.parametrize(
    "story",
    [
        # (credit to start with, the row, the write that races it, what is available after)
        # a deduction refused for want of credit that has since come
        ("3.00", "-5.00", ("issue", "10.00"), "8.00"),
        # a credit refused as passing the largest balance the service holds, since gone down
        ("9999999999998.99", "5.00", ("debit", "100.00"), "9999999999903.99"),
    ],
)
def test_a_row_is_never_refused_on_a_wallet_that_has_since_changed(
    api: Api, merchant: Merchant, monkeypatch: pytest.MonkeyPatch, story: tuple[str, str, tuple[str, str], str]
) -> None:
    from store_credit import wallet_store

    start, row, (write, amount), after = story

    # Given a customer's credit, a queued row, and then a change to their wallet
    api.issue("cus_1", start)
    import_id = post_csv(api, csv_body(f"cus_1,,,{row},USD,Correction,,")).json()["import_id"]
    stale = wallet_store.load_wallet(merchant.merchant_id, "cus_1", "USD")
    assert getattr(api, write)("cus_1", amount).status == 201

    # When the consumer reads the wallet as it was before that change (a read that raced it)
    real = wallet_store.load_import_wallets

    def racing(merchant_id: str, wallets: list[tuple[str, str]]) -> Any:
        settings, _ = real(merchant_id, wallets)
        return settings, {("cus_1", "USD"): stale}

    monkeypatch.setattr(wallet_store, "load_import_wallets", racing)
    QueuePump().drain()

    # Then the refusal does not stand on the stale wallet: it is read again and the row applies
    result = import_status(api, import_id)
    assert (result["rows_applied"], result["rows_failed"]) == (1, 0), result["errors"]
    assert available(api, "cus_1") == after


@pytest.mark.parametrize(
    ("method", "url"), [("POST", "/v1/imports"), ("GET", "/v1/imports/imp_01M81V89044R6ZT55DXVTPK6JT")]
)
def test_a_key_without_the_imports_scope_is_403_and_nothing_is_queued(
    gateway: Gateway, aws: None, method: str, url: str
) -> None:
    from store_credit.auth import SCOPES

    limited = Api(gateway, make_merchant("limited", scopes=tuple(s for s in SCOPES if s != "imports")).api_key)
    body = csv_body("cus_1,,,1.00,USD,r,,") if method == "POST" else None
    response = limited.write(method, url, body, headers={"content-type": "text/csv"})
    assert response.status == 403
    assert response.json()["type"].endswith("forbidden")
    assert queued() == 0


@pytest.mark.parametrize(
    "body",
    [
        '[{"customer_id": "cus_1", "amount": "1.00", "currency": "USD", "reason": "r", "expires_days": 1'
        + "0" * 5000
        + "}]",
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=["an integer of 5,001 digits", "lists nested 100,000 deep"],
)
def test_json_that_python_refuses_to_load_is_a_422_not_a_500(api: Api, body: str) -> None:
    # Given a JSON body that is well-formed but beyond what the parser takes (Python refuses
    # integers of more than 4,300 digits, and recursion has a limit)
    # When it is imported
    response = api.post("/v1/imports", body.encode(), headers={"content-type": "application/json"})

    # Then the answer is the usual problem naming the body, and nothing is queued
    assert response.status == 422, response.body
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["body"]
    assert queued() == 0


def test_every_member_of_a_multi_member_gzip_is_imported(api: Api) -> None:
    # Given a customer, and a gzip file of two members (what `cat a.gz b.gz` or a streaming
    # compressor flushing in parts produces; gunzip reads both)
    api.issue("cus_1", "1.00")
    body = gzip.compress(csv_body("cus_1,,,2.00,USD,part one,,").encode()) + gzip.compress(
        b"cus_1,,,3.00,USD,part two,,\n"
    )

    # When it is imported
    response = post_csv(api, body, **{"content-encoding": "gzip"})
    assert response.status == 202, response.body
    QueuePump().drain()

    # Then both rows count and apply: none is silently left behind
    assert response.json()["rows_total"] == 2
    assert available(api, "cus_1") == "6.00"


@pytest.mark.parametrize(
    "cut",
    [lambda gz: gz[:-4], lambda gz: gz[: len(gz) // 2], lambda gz: gz + b"not gzip"],
    ids=["trailer", "half", "garbage after"],
)
def test_a_truncated_or_padded_gzip_upload_is_refused_whole(api: Api, cut: Any) -> None:
    # Given a gzip CSV of 400 rows cut short (an upload interrupted) or followed by other bytes
    api.issue("cus_1", "1.00")
    whole = gzip.compress(csv_body(*[f"cus_1,,,0.01,USD,row {i},," for i in range(400)]).encode())

    # When it is imported
    response = post_csv(api, cut(whole), **{"content-encoding": "gzip"})

    # Then it is a 422 naming the body: not the rows that happened to arrive
    assert response.status == 422, response.body
    assert [e["field"] for e in response.json()["errors"]] == ["body"]
    assert queued() == 0


def test_an_expiry_date_too_late_to_show_in_the_merchants_timezone_is_refused(api: Api) -> None:
    # Given a merchant in New York and a customer with credit
    assert api.put("/v1/settings", {"timezone": "America/New_York"}).status == 200
    api.issue("cus_1", "1.00")

    # When a row expires on 9999-12-31: 23:59:59 in New York is already year 10000 in UTC,
    # an instant Python cannot turn back into a date to show
    response = post_csv(api, csv_body("cus_1,,,5.00,USD,Far future,9999-12-31,"), key="far")
    QueuePump().drain()

    # Then the row is refused at upload, and the customer's wallet and history still read
    assert response.status == 422, response.body
    assert [e["field"] for e in response.json()["errors"]] == ["rows[0].expires_on"]
    assert api.wallet("cus_1").status == 200
    assert api.get("/v1/customers/cus_1/transactions").status == 200
    assert available(api, "cus_1") == "1.00"


def test_an_import_whose_request_died_after_queueing_every_row_reads_completed_not_interrupted(
    api: Api, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import EndpointConnectionError

    from store_credit import imports_service, wallet_store

    # Given an import whose request queued every row, then lost the table before it could
    # mark the job queued (the job stays "validating")
    api.issue("cus_1", "1.00")
    with on_call("UpdateItem", before=[EndpointConnectionError(endpoint_url="http://dynamodb")]):
        post_csv(api, csv_body("cus_1,,,2.00,USD,a,,", "ghost,,,3.00,USD,b,,"), key="died-late")
    record = wallet_store.get_idempotency_record(merchant.merchant_id, "died-late")
    assert record is not None
    import_id = json.loads(record.body)["import_id"]
    assert queued() == 1

    # When the consumer applies both rows, and the status is read more than 60 s later
    QueuePump().drain()
    later = imports_service._now_ms() + imports_service.INTERRUPTED_AFTER_MS + 1_000
    monkeypatch.setattr(imports_service, "_now_ms", lambda: later)
    result = import_status(api, import_id)

    # Then it reads as done: every row was queued and has an outcome, nothing asks for a resend
    assert (result["state"], result["rows_applied"], result["rows_failed"]) == ("completed_with_errors", 1, 1)
    assert available(api, "cus_1") == "3.00"


def test_a_retry_the_next_day_still_queues_an_import_the_first_request_stored(
    api: Api, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from store_credit import import_queue, imports_service, wallet_store

    # Given SQS down while an import is stored whose first row expires at the end of today (UTC)
    api.issue("cus_1", "1.00")
    real = sqs_down(monkeypatch)
    today = datetime.now(UTC).date().isoformat()
    text = csv_body(f"cus_1,,,2.00,USD,ends today,{today},", "cus_1,,,3.00,USD,no expiry,,")
    assert post_csv(api, text, key="imp-tomorrow").status == 503
    record = wallet_store.get_idempotency_record(merchant.merchant_id, "imp-tomorrow")
    assert record is not None
    import_id = json.loads(record.body)["import_id"]

    # When SQS is back and the client retries the same request with the same key a day later
    monkeypatch.setattr(import_queue, "send_all", real)
    tomorrow = imports_service._now_ms() + 86_400_000
    monkeypatch.setattr(imports_service, "_now_ms", lambda: tomorrow)
    retried = post_csv(api, text, key="imp-tomorrow")

    # Then it answers the first result (not a 422 for a file that was valid when it was
    # accepted) and queues the rows: the row whose day is over fails when applied, the other applies
    assert retried.status == 202, retried.body
    assert retried.json()["import_id"] == import_id
    QueuePump().drain()
    result = import_status(api, import_id)
    assert (result["state"], result["rows_applied"], result["rows_failed"]) == ("completed_with_errors", 1, 1)
    assert result["errors"][0]["row"] == 0
    assert available(api, "cus_1") == "4.00"


def test_a_row_for_a_wallet_with_no_room_fails_alone_and_the_rest_of_its_message_applies(
    api: Api, merchant: Merchant
) -> None:
    # Given a customer whose wallet item has no room for another lot, and another customer
    api.fill_wallet("ann")
    api.issue("bob", "1.00")

    # When one message of the import credits both
    result = run_import(api, csv_body("ann,,,5.00,USD,migration,,", "bob,,,2.00,USD,migration,,"))

    # Then ann's row fails, reported (it never can apply: redelivering it only dead-letters bob's row)
    assert (result["state"], result["rows_applied"], result["rows_failed"]) == ("completed_with_errors", 1, 1)
    assert [e["row"] for e in result["errors"]] == [0]
    assert "400 KB" in result["errors"][0]["reason"]
    assert available(api, "bob") == "3.00"
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()


def test_a_row_for_a_known_customer_in_a_new_currency_finds_them_with_a_consistent_read(api: Api) -> None:
    # Given a customer created a moment ago by a USD credit (so they have no EUR wallet yet)
    api.issue("ann", "1.00")
    post_csv(api, csv_body("ann,,,5.00,EUR,First euros,,"))
    # When the consumer applies the row, recording every Query it makes
    with recorded_params("Query") as queries:
        QueuePump().drain()

    # Then the check that the customer exists reads the table consistently: an eventually
    # consistent read on DynamoDB can miss the customer written a moment before, and the row
    # would fail for good ("no customer matches"), never to be retried
    table_reads = [q for q in queries if "IndexName" not in q]
    assert table_reads and all(q.get("ConsistentRead") for q in table_reads)
    assert available(api, "ann", "EUR") == "5.00"


@pytest.mark.parametrize("change", ["erased", "email changed"])
def test_an_email_index_lagging_behind_an_erasure_or_a_new_email_matches_nobody(
    api: Api, merchant: Merchant, change: str
) -> None:
    from store_credit import wallet_store

    # Given a customer who had ann@shop.example, then was erased (or given another email)
    api.issue("ann", "1.00", email="ann@shop.example")
    if change == "erased":
        assert api.write("DELETE", "/v1/customers/ann/personal-data", None, key=None).status == 200
    else:
        api.issue("ann", "1.00", email="ann@elsewhere.example")
    import_id = post_csv(api, csv_body(",ann@shop.example,,5.00,USD,Promo,,")).json()["import_id"]
    before = available(api, "ann")

    # When the consumer's email lookup reads the index before it has caught up (ByEmail is a
    # global secondary index: eventually consistent), so it still lists ann under that email
    events = wallet_store.dynamodb().meta.events
    stale = {"PK": {"S": f"M#{merchant.merchant_id}#C#ann"}, "SK": {"S": "PROFILE"}}

    asked: list[str | None] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        asked.append(params.get("IndexName"))

    def lagging(parsed: dict[str, Any], **_: Any) -> None:
        if asked and asked[-1] == "ByEmail":
            parsed["Items"] = [{**stale, "email_key": {"S": f"M#{merchant.merchant_id}#E#ann@shop.example"}}]
            parsed["Count"] = 1

    events.register("provide-client-params.dynamodb.Query", note, unique_id="lagging-index-params")
    events.register("after-call.dynamodb.Query", lagging, unique_id="lagging-index")
    try:
        QueuePump().drain()
    finally:
        events.unregister("provide-client-params.dynamodb.Query", unique_id="lagging-index-params")
        events.unregister("after-call.dynamodb.Query", unique_id="lagging-index")

    # Then the row matches nobody: a customer is found by an email only while their profile
    # still carries it, so an erased customer stays unfindable and no credit goes astray
    result = import_status(api, import_id)
    assert (result["rows_applied"], result["rows_failed"]) == (0, 1)
    assert result["errors"] == [{"row": 0, "reason": "no customer matches the row's email"}]
    assert available(api, "ann") == before
