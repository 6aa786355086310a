"""`make bench` (imports part): rows per second through the import consumer on MiniStack, next
to a plain BatchWriteItem of the same rows on the same emulator, and requests per row.

Figures, not assertions. The consumer does what the service must (match the customer, read the
wallet, one transaction a row with its once-only marker and counter); the BatchWriteItem line
is the floor the emulator itself sets for writing that many items.
"""

from __future__ import annotations

import gzip
import os
import sys
import threading
import time
from collections import Counter
from typing import Any

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "10000"))
CUSTOMERS = int(os.environ.get("BENCH_IMPORT_CUSTOMERS", "500"))
LARGE = int(os.environ.get("BENCH_IMPORT_LARGE", "100000"))
HEADER = "customer_id,email,phone,amount,currency,reason,expires_on,expires_days"


def seed_customers(client: Any, table: str, merchant: str) -> None:
    """Customers with a wallet and an email (half of them), written straight into the table."""
    from store_credit import wallet_store
    from store_credit.wallet import Wallet, issue_credit

    batch: list[dict[str, Any]] = []
    now_ms = int(time.time() * 1000)
    for n in range(CUSTOMERS):
        change = issue_credit(
            Wallet(merchant, f"c{n:05d}", "USD"), amount=1_000, reason="seed", actor="bench", now_ms=now_ms
        )
        batch.append({"PutRequest": {"Item": wallet_store.wallet_to_item(change.after)}})
        batch.append({"PutRequest": {"Item": wallet_store.entry_to_item(change.after, change.entry)}})
        if n % 2 == 0:
            profile = {
                "PK": {"S": wallet_store.customer_pk(merchant, f"c{n:05d}")},
                "SK": {"S": "PROFILE"},
                "email": {"S": f"c{n:05d}@shop.example"},
                "email_key": {"S": f"M#{merchant}#E#c{n:05d}@shop.example"},
            }
            batch.append({"PutRequest": {"Item": profile}})
    write_all(client, table, batch)


def write_all(client: Any, table: str, requests: list[dict[str, Any]]) -> int:
    calls = 0
    for start in range(0, len(requests), 25):
        request: dict[str, Any] = {table: requests[start : start + 25]}
        while request:
            calls += 1
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
    return calls


def csv_rows(count: int, *, by_email: bool) -> str:
    lines = [HEADER]
    for row in range(count):
        n = row % CUSTOMERS
        if by_email and n % 2 == 0:
            lines.append(f",c{n:05d}@shop.example,,1.00,USD,bench row {row},,")
        else:
            lines.append(f"c{n:05d},,,1.00,USD,bench row {row},,")
    return "\n".join(lines) + "\n"


def drain(consumers: int) -> float:
    from tests.harness.pumps import QueuePump

    started = time.perf_counter()
    threads = [threading.Thread(target=QueuePump().drain, kwargs={"max_empty_receives": 2}) for _ in range(consumers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def count_requests(client: Any, service: str) -> Counter[str]:
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register(f"before-call.{service}", count)
    return calls


def main() -> None:
    from tests.harness.local_stack import LOCAL_ENV
    from tests.harness.ministack import start_ministack

    emulator = start_ministack()
    os.environ.update(
        {
            **LOCAL_ENV,
            "TABLE_NAME": "bench-imports",
            "EVENT_BUS_NAME": "bench-imports",
            "AWS_ENDPOINT_URL": emulator.url,
        }
    )
    try:
        import boto3

        from store_credit import import_queue, wallet_store
        from tests.harness.api_client import Api, create_stack_resources, make_merchant
        from tests.harness.gateway import Gateway

        create_stack_resources(boto3.client)
        table = os.environ["TABLE_NAME"]
        api = Api(Gateway(), make_merchant("bench").api_key)
        seed_customers(wallet_store.dynamodb(), table, "bench")
        dynamo_calls = count_requests(wallet_store.dynamodb(), "dynamodb")
        sqs_calls = count_requests(import_queue.sqs(), "sqs")
        print(f"\nBulk import on MiniStack: {ROWS:,} rows over {CUSTOMERS} customers (half matched by email)\n")
        print("| what | rows | seconds | rows/s | DynamoDB requests per row | SQS requests |")
        print("| --- | --- | --- | --- | --- | --- |")

        for consumers in (1, 4):
            body = csv_rows(ROWS, by_email=True)
            dynamo_calls.clear()
            sqs_calls.clear()
            started = time.perf_counter()
            response = api.post("/v1/imports", body, headers={"content-type": "text/csv"})
            accepted = time.perf_counter() - started
            assert response.status == 202, response.body
            sent = sqs_calls["SendMessageBatch"]
            print(
                f"| POST /v1/imports (validate + queue) | {ROWS:,} | {accepted:.2f} | {ROWS / accepted:,.0f} "
                f"| {sum(dynamo_calls.values()) / ROWS:.4f} | {sent} SendMessageBatch |"
            )
            dynamo_calls.clear()
            seconds = drain(consumers)
            status = api.get(f"/v1/imports/{response.json()['import_id']}").json()
            assert status["rows_applied"] == ROWS, status
            per_row = sum(dynamo_calls.values()) / ROWS
            detail = ", ".join(f"{name} {count / ROWS:.2f}" for name, count in sorted(dynamo_calls.items()))
            print(
                f"| consumer, {consumers} at once | {ROWS:,} | {seconds:.1f} | {ROWS / seconds:,.0f} "
                f"| {per_row:.2f} ({detail}) | — |"
            )

        client = boto3.client("dynamodb")
        now_ms = int(time.time() * 1000)
        items = [
            {
                "PutRequest": {
                    "Item": {
                        "PK": {"S": f"M#bench#PLAIN#{row}"},
                        "SK": {"S": "ROW"},
                        "customer_id": {"S": f"c{row % CUSTOMERS:05d}"},
                        "amount": {"N": "100"},
                        "currency": {"S": "USD"},
                        "reason": {"S": f"bench row {row}"},
                        "created_ms": {"N": str(now_ms)},
                    }
                }
            }
            for row in range(ROWS)
        ]
        started = time.perf_counter()
        calls = write_all(client, table, items)
        seconds = time.perf_counter() - started
        print(
            f"| plain BatchWriteItem of the same rows | {ROWS:,} | {seconds:.1f} | {ROWS / seconds:,.0f} "
            f"| {calls / ROWS:.2f} | — |"
        )

        # The API side of the largest import: 100,000 rows validated and queued in one request.
        body = csv_rows(LARGE, by_email=True)
        packed = gzip.compress(body.encode())
        sqs_calls.clear()
        started = time.perf_counter()
        response = api.post("/v1/imports", packed, headers={"content-type": "text/csv", "content-encoding": "gzip"})
        seconds = time.perf_counter() - started
        assert response.status == 202, response.body
        print(
            f"\n{LARGE:,} rows: CSV {len(body) / 1e6:.1f} MB, gzip {len(packed) / 1e6:.2f} MB; "
            f"POST validated and queued them in {seconds:.1f} s with {sqs_calls['SendMessageBatch']} "
            f"SendMessageBatch requests ({LARGE // 25:,} messages)"
        )
        boto3.client("sqs").purge_queue(QueueUrl=os.environ["IMPORT_QUEUE_URL"])
    finally:
        emulator.stop()
    print("", file=sys.stderr)


if __name__ == "__main__":
    main()
