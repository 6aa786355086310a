"""Events come from the ledger: one credit.* event per ledger entry, none for refused writes.

On MiniStack: moto (5.2.5 with this botocore) answers DescribeStream "not yet implemented"."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from tests.harness.api_client import Api, OrderWebhook, make_merchant
from tests.harness.gateway import Gateway
from tests.harness.pumps import StreamPump, matches


def capture_bus() -> Any:
    """An SQS queue behind a rule that takes every event of the service's bus."""
    sqs = boto3.client("sqs")
    events = boto3.client("events")
    queue_url = sqs.create_queue(QueueName=f"captured-{os.environ['EVENT_BUS_NAME']}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = os.environ["EVENT_BUS_NAME"]
    events.put_rule(Name="all", EventBusName=bus, EventPattern=json.dumps({"source": ["store-credit"]}))
    events.put_targets(Rule="all", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])

    def received() -> list[dict[str, Any]]:
        """Everything delivered so far, in the order the events happened (neither EventBridge
        nor SQS promises delivery order)."""
        events = []
        while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            events += [json.loads(m["Body"]) for m in messages]
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        return sorted(events, key=lambda e: e["detail"].get("created_at") or e["detail"].get("updated_at"))

    return received


@dataclass
class Stack:
    """A merchant's API and order webhook, the bus's events as delivered, the stream's pump."""

    api: Api
    hook: OrderWebhook
    received: Callable[[], list[dict[str, Any]]]
    pump: StreamPump


@pytest.fixture
def stack(emulator: str) -> Stack:
    merchant = make_merchant("acme")
    gateway = Gateway()
    return Stack(Api(gateway, merchant.api_key), OrderWebhook(gateway, merchant), capture_bus(), StreamPump())


def test_issue_and_debit_become_events_and_refusals_do_not(stack: Stack) -> None:
    # Given a bus whose events we can read
    api, received, pump = stack.api, stack.received, stack.pump
    pump.pump()  # the merchant's settings and key are not ledger entries

    # When credit is issued, a debit succeeds and another is refused
    api.issue("cus_1", "10.00", notify=True)
    api.debit("cus_1", "4.00")
    assert api.debit("cus_1", "100.00").status == 409
    pump.pump()

    # Then exactly two events arrive, carrying merchant, customer, amount, balance and entry id
    events = received()
    assert [e["detail-type"] for e in events] == ["credit.issued", "credit.debited"]
    issued, debited = (e["detail"] for e in events)
    assert issued["merchant_id"] == "acme"
    assert issued["customer_id"] == "cus_1"
    assert issued["amount"] == {"amount": "10.00", "currency": "USD"}
    assert issued["notify"] is True
    assert debited["amount"] == {"amount": "-4.00", "currency": "USD"}
    assert debited["balance_after"] == {"amount": "6.00", "currency": "USD"}
    ledger = api.get("/v1/customers/cus_1/transactions").json()["items"]
    assert {issued["entry_id"], debited["entry_id"]} == {e["id"] for e in ledger}


def test_checkout_holds_become_applied_and_released_events(stack: Stack) -> None:
    api, received, pump = stack.api, stack.received, stack.pump
    api.issue("cus_1", "50.00")
    pump.pump()
    received()

    def checkout(price: str, capture: bool = False) -> None:
        body = {
            "checkout_id": "chk_9",
            "customer_id": "cus_1",
            "capture": capture,
            "cart": {"currency": "USD", "items": [{"id": "a", "quantity": 1, "unit_price": price}]},
        }
        assert api.post("/v1/checkout/apply", body, key=None).status == 200

    checkout("30.00")
    checkout("30.00")  # a replay: no write, no event
    checkout("20.00")  # replaces the hold
    assert api.write("DELETE", "/v1/checkout/chk_9", None, key=None).status == 200
    pump.pump()

    events = [(e["detail-type"], e["detail"]["amount"]["amount"]) for e in received()]
    assert events == [("credit.applied", "30.00"), ("credit.applied", "20.00"), ("credit.released", "20.00")]


def test_the_templates_filter_lets_only_new_ledger_entries_through() -> None:
    pattern = StreamPump().patterns[0]
    entry = {"eventName": "INSERT", "dynamodb": {"Keys": {"SK": {"S": "L#01ABC"}}}}
    assert matches(pattern, entry)
    assert not matches(pattern, {"eventName": "MODIFY", "dynamodb": {"Keys": {"SK": {"S": "L#01ABC"}}}})
    assert not matches(pattern, {"eventName": "INSERT", "dynamodb": {"Keys": {"SK": {"S": "W#USD"}}}})
    holds = StreamPump().patterns[1]
    assert matches(holds, {"eventName": "MODIFY", "dynamodb": {"Keys": {"SK": {"S": "HOLD"}}}})
    assert not matches(holds, {"eventName": "REMOVE", "dynamodb": {"Keys": {"SK": {"S": "HOLD"}}}})


def test_order_events_become_captured_refunded_and_issued_events(stack: Stack) -> None:
    # Given a customer whose checkout holds 30.00 and a merchant paying 1.00 per 20.00 spent
    api, hook, received, pump = stack.api, stack.hook, stack.received, stack.pump
    api.issue("cus_1", "30.00")
    assert api.put("/v1/settings", {"earning_rules": [{"type": "place_order", "per": "20.00", "credit": "1.00"}]})
    body = {"currency": "USD", "items": [{"id": "a", "quantity": 1, "unit_price": "100.00"}]}
    api.post("/v1/checkout/apply", {"checkout_id": "chk_1", "customer_id": "cus_1", "cart": body}, key=None)
    pump.pump()
    received()

    # When the order is paid, then half refunded to the card (each delivered twice)
    order = {"id": "ord_1", "checkout_id": "chk_1", "customer_id": "cus_1", "currency": "USD", "total": "70.00"}
    refund = {**order, "refund": {"amount": "50.00", "to": "original"}}
    for event_type, body_ in (("order.paid", order), ("order.refunded", refund)):
        event = hook.event(event_type, body_)
        assert hook.post(event).status == 200
        assert hook.post(event).status == 200
    pump.pump()

    # Then the bus carries the capture, the reward, the refund and the refunded half of the
    # reward taken back, once each, with the order id
    events = [(e["detail-type"], e["detail"]["amount"]["amount"], e["detail"]["order_id"]) for e in received()]
    assert events == [
        ("credit.captured", "-30.00", "ord_1"),
        ("credit.issued", "3.00", "ord_1"),
        ("credit.refunded", "15.00", "ord_1"),
        ("credit.debited", "-1.50", "ord_1"),
    ]


def test_credit_owed_back_and_taken_when_a_hold_lets_go_is_one_debited_event(stack: Stack) -> None:
    # Given a card order that earned a 10.00 reward, all of it held by a checkout, and the order
    # cancelled (the reward is owed back: nothing was free to take)
    api, hook, received, pump = stack.api, stack.hook, stack.received, stack.pump
    rules = {"earning_rules": [{"type": "place_order", "per": "10.00", "credit": "1.00"}]}
    assert api.put("/v1/settings", rules).status == 200
    first = {"id": "o1", "customer_id": "ann", "currency": "USD", "total": "100.00"}
    assert hook.send("order.paid", first).status == 200
    cart = {"currency": "USD", "items": [{"id": "x", "quantity": 1, "unit_price": "50.00"}]}
    apply = {"checkout_id": "chk_2", "customer_id": "ann", "cart": cart}
    assert api.post("/v1/checkout/apply", apply, key=None).json()["applied"]["amount"] == "10.00"
    assert hook.send("order.cancelled", first).status == 200

    # When the checkout lets go of it, and the stream is delivered twice
    assert api.write("DELETE", "/v1/checkout/chk_2", None, key=None).status == 200
    pump.pump()
    StreamPump().pump()

    # Then the take is announced once as credit.debited for the cancelled order, with the entry's
    # own id, amount and balance, and every ledger entry has its event
    ledger = api.get("/v1/customers/ann/transactions?limit=100").json()["items"]
    events = {e["detail"]["entry_id"]: e for e in received() if "entry_id" in e["detail"]}
    assert sorted(events) == sorted(entry["id"] for entry in ledger)  # the reward and its take
    debited = [e["detail"] for e in events.values() if e["detail-type"] == "credit.debited"]
    assert len(debited) == 1
    assert debited[0]["amount"] == {"amount": "-10.00", "currency": "USD"}
    assert debited[0]["balance_after"] == {"amount": "0.00", "currency": "USD"}
    assert debited[0]["order_id"] == "o1"
    assert debited[0]["customer_id"] == "ann"
