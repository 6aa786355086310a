"""Random sequences of issue, debit, store-credit codes, apply (with a customer's credit or a
code's), re-apply, release, capture, order events (paid, cancelled, refunded both ways, updated,
failed, in any order and redelivered), renewal plans, renewal and expiry runs at random later
clocks, and replays through the API, checked after every step against a simple model and the
ledger's invariants.

`make test` runs 200 sequences of up to 10 steps (about 3½ minutes here); `make soak` runs
5,000 of up to 40 (SOAK_EXAMPLES, SOAK_STEPS).
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.harness.api_client import Api, OrderWebhook, create_stack_resources, make_merchant, reset_clients
from tests.harness.audit import all_items, assert_statistics_match_orders, audit_wallet
from tests.harness.gateway import Gateway

CUSTOMERS = ("ann", "bob")
EXAMPLES = int(os.environ.get("SOAK_EXAMPLES", "200"))
STEPS = int(os.environ.get("SOAK_STEPS", "10"))

amounts = st.integers(min_value=1, max_value=5_000)  # cents


def money(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def ledger_totals(entry_type: str) -> Counter[str]:
    """Each wallet's ledger entries of one type, summed: what a job run did, read from the table."""
    totals: Counter[str] = Counter()
    for item in all_items():
        if item["SK"]["S"].startswith("L#") and item["type"]["S"] == entry_type:
            totals[item["customer_id"]["S"]] += int(item["amount"]["N"])
    return totals


@dataclass
class OrderModel:
    """What an order's events should have done, in totals only (no lots)."""

    customer: str  # the buyer: a refund as store credit is theirs
    checkout: str
    total: int  # what was charged, after store credit
    payer: str  # whose credit the checkout spent: the buyer's, or a code's ("~CODE")
    captured_at_apply: int = 0
    paid: bool = False
    cancelled: bool = False
    spent: int = 0
    returned: int = 0
    refunded_original: int = 0
    refunded_store_credit: int = 0
    waiting: int = 0  # of refunded_store_credit, the part a hold still pays for: issued at capture
    refund_seen: bool = False  # a refund was accepted: the card's total was charged
    lowest: int | None = None

    def returned_beyond_refunds(self, refunded_original: int) -> int:
        """What a lower total returned that the card refunds' share of the credit does not cover."""
        if self.spent == 0 or self.lowest is None:
            return 0
        proportional = (2 * refunded_original * self.spent + self.gross) // (2 * self.gross)
        return max(0, min(self.spent, self.spent - self.lowest) - proportional)

    @property
    def gross(self) -> int:
        """The order's value: the credit spent, and the card's total once it was charged, which
        the payment says, or a refund that overtook it (nothing is refunded that was not
        charged): a cancel then returns the same whether the payment came before it or not."""
        return (self.total if self.paid or self.refund_seen else 0) + self.spent

    def refund_as_credit(self, cents: int, *, held: bool) -> int:
        """Record a refund as store credit; what is issued now. Before the payment, the part
        only credit a checkout still holds pays for waits for the payment to capture it."""
        self.refunded_store_credit += cents
        waiting = self.waiting
        if held:
            over = max(0, self.refunded_original + self.refunded_store_credit - self.total)
            waiting = max(waiting, min(waiting + cents, over))
        issued = cents - (waiting - self.waiting)
        self.waiting = waiting
        return issued

    def issue_waiting_refund(self) -> int:
        """At the payment: the waiting refund, as far as the order's value (the card's total and
        the credit captured now) covers it; the rest is no refund at all. What is issued."""
        beyond = self.returned_beyond_refunds(self.refunded_original)
        refunded = self.refunded_original + self.refunded_store_credit
        dropped = min(self.waiting, max(0, refunded + beyond - self.total - self.spent))
        issued = self.waiting - dropped
        self.refunded_store_credit -= dropped
        self.waiting = 0
        return issued

    def due_back(self) -> int:
        """What the spent credit owed back comes to after the events so far: from the events
        alone, so an ignored event (a payment after the cancel) changes nothing."""
        if self.spent == 0:
            return 0
        gross = self.gross
        proportional = (2 * self.refunded_original * self.spent + gross) // (2 * gross)
        excess = max(0, self.spent - self.lowest) if self.lowest is not None else 0
        while_open = min(self.spent, max(proportional, excess))
        if self.cancelled:
            unrefunded = max(0, gross - self.refunded_store_credit - self.refunded_original)
            return max(self.returned, while_open + min(self.spent - while_open, unrefunded))
        return max(self.returned, while_open)


@dataclass
class Model:
    balance: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CUSTOMERS, 0))
    holds: dict[str, tuple[str, int]] = field(default_factory=dict)  # checkout → (wallet owner, amount)
    captured: set[str] = field(default_factory=set)
    orders: dict[str, OrderModel] = field(default_factory=dict)

    def held(self, customer: str) -> int:
        return sum(amount for who, amount in self.holds.values() if who == customer)

    def available(self, customer: str) -> int:
        return self.balance[customer] - self.held(customer)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        import boto3
        from moto import mock_aws

        self.stack = ExitStack()
        self.stack.enter_context(mock_aws())
        reset_clients()
        create_stack_resources(lambda service: boto3.client(service, region_name="us-east-1"))
        merchant = make_merchant("prop")
        gateway = Gateway(cache_authorizer=True)  # one key throughout, as a checkout system has
        self.api = Api(gateway, merchant.api_key)
        self.hook = OrderWebhook(gateway, merchant)
        self.model = Model()
        self.codes: list[str] = []  # store-credit codes made; their wallets are "~CODE" in the model
        self.writes: list[tuple[str, Any, Any]] = []  # (key, body, first answer) to replay
        self.order_events: list[tuple[dict[str, Any], Any]] = []  # (event, first answer)

    def teardown(self) -> None:
        self.stack.close()
        reset_clients()

    def owners(self) -> list[str]:
        return [*CUSTOMERS, *(f"~{code}" for code in self.codes)]

    def checkout(self, checkout_id: str, payer: str, price: int, capture: bool) -> Any:
        body: dict[str, Any] = {
            "checkout_id": checkout_id,
            "capture": capture,
            "cart": {"currency": "USD", "items": [{"id": "x", "quantity": 1, "unit_price": money(price)}]},
        }
        if payer.startswith("~"):
            body["code"] = payer[1:]
        else:
            body["customer_id"] = payer
        return self.api.post("/v1/checkout/apply", body, key=None)

    @rule(customer=st.sampled_from(CUSTOMERS), cents=amounts, never=st.booleans())
    def issue(self, customer: str, cents: int, never: bool) -> None:
        key = str(uuid.uuid4())
        body = {"amount": {"amount": money(cents), "currency": "USD"}, "reason": "prop"}
        body["expires"] = {"never": True} if never else {"days": 365}
        response = self.api.post(f"/v1/customers/{customer}/credits", body, key=key)
        assert response.status == 201, response.body
        self.model.balance[customer] += cents
        self.writes.append((key, (f"/v1/customers/{customer}/credits", body), response.json()))

    @rule()
    def read_the_ledger(self) -> None:
        """Each customer's transactions, newest first, end at the balance the model expects.
        (Hypothesis falls back on its first valid rule most often, and rules with fewer arguments
        come first: this cheap read takes those steps, rather than a job run or a cancel.)"""
        for customer in CUSTOMERS:
            response = self.api.get(f"/v1/customers/{customer}/transactions?limit=1")
            if response.status == 404:
                assert self.model.balance[customer] == 0
                continue
            assert response.status == 200, response.body
            newest = response.json()["items"]
            latest = newest[0]["balance_after"]["amount"] if newest else "0.00"
            assert latest == money(self.model.balance[customer])

    @initialize(cents=amounts, never=st.booleans())
    def first_code(self, cents: int, never: bool) -> None:
        """Every sequence starts with a code, so spending one is as likely as a customer's credit."""
        self.make_code(cents, never)

    @initialize(
        customer=st.sampled_from(CUSTOMERS),
        data=st.data(),
        cents=amounts,
        price=amounts,
        capture=st.booleans(),
        total=amounts,
    )
    def first_order(
        self, *, customer: str, data: st.DataObject, cents: int, price: int, capture: bool, total: int
    ) -> None:
        """Every sequence starts with an order on credit, so order events can come from the first
        step: waiting for a random start_order left them in a few percent of the steps."""
        self.issue(customer, cents, never=data.draw(st.booleans()))
        self.start_order(customer, data, price, capture, total)

    @precondition(lambda self: len(self.codes) < 2)
    @rule(cents=amounts, never=st.booleans())
    def make_code(self, cents: int, never: bool) -> None:
        key = str(uuid.uuid4())
        body: dict[str, Any] = {"amount": {"amount": money(cents), "currency": "USD"}}
        body["expires"] = {"never": True} if never else {"days": 365}
        response = self.api.post("/v1/codes", body, key=key)
        assert response.status == 201, response.body
        code = response.json()["codes"][0]["code"]
        self.codes.append(code)
        self.model.balance[f"~{code}"] = cents
        self.writes.append((key, ("/v1/codes", body), response.json()))

    @rule(customer=st.sampled_from(CUSTOMERS), cents=amounts)
    def debit(self, customer: str, cents: int) -> None:
        key = str(uuid.uuid4())
        body = {"amount": {"amount": money(cents), "currency": "USD"}, "reason": "prop"}
        response = self.api.post(f"/v1/customers/{customer}/debits", body, key=key)
        if cents <= self.model.available(customer):
            assert response.status == 201, response.body
            self.model.balance[customer] -= cents
            self.writes.append((key, (f"/v1/customers/{customer}/debits", body), response.json()))
        elif response.status == 404:
            # Unknown until credited (or until an order of theirs was paid)
            assert not any(w[1][0].startswith(f"/v1/customers/{customer}/") for w in self.writes)
        else:
            assert response.status == 409, response.body

    @rule(
        data=st.data(),
        checkout=st.sampled_from(["c1", "c2", "c3"]),
        price=amounts,
        capture=st.booleans(),
    )
    def apply(self, data: st.DataObject, checkout: str, price: int, capture: bool) -> None:
        customer = data.draw(st.sampled_from(self.owners()))  # a customer's wallet or a code's
        checkout_id = f"{customer.lstrip('~')}-{checkout}"
        response = self.checkout(checkout_id, customer, price, capture)
        if checkout_id in self.model.captured:
            assert response.status in {200, 409}, response.body  # a replay of the capture, or a conflict
            return
        assert response.status == 200, response.body
        self.model.holds.pop(checkout_id, None)  # a new apply replaces this checkout's hold
        expected = min(price, self.model.available(customer))
        assert response.json()["applied"]["amount"] == money(expected)
        if capture and expected > 0:
            self.model.balance[customer] -= expected
            self.model.captured.add(checkout_id)
        elif expected > 0:
            self.model.holds[checkout_id] = (customer, expected)

    @precondition(lambda self: bool(self.model.holds))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        checkout_id = data.draw(st.sampled_from(sorted(self.model.holds)))
        response = self.api.write("DELETE", f"/v1/checkout/{checkout_id}", None, key=None)
        assert response.status == 200, response.body
        self.model.holds.pop(checkout_id)

    @precondition(lambda self: bool(self.writes))
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        key, (url, body), first = data.draw(st.sampled_from(self.writes))
        response = self.api.post(url, body, key=key)
        assert response.status == 201
        assert response.json() == first

    # The jobs take a clock offset and an hour (or day) within it: two arguments, not one, sort
    # them among hypothesis's rules so that they are not the first valid rule it falls back on
    # (as the first they took a third of all steps, and the slowest ones).
    @rule(days=st.sampled_from([1, 200, 400]), hour=st.integers(min_value=0, max_value=23))
    def expiry_run(self, days: int, hour: int) -> None:
        """The scheduled job at a random later clock: holds past their hour lapse, and credit
        past its year expires (ledger entries of type expiry, which the model then follows)."""
        import time

        from store_credit.expiry_service import run_expiry

        before = ledger_totals("expiry")
        at = int(time.time()) + days * 86_400 + hour * 3_600
        summary = run_expiry(at)
        assert summary["complete"] is True
        self.model.holds.clear()  # every hold is older than its 60-minute time at +1 day
        after = ledger_totals("expiry")
        for owner in self.owners():
            self.model.balance[owner] += after[owner] - before[owner]
        again = run_expiry(at)
        assert again["lots_expired"] == again["holds_released"] == 0

    @rule(customer=st.sampled_from(CUSTOMERS), cents=amounts, mode=st.sampled_from(["grant", "top_up"]))
    def set_renewal_plan(self, customer: str, cents: int, mode: str) -> None:
        body = {"amount": {"amount": money(cents), "currency": "USD"}, "mode": mode, "period": "monthly"}
        response = self.api.put(f"/v1/customers/{customer}/renewal", body)
        assert response.status in {200, 201, 404}, response.body  # 404: not a customer yet

    @rule(months=st.integers(min_value=1, max_value=3), day=st.integers(min_value=0, max_value=27))
    def renewal_run(self, months: int, day: int) -> None:
        """The renewal job at a later clock: whatever it grants, the model follows the ledger's
        renewal entries; the same run again grants nothing (once per period)."""
        import time

        from store_credit.renewal_service import run_renewal

        before = ledger_totals("renewal")
        at = int(time.time()) + months * 31 * 86_400 + day * 86_400
        assert run_renewal(at)["complete"] is True
        after = ledger_totals("renewal")
        for customer in CUSTOMERS:
            granted = after[customer] - before[customer]
            assert granted >= 0
            self.model.balance[customer] += granted
        assert run_renewal(at)["renewed"] == 0

    @rule(
        customer=st.sampled_from(CUSTOMERS),
        data=st.data(),
        price=amounts,
        capture=st.booleans(),
        total=amounts,
    )
    def start_order(self, customer: str, data: st.DataObject, price: int, capture: bool, total: int) -> None:
        """A checkout of its own for a new order: the buyer's credit or a code's, held or
        captured at once."""
        payer = data.draw(st.sampled_from([customer, *(f"~{code}" for code in self.codes)]))
        order_id = f"o{len(self.model.orders) + 1}"
        checkout_id = f"{order_id}-chk"
        response = self.checkout(checkout_id, payer, price, capture)
        assert response.status == 200, response.body
        applied = min(price, self.model.available(payer))
        order = OrderModel(customer, checkout_id, total, payer)
        if capture and applied:
            self.model.balance[payer] -= applied
            order.captured_at_apply = applied
        elif applied:
            self.model.holds[checkout_id] = (payer, applied)
        self.model.orders[order_id] = order

    # One rule per event type: hypothesis picks among rules, so a single order-event rule came up
    # in 2% of steps (and a code-paid order's refund almost never); now they are 6 rules of 18.
    @precondition(lambda self: bool(self.model.orders))
    @rule(data=st.data())
    def order_paid(self, data: st.DataObject) -> None:
        self.order_event(data, "paid", 0)

    @precondition(lambda self: bool(self.model.orders))
    @rule(data=st.data())
    def order_cancelled(self, data: st.DataObject) -> None:
        self.order_event(data, "cancelled", 0)

    @precondition(lambda self: bool(self.model.orders))
    @rule(data=st.data(), to=st.sampled_from(["original", "store_credit"]), cents=amounts)
    def order_refunded(self, data: st.DataObject, to: str, cents: int) -> None:
        self.order_event(data, to, cents)

    @precondition(lambda self: bool(self.model.orders))
    @rule(data=st.data(), to=st.sampled_from(["original", "store_credit"]))
    def order_refunded_in_full(self, data: st.DataObject, to: str) -> None:
        """The rest of what the order is worth, however it was paid: before the payment, the
        credit its checkout holds counts (a random amount seldom lands past the card's total)."""
        self.order_event(data, to, None)

    @precondition(lambda self: bool(self.model.orders))
    @rule(data=st.data(), total=amounts)
    def order_updated(self, data: st.DataObject, total: int) -> None:
        self.order_event(data, "updated", total)

    @precondition(lambda self: bool(self.model.orders))
    @rule(data=st.data())
    def order_failed(self, data: st.DataObject) -> None:
        self.order_event(data, "failed", 0)

    def order_event(self, data: st.DataObject, kind: str, cents: int | None) -> None:
        order_id = data.draw(st.sampled_from(sorted(self.model.orders)))
        order = self.model.orders[order_id]
        if cents is None:
            reserved = self.model.holds.get(order.checkout, ("", order.captured_at_apply))[1]
            value = order.total + (order.spent if order.paid else reserved)
            cents = max(1, value - order.refunded_original - order.refunded_store_credit)
        body: dict[str, Any] = {
            "id": order_id,
            "checkout_id": order.checkout,
            "customer_id": order.customer,
            "currency": "USD",
            "total": money(order.total),
        }
        event_type = {"original": "order.refunded", "store_credit": "order.refunded"}.get(kind, f"order.{kind}")
        if kind in ("original", "store_credit"):
            body["refund"] = {"amount": money(cents), "to": kind}
        if kind == "updated":
            body["total"] = money(cents)
        event = self.hook.event(event_type, body)
        response = self.hook.post(event)
        expected_status = self.expect_order_event(order, kind, cents)
        assert response.status == expected_status, (kind, response.body)
        if response.status == 200:
            self.order_events.append((event, response.json()))

    def expect_order_event(self, order: OrderModel, kind: str, cents: int) -> int:
        """Apply the event to the model; the status the service must answer. Spent credit leaves
        and comes back to the wallet that paid (a code's, perhaps); a refund as credit is the buyer's."""
        if kind == "paid" and not order.paid and not order.cancelled:
            if order.checkout in self.model.holds:
                order.spent = self.model.holds.pop(order.checkout)[1]
                self.model.balance[order.payer] -= order.spent
                self.model.captured.add(order.checkout)
            elif order.captured_at_apply:
                order.spent = order.captured_at_apply
            order.paid = True
            self.model.balance[order.customer] += order.issue_waiting_refund()
        elif kind == "cancelled" and not order.cancelled:
            order.cancelled = True
            if not order.paid:
                order.refunded_store_credit -= order.waiting  # never issued: no refund at all
                order.waiting = 0
            if not order.paid and order.checkout in self.model.holds:
                self.model.holds.pop(order.checkout)
            elif not order.paid and order.captured_at_apply:
                order.spent = order.captured_at_apply
        elif kind in ("original", "store_credit") and not order.cancelled:
            refunded = order.refunded_original + order.refunded_store_credit
            # Before the payment, the order is worth the card's total and the credit its checkout
            # still reserves for it (a hold, or what apply captured): a full refund may come first.
            reserved = self.model.holds.get(order.checkout, ("", order.captured_at_apply))[1]
            # Credit a lower total gave back, beyond what card refunds cover, counts as given back.
            beyond = order.returned_beyond_refunds(order.refunded_original + (cents if kind == "original" else 0))
            if refunded + cents + beyond > order.total + (order.spent if order.paid else reserved):
                return 422
            order.refund_seen = True
            if kind == "original":
                order.refunded_original += cents
            else:
                held = not order.paid and order.checkout in self.model.holds
                self.model.balance[order.customer] += order.refund_as_credit(cents, held=held)
        elif kind == "updated" and not order.cancelled:
            order.lowest = cents if order.lowest is None else min(order.lowest, cents)
        due = order.due_back()
        self.model.balance[order.payer] += due - order.returned
        order.returned = due
        return 200

    @precondition(lambda self: bool(self.order_events))
    @rule(data=st.data())
    def redeliver_order_event(self, data: st.DataObject) -> None:
        event, first = data.draw(st.sampled_from(self.order_events))
        response = self.hook.post(event)
        assert response.status == 200
        assert response.json() == first

    @invariant()
    def wallets_match_the_model_the_ledger_and_the_orders(self) -> None:
        items = all_items()  # one read of the whole (small) table serves every check below
        for customer in self.owners():
            if customer.startswith("~"):
                response = self.api.get(f"/v1/codes/{customer[1:]}")
                assert response.status == 200, response.body
            else:
                response = self.api.wallet(customer)
            if response.status == 404:
                assert self.model.balance[customer] == 0
                continue
            wallet = response.json()
            assert wallet["balance"]["amount"] == money(self.model.balance[customer])
            assert wallet["held"]["amount"] == money(self.model.held(customer))
            assert wallet["available"]["amount"] == money(self.model.available(customer))
            assert self.model.available(customer) >= 0
            audit = audit_wallet("prop", customer, "USD", items)
            audit.assert_consistent()
            assert (audit.balance, audit.held) == (self.model.balance[customer], self.model.held(customer))
        assert_statistics_match_orders(items)


def test_ledger_state_machine() -> None:
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
