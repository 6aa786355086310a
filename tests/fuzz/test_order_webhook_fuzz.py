"""Signed but arbitrary order events: whatever an order system sends, the webhook answers 200,
409 or 422 (never 5xx), errors are problem+json, answers fit their schema, every wallet it
touched still balances (Σ lots = Σ ledger), and each buyer's statistics are exactly what their
orders count for (nothing taken back beyond what an order gave)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness.api_client import Api, Merchant, OrderWebhook, moto_shop
from tests.harness.audit import assert_statistics_match_orders, audit_wallet

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25")) * 4

FRESH = "fresh"
# Mostly what an order system sends, sometimes what it should not: most events must get past
# validation for the money paths to be exercised at all.
plausible = st.builds(lambda cents: f"{cents // 100}.{cents % 100:02d}", st.integers(0, 20_000))
positive = st.builds(lambda cents: f"{cents // 100}.{cents % 100:02d}", st.integers(1, 5_000))
decimals = st.one_of(
    plausible,
    plausible,
    plausible,
    st.sampled_from(["0", "1.5", "1.234", "-5.00", "1e3", "", "99999999999999999999.00"]),
)
customers = st.sampled_from(["ann", "ann", "bob", "bob", "~ABCDEFGHIJKLMNOP", "cus with space"])
items = st.lists(
    st.fixed_dictionaries(
        {"id": st.sampled_from(["a", "b"]), "quantity": st.integers(-1, 5), "unit_price": decimals},
        optional={
            "store_credit_product": st.booleans(),
            "credit_amount": decimals,
            "recipient_customer_id": customers,
        },
    ),
    max_size=3,
)
orders = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["o1", "o2"]),
        "customer_id": customers,
        "currency": st.sampled_from(["USD"] * 8 + ["JPY", "XXY"]),
        "total": decimals,
    },
    optional={
        "checkout_id": st.sampled_from(["chk_1", "chk_2"]),
        "items": items,
        "refund": st.fixed_dictionaries(
            {"amount": decimals, "to": st.sampled_from(["store_credit", "original", "original", "card"])}
        ),
        "referrer_customer_id": customers,
        "extra_field": st.text(max_size=5),
    },
)
event_types = st.sampled_from(
    ["order.paid", "order.cancelled", "order.refunded", "order.refunded", "order.updated", "order.failed"]
)
anything = st.fixed_dictionaries(
    {
        "id": st.builds(lambda n: f"e{n}", st.integers(0, 40)) | st.just("bad id"),
        "type": event_types | st.just("order.shipped"),
        "order": orders,
    }
)


def _order_of(number: int, body: dict[str, Any]) -> dict[str, Any]:
    # An order keeps its customer and checkout across its events, as a real order system's do.
    customer, checkout = [("ann", "chk_1"), ("bob", None), ("ann", None)][min(number, 2)]
    return {**body, "id": f"o{number}", "customer_id": customer, **({"checkout_id": checkout} if checkout else {})}


valid_order = st.builds(
    _order_of,
    st.integers(0, 30),
    st.fixed_dictionaries(
        {
            "currency": st.just("USD"),
            "total": plausible,
            "refund": st.fixed_dictionaries({"amount": positive, "to": st.sampled_from(["store_credit", "original"])}),
        },
        optional={
            "items": st.lists(
                st.fixed_dictionaries(
                    {"id": st.just("gc"), "quantity": st.integers(1, 3), "unit_price": plausible},
                    optional={"store_credit_product": st.booleans(), "recipient_customer_id": st.just("bob")},
                ),
                max_size=2,
            ),
            "referrer_customer_id": st.sampled_from(["ann", "bob"]),
        },
    ),
)
valid = st.fixed_dictionaries(
    {
        "id": st.just(FRESH),  # replaced by a new id when sent: reused ids have their own tests
        "type": event_types,
        "order": valid_order,
    }
)
events = st.one_of(valid, valid, valid, anything)


@pytest.fixture(scope="module")
def shop() -> Iterator[tuple[Api, OrderWebhook, Merchant]]:
    with moto_shop("fuzzshop") as (api, hook, merchant):
        api.issue("ann", "100.00")
        api.put("/v1/settings", {"earning_rules": [{"type": "place_order", "per": "10.00", "credit": "1.00"}]})
        cart = {"currency": "USD", "items": [{"id": "x", "quantity": 1, "unit_price": "50.00"}]}
        api.post("/v1/checkout/apply", {"checkout_id": "chk_1", "customer_id": "ann", "cart": cart}, key=None)
        yield api, hook, merchant


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(event=events)
def test_any_signed_event_is_answered_sanely_and_wallets_balance(
    shop: tuple[Api, OrderWebhook, Merchant], event: dict[str, Any]
) -> None:
    from store_credit.models import OrderEventOut

    api, hook, merchant = shop
    if event["id"] == FRESH:
        event = {**event, "id": f"evt_{uuid.uuid4().hex}"}
    response = hook.post(event)
    assert response.status in {200, 409, 422}, (response.status, response.body, json.dumps(event))
    if response.status == 200:
        OrderEventOut.model_validate(response.json())
    else:
        assert response.headers["content-type"] == "application/problem+json"
    for customer in ("ann", "bob"):
        if api.wallet(customer).status == 200:
            audit_wallet(merchant.merchant_id, customer, "USD").assert_consistent()
    assert_statistics_match_orders()
