"""Many checkouts on one wallet at once: holds never exceed the credit, whatever interleaves."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from tests.harness.api_client import Api, make_merchant
from tests.harness.audit import audit_wallet
from tests.harness.gateway import Gateway

pytestmark = pytest.mark.emulator

THREADS = 16
CHECKOUTS_PER_THREAD = 4


def shopper(api: Api, thread: int) -> dict[str, str]:
    """Apply to a few checkouts, change some carts, release some; return what each still holds."""
    rng = random.Random(thread)
    holding: dict[str, str] = {}
    for n in range(CHECKOUTS_PER_THREAD):
        checkout_id = f"chk_{thread}_{n}"
        for _ in range(rng.choice([1, 2])):  # sometimes the cart changes: the hold is replaced
            price = f"{rng.randint(5, 40)}.00"
            body = {
                "checkout_id": checkout_id,
                "customer_id": "hot",
                "cart": {"currency": "USD", "items": [{"id": "x", "quantity": 1, "unit_price": price}]},
            }
            response = api.post("/v1/checkout/apply", body, key=None)
            while response.status == 503:
                response = api.post("/v1/checkout/apply", body, key=None)
            assert response.status == 200, response.body
            holding[checkout_id] = response.json()["applied"]["amount"]
        if rng.random() < 0.3:
            released = api.write("DELETE", f"/v1/checkout/{checkout_id}", None, key=None)
            while released.status == 503:
                released = api.write("DELETE", f"/v1/checkout/{checkout_id}", None, key=None)
            if holding[checkout_id] != "0.00":
                assert released.status == 200, released.body
            holding.pop(checkout_id)
    return holding


def test_concurrent_checkouts_never_hold_more_than_the_balance(emulator: str) -> None:
    # Given 100.00 of credit
    api = Api(Gateway(), make_merchant("busy").api_key)
    api.issue("hot", "100.00")

    # When 16 threads apply, re-apply and release checkouts concurrently
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda t: shopper(api, t), range(THREADS)))

    # Then what the open checkouts were told they hold is exactly what the wallet holds
    wallet = api.wallet("hot").json()
    held = Decimal(wallet["held"]["amount"])
    told = sum((Decimal(amount) for result in results for amount in result.values()), Decimal(0))
    assert held == told
    assert held <= Decimal("100.00")
    assert Decimal(wallet["available"]["amount"]) == Decimal("100.00") - held
    audit = audit_wallet("busy", "hot", "USD")
    audit.assert_consistent()
    assert audit.held == int(held * 100)


def test_the_same_apply_sent_at_once_after_its_hold_lapsed_holds_once(
    emulator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    # Given a 30-minute hold of 30.00 of 100.00, lapsed (the expiry job has not run yet)
    api = Api(Gateway(), make_merchant("lapsed").api_key)
    assert api.put("/v1/settings", {"hold_ttl_minutes": 30}).status == 200
    api.issue("hot", "100.00")
    body = {
        "checkout_id": "chk_lapsed",
        "customer_id": "hot",
        "cart": {"currency": "USD", "items": [{"id": "x", "quantity": 1, "unit_price": "30.00"}]},
    }
    first = api.post("/v1/checkout/apply", body, key=None).json()
    real_time, real_ns = time.time, time.time_ns
    monkeypatch.setattr(time, "time", lambda: real_time() + 31 * 60)
    monkeypatch.setattr(time, "time_ns", lambda: real_ns() + 31 * 60 * 10**9)

    # When the checkout system sends the same apply from 16 threads at once
    def send(_: int) -> dict[str, object]:
        response = api.post("/v1/checkout/apply", body, key=None)
        while response.status == 503:
            response = api.post("/v1/checkout/apply", body, key=None)
        assert response.status == 200, response.body
        answer: dict[str, object] = response.json()
        return answer

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(send, range(THREADS)))

    # Then one new hold: all are told the same new quote, and the wallet holds 30.00 once
    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["hold"] != first["hold"]
    wallet = api.wallet("hot").json()
    assert (wallet["held"]["amount"], wallet["available"]["amount"]) == ("30.00", "70.00")
    audit = audit_wallet("lapsed", "hot", "USD")
    audit.assert_consistent()
    assert audit.held == 3000
