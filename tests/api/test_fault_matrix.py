"""A fault at every DynamoDB call of every write — before the call, or after it succeeded but
before its answer arrived — then the client retries the same request: the effect lands exactly
once, never twice, never lost."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

from tests.harness.api_client import Api, Merchant, OrderWebhook
from tests.harness.audit import all_items
from tests.harness.faults import count_calls


def cart(price: str) -> dict[str, Any]:
    return {"currency": "USD", "items": [{"id": "x", "quantity": 1, "unit_price": price}]}


@dataclass(frozen=True)
class Operation:
    name: str
    prepare: Callable[[Api, str], None]
    act: Callable[[Api, str], Any]


def no_setup(api: Api, customer: str) -> None:
    return None


def with_credit(api: Api, customer: str) -> None:
    assert api.issue(customer, "50.00").status == 201


def with_hold(api: Api, customer: str) -> None:
    with_credit(api, customer)
    body = {"checkout_id": f"chk-{customer}", "customer_id": customer, "cart": cart("20.00")}
    assert api.post("/v1/checkout/apply", body, key=None).status == 200


SECRETS: dict[int, str] = {}


def with_open_order(api: Api, customer: str) -> None:
    from store_credit import wallet_store

    with_hold(api, customer)
    # The order system knows its secret: read it here, outside the calls being counted and faulted.
    SECRETS[id(api)] = str(wallet_store.load_settings("acme").webhook_secret)  # type: ignore[union-attr]


def order_event(api: Api, customer: str, event_type: str, **order: Any) -> Any:
    """An order event for this customer's order, signed as the order system would sign it."""
    hook = OrderWebhook(api.gateway, Merchant("acme", "", SECRETS[id(api)]))
    body = {"id": f"o-{customer}", "checkout_id": f"chk-{customer}", "customer_id": customer, "currency": "USD"}
    return hook.send(event_type, {**body, "total": "80.00", **order}, f"{event_type}-{customer}")


def with_paid_order(api: Api, customer: str) -> None:
    with_open_order(api, customer)
    assert order_event(api, customer, "order.paid").status == 200


OPERATIONS = [
    Operation(
        "issue",
        no_setup,
        lambda api, c: api.post(
            f"/v1/customers/{c}/credits",
            {"amount": {"amount": "10.00", "currency": "USD"}, "reason": "r"},
            key=f"i-{c}",
        ),
    ),
    Operation("debit", with_credit, lambda api, c: api.debit(c, "10.00", key=f"debit-{c}")),
    Operation(
        "apply",
        with_credit,
        lambda api, c: api.post(
            "/v1/checkout/apply", {"checkout_id": f"chk-{c}", "customer_id": c, "cart": cart("20.00")}, key=None
        ),
    ),
    Operation(
        "capture",
        with_credit,
        lambda api, c: api.post(
            "/v1/checkout/apply",
            {"checkout_id": f"chk-{c}", "customer_id": c, "capture": True, "cart": cart("20.00")},
            key=None,
        ),
    ),
    Operation("release", with_hold, lambda api, c: api.write("DELETE", f"/v1/checkout/chk-{c}", None, key=None)),
    Operation(
        "renewal plan",
        no_setup,
        lambda api, c: api.put(
            f"/v1/customers/{c}/renewal",
            {"amount": {"amount": "5.00", "currency": "USD"}, "mode": "grant", "period": "monthly"},
            key=f"plan-{c}",
        ),
    ),
    Operation("order paid", with_open_order, lambda api, c: order_event(api, c, "order.paid")),
    Operation("order cancelled", with_paid_order, lambda api, c: order_event(api, c, "order.cancelled")),
    Operation(
        "order refunded",
        with_paid_order,
        lambda api, c: order_event(api, c, "order.refunded", refund={"amount": "50.00", "to": "original"}),
    ),
    Operation(
        "order refunded as credit",
        with_paid_order,
        lambda api, c: order_event(api, c, "order.refunded", refund={"amount": "5.00", "to": "store_credit"}),
    ),
]


def state(api: Api, customer: str) -> tuple[Any, ...]:
    """Everything a write could have changed for this customer, ids and times left out."""
    wallet = api.wallet(customer)
    history = api.get(f"/v1/customers/{customer}/transactions?limit=100").json()
    kinds = [(e["type"], e["amount"]["amount"]) for e in history.get("items", [])] if wallet.status == 200 else []
    balances = (
        tuple(wallet.json()[k]["amount"] for k in ("balance", "held", "available")) if wallet.status == 200 else None
    )
    plans = [i for i in all_items() if i["SK"]["S"].startswith("RENEWAL#") and f"#C#{customer}" in i["PK"]["S"]]
    return balances, kinds, [(p["amount"]["N"], p["mode"]["S"]) for p in plans]


@contextmanager
def fault_at(call_number: int, when: str) -> Iterator[list[str]]:
    """Fail the Nth DynamoDB call: before it is sent, or after it succeeded (answer lost)."""
    from store_credit import wallet_store

    events = wallet_store.dynamodb().meta.events
    seen: list[str] = []

    def before(model: Any, **_: Any) -> None:
        seen.append(model.name)
        if when == "before" and len(seen) == call_number:
            raise ConnectTimeoutError(endpoint_url="https://dynamodb")

    def after(model: Any, **_: Any) -> None:
        if when == "after" and len(seen) == call_number:
            raise ReadTimeoutError(endpoint_url="https://dynamodb")

    events.register("before-call.dynamodb", before, unique_id="fault-matrix-before")
    events.register("after-call.dynamodb", after, unique_id="fault-matrix-after")
    try:
        yield seen
    finally:
        events.unregister("before-call.dynamodb", unique_id="fault-matrix-before")
        events.unregister("after-call.dynamodb", unique_id="fault-matrix-after")


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.name for op in OPERATIONS])
def test_a_fault_at_any_call_then_a_retry_lands_exactly_once(api: Api, operation: Operation) -> None:
    # The reference: the operation with no fault, on a customer of its own.
    operation.prepare(api, "reference")
    with count_calls() as calls:
        reference_answer = operation.act(api, "reference")
    assert reference_answer.status < 300, reference_answer.body
    expected = state(api, "reference")
    assert calls, "the operation made no DynamoDB call"

    for number in range(1, len(calls) + 1):
        for when in ("before", "after"):
            customer = f"c{number}{when}"
            operation.prepare(api, customer)
            # Given the Nth call fails
            with fault_at(number, when) as seen:
                failed = operation.act(api, customer)
            assert len(seen) >= number
            # When the client retries the very same request (until it is answered)
            retried = operation.act(api, customer)
            # Then it succeeds, and the customer ends exactly where a clean run ends
            assert retried.status < 300, (operation.name, number, when, failed.status, retried.body)
            assert state(api, customer) == expected, (operation.name, number, when, calls)
