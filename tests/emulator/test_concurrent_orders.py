"""Order systems deliver at least once and in parallel: racing deliveries of one order's events
(the same event many times, paid racing cancel, refunds racing each other) land exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.harness.api_client import Api, OrderWebhook, make_merchant
from tests.harness.audit import audit_wallet
from tests.harness.gateway import Gateway

pytestmark = pytest.mark.emulator

ORDERS = 6


def deliver(hook: OrderWebhook, event: dict[str, Any]) -> int:
    while (status := hook.post(event).status) == 503:  # wallet busy: the sender retries
        pass
    return int(status)


def test_racing_deliveries_of_paid_refunds_and_cancel_return_exactly_what_was_spent(emulator: str) -> None:
    # Given six orders, each holding 30.00 of one customer's 200.00 (an order worth 100.00)
    merchant = make_merchant("acme")
    gateway = Gateway()
    api = Api(gateway, merchant.api_key)
    hook = OrderWebhook(gateway, merchant)
    api.issue("hot", "200.00")
    events = []
    for n in range(ORDERS):
        cart = {"currency": "USD", "items": [{"id": "a", "quantity": 1, "unit_price": "100.00"}]}
        apply = {"checkout_id": f"chk_{n}", "customer_id": "hot", "cart": cart, "requested_amount": "30.00"}
        assert api.post("/v1/checkout/apply", apply, key=None).status == 200
        order = {"id": f"ord_{n}", "checkout_id": f"chk_{n}", "customer_id": "hot", "currency": "USD", "total": "70.00"}
        refund = {**order, "refund": {"amount": "50.00", "to": "original"}}
        events += [hook.event("order.paid", order), hook.event("order.refunded", refund)]
        if n % 2 == 0:
            events.append(hook.event("order.cancelled", order))

    # When every event is delivered three times, all at once, in shuffled order
    deliveries = [e for e in events for _ in range(3)]
    deliveries = deliveries[1::2] + deliveries[::2]
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda e: deliver(hook, e), deliveries))

    # Then every delivery is answered, and each order ends where its events say: a cancelled
    # order gave everything back (whether its cancel came before or after its payment), the
    # others gave back 15.00 of their 30.00
    assert set(statuses) == {200}
    kept = sum(30_00 - 15_00 for n in range(ORDERS) if n % 2 == 1)
    wallet = api.wallet("hot").json()
    assert wallet["held"]["amount"] == "0.00"
    assert wallet["balance"]["amount"] == f"{(200_00 - kept) // 100}.{(200_00 - kept) % 100:02d}"
    audit_wallet("acme", "hot", "USD").assert_consistent()
    ledger = api.get("/v1/customers/hot/transactions?limit=100").json()["items"]
    captures = [e for e in ledger if e["type"] == "capture"]
    assert len({e["order_id"] for e in captures}) == len(captures)  # at most one capture per order
