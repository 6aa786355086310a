"""`make bench` (jobs part): the expiry and renewal jobs over 100,000 wallets with 1% due.

Seeds the wallets straight into MiniStack (BatchWriteItem of the same items the service
writes), runs each job once, and prints how many items it read per item due — a Scan would
read every wallet — and the DynamoDB requests per expired lot and per renewed wallet.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from typing import Any

WALLETS = int(os.environ.get("BENCH_WALLETS", "100000"))
DUE_SHARE = 0.01
LATER_SHARE = 0.04  # on the index (credit expiring in months), not due: must not be read


def seed(client: Any, table: str, now: int) -> tuple[int, int]:
    from store_credit import wallet_store
    from store_credit.renewal import RenewalPlan
    from store_credit.wallet import Wallet, issue_credit

    due_every = round(1 / DUE_SHARE)
    later_every = round(1 / LATER_SHARE)
    expiring = renewing = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        request: dict[str, Any] = {table: batch[:]}
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        batch.clear()

    for n in range(WALLETS):
        wallet = Wallet("bench", f"c{n:06d}", "USD")
        if n % due_every == 0:
            expires_at: int | None = now - 3_600  # expired an hour ago
            expiring += 1
        elif n % later_every == 1:
            expires_at = now + 90 * 86_400
        else:
            expires_at = None
        change = issue_credit(
            wallet, amount=1_000, reason="seed", actor="bench", now_ms=(now - 86_400) * 1000, expires_at=expires_at
        )
        batch.append({"PutRequest": {"Item": wallet_store.wallet_to_item(change.after)}})
        batch.append({"PutRequest": {"Item": wallet_store.entry_to_item(change.after, change.entry)}})
        if n % due_every == 5:
            plan = RenewalPlan(
                "bench",
                f"c{n:06d}",
                "USD",
                500,
                "monthly",
                "grant",
                "Monthly allowance",
                None,
                due_at=now - 60,
                version=1,
            )
            batch.append({"PutRequest": {"Item": wallet_store.plan_to_item(plan)}})
            renewing += 1
        if len(batch) >= 24:
            flush()
    if batch:
        flush()
    return expiring, renewing


def main() -> None:
    from tests.harness.local_stack import LOCAL_ENV
    from tests.harness.ministack import start_ministack

    emulator = start_ministack()
    os.environ.update(
        {**LOCAL_ENV, "TABLE_NAME": "bench-jobs", "EVENT_BUS_NAME": "bench-jobs", "AWS_ENDPOINT_URL": emulator.url}
    )
    try:
        import boto3

        from store_credit import wallet_store
        from store_credit.expiry_service import run_expiry
        from store_credit.renewal_service import run_renewal
        from tests.harness.api_client import create_stack_resources, make_merchant

        create_stack_resources(boto3.client)
        make_merchant("bench")
        now = int(time.time())
        started = time.perf_counter()
        expiring, renewing = seed(wallet_store.dynamodb(), os.environ["TABLE_NAME"], now)
        print(
            f"seeded {WALLETS:,} wallets ({expiring:,} with a lot due, {renewing:,} renewal plans due) "
            f"in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )

        calls: Counter[str] = Counter()

        def count(model: Any, **_: Any) -> None:
            calls[model.name] += 1

        wallet_store.dynamodb().meta.events.register("before-call.dynamodb", count)
        started = time.perf_counter()
        expiry = run_expiry(now)
        expiry_seconds = time.perf_counter() - started
        expiry_calls = sum(calls.values())
        calls.clear()
        started = time.perf_counter()
        renewal = run_renewal(now)
        renewal_seconds = time.perf_counter() - started
        renewal_calls = sum(calls.values())
    finally:
        emulator.stop()

    expired = expiry["lots_expired"]
    renewed = renewal["renewed"]
    print(f"\nScheduled jobs over {WALLETS:,} wallets (MiniStack)\n")
    print(
        f"{'job':8} {'due':>6} {'done':>6} {'index items read':>17} {'per item due':>13} "
        f"{'items read per due':>19} {'requests per item':>18} {'seconds':>8}"
    )
    print(
        f"{'expiry':8} {expiring:>6} {expired:>6} {expiry['index_items_read']:>17} "
        f"{expiry['index_items_read'] / max(expiring, 1):>13.2f} "
        f"{(expiry['index_items_read'] + expiry['wallets_read']) / max(expiring, 1):>19.2f} "
        f"{expiry_calls / max(expired, 1):>18.2f} {expiry_seconds:>8.1f}"
    )
    print(
        f"{'renewal':8} {renewing:>6} {renewed:>6} {renewal['index_items_read']:>17} "
        f"{renewal['index_items_read'] / max(renewing, 1):>13.2f} "
        f"{(renewal['index_items_read'] + 2 * renewal['plans_read']) / max(renewing, 1):>19.2f} "
        f"{renewal_calls / max(renewed, 1):>18.2f} {renewal_seconds:>8.1f}"
    )
    print(
        f"\nA Scan would read {WALLETS:,}+ items: {WALLETS / max(expiring, 1):.0f} per item due. "
        "'index items read' counts the sparse DueIndex entries the job queried; 'items read' adds "
        "the consistent read of each due wallet, or of each plan with its wallet (one BatchGetItem; "
        "merchant settings are read once per merchant per run)."
    )


if __name__ == "__main__":
    main()
