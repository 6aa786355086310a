"""`make bench`: DynamoDB round trips, consumed capacity and local latency per operation.

Runs every operation through the template's routes against MiniStack (which computes
ConsumedCapacity; ``tests.bench.capacity`` sums it the way DynamoDB bills, secondary-index
writes included), and prints a table. Figures, not assertions.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from tests.bench.capacity import metered

REPEAT = 30

# On-demand prices, us-east-1, USD (AWS price pages as of 2026): what one million checkouts cost.
PRICES = {
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second_arm64": 0.0000133334,
    "http_api_request": 1.00 / 1e6,
    "dynamodb_write_request_unit": 0.625 / 1e6,
    "dynamodb_read_request_unit": 0.125 / 1e6,
}
MEMORY_GB = 0.5  # the template's MemorySize
AUTHORIZER_MISS_RATE = 0.01  # the gateway caches the authorizer's answer 300 s per key


def measure(name: str, operation: Callable[[int], Any]) -> dict[str, Any]:
    latencies = []
    usages = []
    for i in range(REPEAT):
        with metered() as usage:
            started = time.perf_counter()
            operation(i)
            latencies.append((time.perf_counter() - started) * 1000)
        usages.append(usage)
    last = usages[-1]
    return {
        "operation": name,
        "round trips": len(last.calls),
        "calls": " + ".join(last.calls),
        "RCU": statistics.mean(u.read_units for u in usages),
        "WCU": statistics.mean(u.write_units for u in usages),
        "p50 ms": statistics.median(latencies),
    }


def arithmetic_figures() -> list[str]:
    """The checkout arithmetic alone, for carts and wallets from ordinary to the largest accepted."""
    from fractions import Fraction

    from store_credit.checkout_math import Cart, CartLine, CreditRules, CreditSource, quote

    restricted = [CreditSource(f"r{k}", 5_000, product_ids=frozenset({f"p{k % 10}"})) for k in range(20)]
    open_lots = [CreditSource(f"u{k}", 3_000) for k in range(20)]
    rows = []
    for n_lines, n_lots in ((3, 2), (20, 10), (100, 40), (250, 40)):
        lines = tuple(
            CartLine(f"l{i}", 1_000 + i, 1, Fraction(8, 100), product_id=f"p{i % 10}", categories=(f"c{i % 4}",))
            for i in range(n_lines)
        )
        sources = restricted[: n_lots // 2] + open_lots[: n_lots // 2]
        cart = Cart(lines=lines, shipping=500)
        rules = CreditRules(exponent=2, apply_to_shipping=True)
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            quote(cart, rules, sources)
            runs.append((time.perf_counter() - started) * 1000)
        rows.append(f"{n_lines:>4} cart lines, {n_lots:>3} lots (half restricted): {statistics.median(runs):7.2f} ms")
    # The hard case: every restricted lot for a product of its own, so every line is a group.
    lines = tuple(CartLine(f"l{i}", 1_000 + i, 1, Fraction(8, 100), product_id=f"p{i}") for i in range(250))
    sources = [CreditSource(f"r{k}", 500, product_ids=frozenset({f"p{k}"})) for k in range(200)]
    sources += [CreditSource(f"u{k}", 500) for k in range(200)]
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        quote(Cart(lines=lines), CreditRules(exponent=2), sources)
        runs.append((time.perf_counter() - started) * 1000)
    rows.append(f" 250 cart lines, 400 lots (200 each for one product): {statistics.median(runs):7.2f} ms")
    # A loyal buyer who never spent a reward: thousands of small lots in one wallet item.
    lines = tuple(
        CartLine(f"l{i}", 1_000_000, 1, product_id=f"p{i % 10}", categories=(f"c{i % 7}",)) for i in range(250)
    )
    sources = [
        CreditSource(
            f"lot_{k}",
            100,
            product_ids=frozenset({f"p{k % 10}"}) if k % 3 == 0 else frozenset(),
            categories=frozenset({f"c{k % 7}"}) if k % 3 == 1 else frozenset(),
        )
        for k in range(6_000)
    ]
    started = time.perf_counter()
    quote(Cart(lines=lines), CreditRules(exponent=2), sources)
    elapsed = (time.perf_counter() - started) * 1000
    rows.append(f" 250 cart lines, 6,000 lots of 1.00 (a third per product, a third per category): {elapsed:7.0f} ms")
    return rows


def main() -> None:
    from tests.harness.local_stack import LOCAL_ENV
    from tests.harness.ministack import start_ministack

    emulator = start_ministack()
    os.environ.update({**LOCAL_ENV, "TABLE_NAME": "bench", "EVENT_BUS_NAME": "bench", "AWS_ENDPOINT_URL": emulator.url})
    try:
        import boto3

        from tests.harness.api_client import Api, create_stack_resources, make_merchant
        from tests.harness.gateway import Gateway

        create_stack_resources(boto3.client)
        api = Api(Gateway(), make_merchant("bench").api_key)

        def ok(response: Any) -> None:
            assert response.status < 300, response.body

        for n in range(REPEAT):
            ok(api.issue(f"multi_{n}", "1.00", expires={"days": 10}))
            ok(api.issue(f"multi_{n}", "1.00", expires={"days": 20}))
            ok(api.issue(f"multi_{n}", "1.00"))
        ok(api.issue("rich", "1000000.00"))
        for i in range(REPEAT):
            ok(api.issue(f"shopper_{i}", "100.00", expires={"days": 30}))
            ok(api.issue(f"shopper_{i}", "100.00"))
            ok(api.issue(f"saver_{i}", "200.00"))  # credit that never expires: off the due index

        def checkout(
            i: int, price: str = "30.00", capture: bool = False, checkout_id: str | None = None, who: str = "shopper"
        ) -> None:
            body = {
                "checkout_id": checkout_id or f"chk_{i}_{price}_{capture}",
                "customer_id": f"{who}_{i}",
                "capture": capture,
                "cart": {
                    "currency": "USD",
                    "items": [
                        {"id": "a", "quantity": 2, "unit_price": price, "tax_rate": "8.875"},
                        {"id": "b", "quantity": 1, "unit_price": "12.50", "tax_rate": "8.875"},
                    ],
                    "shipping": "5.00",
                },
            }
            ok(api.post("/v1/checkout/apply", body, key=None))

        from tests.harness.api_client import OrderWebhook

        webhook_merchant = make_merchant("bench-orders")
        orders_api = Api(api.gateway, webhook_merchant.api_key)
        hook = OrderWebhook(api.gateway, webhook_merchant)
        for i in range(REPEAT):
            ok(orders_api.issue(f"buyer_{i}", "50.00", expires={"days": 30}))
            ok(orders_api.issue(f"buyer_{i}", "50.00"))
            body = {
                "checkout_id": f"ord_chk_{i}",
                "customer_id": f"buyer_{i}",
                "cart": {"currency": "USD", "items": [{"id": "a", "quantity": 1, "unit_price": "100.00"}]},
                "requested_amount": "60.00",
            }
            ok(orders_api.post("/v1/checkout/apply", body, key=None))

        def order_event(i: int, event_type: str, **extra: Any) -> None:
            order = {
                "id": f"ord_{i}",
                "checkout_id": f"ord_chk_{i}",
                "customer_id": f"buyer_{i}",
                "currency": "USD",
                "total": "40.00",
                **extra,
            }
            ok(hook.send(event_type, order))

        order_rows = [
            measure("order.paid (capture a hold)", lambda i: order_event(i, "order.paid")),
            measure(
                "order.refunded (to original)",
                lambda i: order_event(i, "order.refunded", refund={"amount": "50.00", "to": "original"}),
            ),
            measure(
                "order.refunded (as store credit)",
                lambda i: order_event(i, "order.refunded", refund={"amount": "10.00", "to": "store_credit"}),
            ),
            measure("order.cancelled (return the rest)", lambda i: order_event(i, "order.cancelled")),
        ]

        rows = [
            measure("apply at checkout (new hold)", lambda i: checkout(i, checkout_id=f"re_{i}")),
            measure("re-apply (changed cart)", lambda i: checkout(i, price="25.00", checkout_id=f"re_{i}")),
            measure("apply replay (same cart)", lambda i: checkout(i, price="25.00", checkout_id=f"re_{i}")),
            measure("release", lambda i: ok(api.write("DELETE", f"/v1/checkout/re_{i}", None, key=None))),
            measure("apply with capture", lambda i: checkout(i, capture=True)),
            measure("apply, no expiring credit", lambda i: checkout(i, checkout_id=f"sv_{i}", who="saver")),
            measure(
                "release, no expiring credit", lambda i: ok(api.write("DELETE", f"/v1/checkout/sv_{i}", None, key=None))
            ),
            measure("issue credit (new wallet)", lambda i: ok(api.issue(f"new_{i}", "5.00", expires={"days": 30}))),
            measure("issue credit (wallet with lots)", lambda i: ok(api.issue("rich", "5.00", expires={"days": 30}))),
            measure("debit (one lot)", lambda i: ok(api.debit("rich", "1.00"))),
            measure("debit (across three lots)", lambda i: ok(api.debit(f"multi_{i}", "2.50"))),
            measure("replay of a debit (same key)", lambda i: ok(api.debit("rich", "1.00", key="bench-replay"))),
            measure("wallet", lambda i: ok(api.wallet("rich"))),
            measure("transactions (page of 25)", lambda i: ok(api.get("/v1/customers/rich/transactions?limit=25"))),
            measure(
                "settings update",
                lambda i: ok(api.put("/v1/settings", {"hold_ttl_minutes": 30 + i}, key=str(uuid.uuid4()))),
            ),
            *order_rows,
        ]
    finally:
        emulator.stop()

    print(f"\nDynamoDB cost per operation (MiniStack, {REPEAT} runs each; the authorizer's GetItem is included:")
    print("API Gateway caches it for 300 s per key in production; WCU include the DueIndex entry a write moves)\n")
    header = f"{'operation':34} {'round trips':>11} {'RCU':>6} {'WCU':>6} {'p50 ms':>7}  calls"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['operation']:34} {row['round trips']:>11} {row['RCU']:>6.1f} {row['WCU']:>6.1f} "
            f"{row['p50 ms']:>7.1f}  {row['calls']}"
        )
    apply_row = rows[0]
    # The authorizer's GetItem (0.5 RCU) and invocation happen only on a cache miss.
    rcu = apply_row["RCU"] - 0.5 + 0.5 * AUTHORIZER_MISS_RATE
    lambda_invocations = 1 + AUTHORIZER_MISS_RATE
    seconds = apply_row["p50 ms"] / 1000  # local latency as a stand-in for billed duration
    per_checkout = {
        "HTTP API": PRICES["http_api_request"],
        "Lambda requests": lambda_invocations * PRICES["lambda_request"],
        "Lambda duration (arm64, 512 MB)": seconds * MEMORY_GB * PRICES["lambda_gb_second_arm64"],
        "DynamoDB writes": apply_row["WCU"] * PRICES["dynamodb_write_request_unit"],
        "DynamoDB reads": rcu * PRICES["dynamodb_read_request_unit"],
    }
    print("\nCost of one million checkouts (apply with a hold), on-demand prices in the code:")
    for item, cost in per_checkout.items():
        print(f"  {item:34} ${cost * 1e6:8.2f}")
    print(f"  {'total':34} ${sum(per_checkout.values()) * 1e6:8.2f}")
    print("\nCheckout arithmetic (min-cost flow over lots and line groups), median of 5:")
    for line in arithmetic_figures():
        print("  " + line)


if __name__ == "__main__":
    main()
