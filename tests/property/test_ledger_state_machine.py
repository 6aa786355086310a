"""Random sequences of issue, debit, apply, re-apply, release, capture and replays through the
API, checked after every step against a simple model and the ledger's own invariants.

`make test` runs a few dozen sequences; `make soak` (SOAK_EXAMPLES=…) runs thousands.
"""

from __future__ import annotations

import os
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from tests.harness.api_client import Api, create_stack_resources, make_merchant, reset_clients
from tests.harness.audit import audit_wallet
from tests.harness.gateway import Gateway

CUSTOMERS = ("ann", "bob")
EXAMPLES = int(os.environ.get("SOAK_EXAMPLES", "15"))
STEPS = int(os.environ.get("SOAK_STEPS", "20"))

amounts = st.integers(min_value=1, max_value=5_000)  # cents


def money(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


@dataclass
class Model:
    balance: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CUSTOMERS, 0))
    holds: dict[str, tuple[str, int]] = field(default_factory=dict)  # checkout → (customer, amount)
    captured: set[str] = field(default_factory=set)

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
        self.api = Api(Gateway(), make_merchant("prop").api_key)
        self.model = Model()
        self.writes: list[tuple[str, Any, Any]] = []  # (key, body, first answer) to replay

    def teardown(self) -> None:
        self.stack.close()
        reset_clients()

    @rule(customer=st.sampled_from(CUSTOMERS), cents=amounts, never=st.booleans())
    def issue(self, customer: str, cents: int, never: bool) -> None:
        key = str(uuid.uuid4())
        body = {"amount": {"amount": money(cents), "currency": "USD"}, "reason": "prop"}
        body["expires"] = {"never": True} if never else {"days": 365}
        response = self.api.post(f"/v1/customers/{customer}/credits", body, key=key)
        assert response.status == 201, response.body
        self.model.balance[customer] += cents
        self.writes.append((key, (f"/v1/customers/{customer}/credits", body), response.json()))

    @rule(customer=st.sampled_from(CUSTOMERS), cents=amounts)
    def debit(self, customer: str, cents: int) -> None:
        key = str(uuid.uuid4())
        body = {"amount": {"amount": money(cents), "currency": "USD"}, "reason": "prop"}
        response = self.api.post(f"/v1/customers/{customer}/debits", body, key=key)
        if self.model.balance[customer] == 0 and not any(
            w[1][0].startswith(f"/v1/customers/{customer}/") for w in self.writes
        ):
            assert response.status == 404
            return
        if cents <= self.model.available(customer):
            assert response.status == 201, response.body
            self.model.balance[customer] -= cents
            self.writes.append((key, (f"/v1/customers/{customer}/debits", body), response.json()))
        else:
            assert response.status == 409, response.body

    @rule(
        customer=st.sampled_from(CUSTOMERS),
        checkout=st.sampled_from(["c1", "c2", "c3"]),
        price=amounts,
        capture=st.booleans(),
    )
    def apply(self, customer: str, checkout: str, price: int, capture: bool) -> None:
        checkout_id = f"{customer}-{checkout}"
        body = {
            "checkout_id": checkout_id,
            "customer_id": customer,
            "capture": capture,
            "cart": {"currency": "USD", "items": [{"id": "x", "quantity": 1, "unit_price": money(price)}]},
        }
        response = self.api.post("/v1/checkout/apply", body, key=None)
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

    @rule(days=st.sampled_from([1, 200, 400]))
    def expiry_run(self, days: int) -> None:
        """The scheduled job at a random later clock: holds past their hour lapse, and credit
        past its year expires (ledger entries of type expiry, which the model then follows)."""
        import time

        from store_credit.expiry_service import run_expiry

        before = {c: self.expiry_total(c) for c in CUSTOMERS}
        summary = run_expiry(int(time.time()) + days * 86_400)
        assert summary["complete"] is True
        self.model.holds.clear()  # every hold is older than its 60-minute time at +1 day
        for customer in CUSTOMERS:
            self.model.balance[customer] += self.expiry_total(customer) - before[customer]
        again = run_expiry(int(time.time()) + days * 86_400)
        assert again["lots_expired"] == again["holds_released"] == 0

    def expiry_total(self, customer: str) -> int:
        response = self.api.get(f"/v1/customers/{customer}/transactions?limit=100")
        if response.status != 200:
            return 0
        return sum(
            round(Decimal(e["amount"]["amount"]) * 100) for e in response.json()["items"] if e["type"] == "expiry"
        )

    @invariant()
    def wallets_match_the_model_and_the_ledger(self) -> None:
        for customer in CUSTOMERS:
            response = self.api.wallet(customer)
            if response.status == 404:
                assert self.model.balance[customer] == 0
                continue
            wallet = response.json()
            assert wallet["balance"]["amount"] == money(self.model.balance[customer])
            assert wallet["held"]["amount"] == money(self.model.held(customer))
            assert wallet["available"]["amount"] == money(self.model.available(customer))
            assert self.model.available(customer) >= 0
            audit = audit_wallet("prop", customer, "USD")
            audit.assert_consistent()
            assert audit.held == self.model.held(customer)


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
