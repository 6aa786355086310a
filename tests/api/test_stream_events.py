"""What the table's stream makes of the ledger and the checkout holds: the events on the bus
and what their subscribers (the notifier) do with them, redelivered as Lambda may."""

from __future__ import annotations

from typing import Any

from store_credit.ledger_events import hold_event
from tests.harness.api_client import Api, Merchant
from tests.harness.audit import all_items

CART = {"currency": "USD", "items": [{"id": "x", "quantity": 1, "unit_price": "30.00"}]}


def hold_image(merchant_id: str, checkout_id: str) -> dict[str, Any]:
    return next(i for i in all_items() if i["PK"]["S"] == f"M#{merchant_id}#CHK#{checkout_id}")


def test_a_hold_replaced_by_an_apply_of_nothing_announces_the_credit_it_released(api: Api, merchant: Merchant) -> None:
    # Given 15.00 held by a checkout
    api.issue("ann", "15.00")
    first = api.post("/v1/checkout/apply", {"checkout_id": "c1", "customer_id": "ann", "cart": CART}, key=None)
    assert first.json()["applied"]["amount"] == "15.00"

    # When the same checkout applies again asking for no credit
    again = {"checkout_id": "c1", "customer_id": "ann", "requested_amount": "0", "cart": CART}
    assert api.post("/v1/checkout/apply", again, key=None).json()["applied"]["amount"] == "0.00"
    assert api.wallet("ann").json()["held"]["amount"] == "0.00"

    # Then credit.released says the 15.00 that went back to the wallet, as a DELETE would
    event = hold_event(hold_image(merchant.merchant_id, "c1"))
    assert event is not None
    assert event["DetailType"] == "credit.released"
    assert event["Detail"]["amount"] == {"amount": "15.00", "currency": "USD"}


def test_hold_events_carry_an_id_that_is_the_same_on_redelivery_and_new_for_each_write(
    api: Api, merchant: Merchant
) -> None:
    # Given a checkout holding 15.00
    api.issue("ann", "15.00")
    api.post("/v1/checkout/apply", {"checkout_id": "c1", "customer_id": "ann", "cart": CART}, key=None)
    placed = hold_event(hold_image(merchant.merchant_id, "c1"))
    # When its stream record is delivered twice, the events are the same, id included
    assert placed is not None and placed == hold_event(hold_image(merchant.merchant_id, "c1"))
    # And when the checkout applies again for less, then lets go, each write has an id of its own
    less = {"checkout_id": "c1", "customer_id": "ann", "requested_amount": "5.00", "cart": CART}
    api.post("/v1/checkout/apply", less, key=None)
    replaced = hold_event(hold_image(merchant.merchant_id, "c1"))
    api.write("DELETE", "/v1/checkout/c1", None, key=None)
    released = hold_event(hold_image(merchant.merchant_id, "c1"))
    assert replaced is not None and released is not None
    ids = [e["Detail"]["event_id"] for e in (placed, replaced, released)]
    assert len(set(ids)) == 3
