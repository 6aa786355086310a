"""Bulk import on MiniStack over HTTP: 10,000 rows end to end with concurrent consumers,
concurrent redelivery of every message, and one credit.* event per applied row."""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

from tests.emulator.test_ledger_events import capture_bus
from tests.harness.api_client import Api, make_merchant
from tests.harness.audit import audit_wallet
from tests.harness.gateway import Gateway
from tests.harness.pumps import QueuePump, StreamPump

HEADER = "customer_id,email,phone,amount,currency,reason,expires_on,expires_days"


def post_csv(api: Api, lines: list[str]) -> str:
    response = api.post("/v1/imports", "\n".join([HEADER, *lines]) + "\n", headers={"content-type": "text/csv"})
    assert response.status == 202, response.body
    return str(response.json()["import_id"])


def status(api: Api, import_id: str) -> dict[str, Any]:
    return dict(api.get(f"/v1/imports/{import_id}").json())


def cents(api: Api, customer: str) -> int:
    amount = api.wallet(customer).json()["available"]["amount"]
    whole, _, fraction = amount.partition(".")
    return int(whole) * 100 + int(fraction)


def drain_concurrently(consumers: int) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            QueuePump().drain(max_empty_receives=3)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(consumers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_ten_thousand_rows_end_to_end_with_concurrent_consumers(emulator: str) -> None:
    # Given 100 customers with 1.00 each (the even ones with an email on their profile)
    merchant = make_merchant("bulk")
    api = Api(Gateway(), merchant.api_key)
    customers = [f"c{i:03d}" for i in range(100)]
    for i, customer in enumerate(customers):
        extra = {"email": f"{customer}@shop.example"} if i % 2 == 0 else {}
        assert api.issue(customer, "1.00", **extra).status == 201
    expected = dict.fromkeys(customers, 100)

    # And a file of 10,000 rows: credits by id and by email, small debits, and unmatched rows
    rng = random.Random(6)
    lines: list[str] = []
    applied = failed = 0
    for row in range(10_000):
        customer = customers[row % 100]
        kind = rng.random()
        if kind < 0.02:
            lines.append(f"ghost{row},,,1.00,USD,unmatched,,")
            failed += 1
            continue
        amount = rng.randint(1, 500)
        if kind < 0.1:
            amount = -rng.randint(1, 5)
        by_email = kind > 0.5 and customers.index(customer) % 2 == 0
        identifier = f",{customer}@shop.example," if by_email else f"{customer},,"
        sign = "-" if amount < 0 else ""
        lines.append(f"{identifier},{sign}{abs(amount) // 100}.{abs(amount) % 100:02d},USD,row {row},,")
        expected[customer] += amount
        applied += 1

    # When it is imported and four consumers drain the queue at once
    import_id = post_csv(api, lines)
    drain_concurrently(4)

    # Then the counts are exact and every balance is what the rows add up to
    result = status(api, import_id)
    assert (result["state"], result["rows_total"]) == ("completed_with_errors", 10_000)
    assert (result["rows_applied"], result["rows_failed"]) == (applied, failed)
    assert {customer: cents(api, customer) for customer in customers} == expected
    for customer in customers[:10]:
        audit = audit_wallet("bulk", customer, "USD")
        audit.assert_consistent()
    assert sum(audit_wallet("bulk", c, "USD").entries for c in customers) == 100 + applied


def test_concurrent_consumers_redelivering_every_message_keep_counters_exact(emulator: str) -> None:
    # Given 200 rows over five customers, queued as eight messages
    api = Api(Gateway(), make_merchant("race").api_key)
    for customer in "abcde":
        api.issue(customer, "10.00")
    lines = [f"{'abcde'[i % 5]},,,{'-0.50' if i % 7 == 0 else '1.00'},USD,row {i},," for i in range(200)]
    import_id = post_csv(api, lines)
    pump = QueuePump()
    messages: list[dict[str, Any]] = []
    while batch := pump.receive():
        messages += batch

    # When four consumers each get every message at once, in their own order
    def consume(seed: int) -> None:
        mine = list(messages)
        random.Random(seed).shuffle(mine)
        for message in mine:
            Consumer().invoke([message])

    threads = [threading.Thread(target=consume, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then each row counted and applied once
    result = status(api, import_id)
    assert (result["state"], result["rows_applied"], result["rows_failed"]) == ("completed", 200, 0)
    for index, customer in enumerate("abcde"):
        rows = [i for i in range(200) if i % 5 == index]
        assert cents(api, customer) == 1000 + sum(-50 if i % 7 == 0 else 100 for i in rows)
        audit = audit_wallet("race", customer, "USD")
        audit.assert_consistent()
        assert audit.entries == 1 + len(rows)


class Consumer:
    """The consumer invoked directly with records (no acknowledgement: redelivery on purpose)."""

    def invoke(self, messages: list[dict[str, Any]]) -> Any:
        from tests.harness import template
        from tests.harness.gateway import invoke
        from tests.harness.pumps import sqs_records

        result = invoke(template.function_dir("ImportConsumerFunction"), {"Records": sqs_records(messages)})
        assert result == {"batchItemFailures": []}, result
        return result


def test_one_credit_event_per_applied_row_and_none_for_failed_or_redelivered_rows(emulator: str) -> None:
    # Given a bus whose events we can read
    api = Api(Gateway(), make_merchant("events").api_key)
    received = capture_bus()
    stream = StreamPump()
    api.issue("ann", "10.00")
    api.issue("bob", "10.00")
    stream.pump()
    received()

    # When 30 rows are imported (credits, debits, 3 unmatched rows) and delivered twice
    lines = []
    for i in range(30):
        if i % 10 == 9:
            lines.append(f"ghost{i},,,1.00,USD,unmatched,,")
        else:
            lines.append(f"{'ann' if i % 2 else 'bob'},,,{'-0.25' if i % 3 == 0 else '0.75'},USD,row {i},,")
    import_id = post_csv(api, lines)
    pump = QueuePump()
    messages: list[dict[str, Any]] = []
    while batch := pump.receive():
        messages += batch
    Consumer().invoke(messages)
    Consumer().invoke(messages)
    stream.pump()

    # Then exactly one event per applied row, of the row's kind, each naming its ledger entry
    result = status(api, import_id)
    assert (result["rows_applied"], result["rows_failed"]) == (27, 3)
    events = received()
    kinds = Counter(e["detail-type"] for e in events)
    rows = [i for i in range(30) if i % 10 != 9]
    debits = len([i for i in rows if i % 3 == 0])
    assert kinds == {"credit.issued": len(rows) - debits, "credit.debited": debits}
    assert len({e["detail"]["entry_id"] for e in events}) == 27
    assert {e["detail"]["source"] for e in events if e["detail-type"] == "credit.issued"} == {"import"}
    ledger = {
        entry["id"]
        for customer in ("ann", "bob")
        for entry in api.get(f"/v1/customers/{customer}/transactions?limit=100").json()["items"]
        if entry["reason"].startswith("row ")
    }
    assert ledger == {e["detail"]["entry_id"] for e in events}
