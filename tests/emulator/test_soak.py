"""Concurrency soak on MiniStack: many threads, mixed operations, a few hot wallets.

`make test` runs 1,600 operations; `make soak` runs 10,000 (SOAK_OPERATIONS). Afterwards no
wallet is overspent, no update is lost: each wallet's balance equals Σ lots equals Σ ledger,
equals what the successful operations add up to, and held equals the open checkouts."""

from __future__ import annotations

import os
import random
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from tests.harness.api_client import Api, make_merchant
from tests.harness.audit import audit_wallet
from tests.harness.gateway import Gateway

pytestmark = pytest.mark.emulator

THREADS = 16
OPERATIONS = int(os.environ.get("SOAK_OPERATIONS", "1600"))
WALLETS = ("hot1", "hot2", "hot3")


def cents(amount: str) -> int:
    return int(Decimal(amount) * 100)


def worker(api: Api, seed: int, count: int) -> tuple[Counter[str], dict[str, int], dict[str, int]]:
    """Random operations; returns outcomes, the net balance change it caused per wallet, and
    what its still-open checkouts hold per wallet."""
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    net: dict[str, int] = dict.fromkeys(WALLETS, 0)
    open_holds: dict[str, tuple[str, int]] = {}

    def send(method: str, url: str, body: object, key: str | None) -> object:
        response = api.write(method, url, body, key=key)
        while response.status == 503:  # busy: retry the same request, as a client would
            response = api.write(method, url, body, key=key)
        return response

    for _ in range(count):
        customer = rng.choice(WALLETS)
        kind = rng.choice(["issue", "debit", "debit", "apply", "apply", "release", "capture"])
        amount = rng.randint(1, 2_000)
        money = {"amount": f"{amount / 100:.2f}", "currency": "USD"}
        if kind == "issue":
            r = send(
                "POST", f"/v1/customers/{customer}/credits", {"amount": money, "reason": "soak"}, str(uuid.uuid4())
            )
            assert r.status == 201, r.body  # type: ignore[attr-defined]
            net[customer] += amount
        elif kind == "debit":
            r = send("POST", f"/v1/customers/{customer}/debits", {"amount": money, "reason": "soak"}, str(uuid.uuid4()))
            assert r.status in {201, 409}, r.body  # type: ignore[attr-defined]
            if r.status == 201:  # type: ignore[attr-defined]
                net[customer] -= amount
        elif kind in {"apply", "capture"}:
            checkout_id = f"s{seed}-{rng.randint(0, 5)}"
            if checkout_id in open_holds and open_holds[checkout_id][0] != customer:
                continue
            body = {
                "checkout_id": checkout_id,
                "customer_id": customer,
                "capture": kind == "capture",
                "cart": {"currency": "USD", "items": [{"id": "x", "quantity": 1, "unit_price": money["amount"]}]},
            }
            r = send("POST", "/v1/checkout/apply", body, None)
            if r.status == 409:  # type: ignore[attr-defined]
                outcomes["conflict"] += 1  # captured before: a checkout id is final once captured
                continue
            assert r.status == 200, r.body  # type: ignore[attr-defined]
            applied = cents(r.json()["applied"]["amount"])  # type: ignore[attr-defined]
            replayed = r.headers.get("idempotent-replayed") == "true"  # type: ignore[attr-defined]
            open_holds.pop(checkout_id, None)
            if kind == "capture":
                if not replayed:  # the same capture again answers the first and spends nothing
                    net[customer] -= applied
            elif applied:
                open_holds[checkout_id] = (customer, applied)
        elif open_holds:
            checkout_id = rng.choice(sorted(open_holds))
            r = send("DELETE", f"/v1/checkout/{checkout_id}", None, None)
            assert r.status == 200, r.body  # type: ignore[attr-defined]
            open_holds.pop(checkout_id)
        outcomes[kind] += 1
    held = dict.fromkeys(WALLETS, 0)
    for customer, amount in open_holds.values():
        held[customer] += amount
    return outcomes, net, held


def test_mixed_operations_on_hot_wallets_lose_and_overspend_nothing(emulator: str) -> None:
    api = Api(Gateway(), make_merchant("soak").api_key)
    for customer in WALLETS:
        assert api.issue(customer, "100.00").status == 201
    per_thread = OPERATIONS // THREADS
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda seed: worker(api, seed, per_thread), range(THREADS)))

    for customer in WALLETS:
        expected_balance = 10_000 + sum(net[customer] for _, net, _ in results)
        expected_held = sum(held[customer] for _, _, held in results)
        audit = audit_wallet("soak", customer, "USD")
        audit.assert_consistent()
        assert audit.balance == expected_balance
        assert audit.held == expected_held
        assert 0 <= audit.held <= audit.balance
    total: Counter[str] = sum((outcomes for outcomes, _, _ in results), Counter())
    assert sum(total.values()) >= OPERATIONS * 0.9
