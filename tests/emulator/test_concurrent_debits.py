"""Concurrent checkouts on one wallet, through real HTTP to the emulator and the template's routes."""

from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.harness.api_client import Api, make_merchant
from tests.harness.audit import audit_wallet
from tests.harness.gateway import Gateway

pytestmark = pytest.mark.emulator

THREADS = 16


def spend_until_refused(api: Api, customer: str) -> Counter[int]:
    """Debit 7.00 again and again until the wallet says no; retry a 503 with the same key."""
    outcomes: Counter[int] = Counter()
    while True:
        key = str(uuid.uuid4())
        response = api.debit(customer, "7.00", key=key)
        while response.status == 503:  # wallet busy: the client retries the same request
            response = api.debit(customer, "7.00", key=key)
        if response.status == 201:  # every answer belongs to its own request
            assert response.json()["transaction"]["idempotency_key"] == key
        outcomes[response.status] += 1
        status = response.status
        if status == 409:
            return outcomes


def run_hot_wallet(balance: str) -> tuple[Counter[int], Api]:
    merchant = make_merchant("hot")
    api = Api(Gateway(), merchant.api_key)
    assert api.issue("cus_hot", balance).status == 201
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda _: spend_until_refused(api, "cus_hot"), range(THREADS)))
    return sum(results, Counter()), api


def test_sixteen_threads_never_overspend_one_wallet(emulator: str) -> None:
    # Given a wallet of 1,000.00, when 16 threads each debit 7.00 until refused
    outcomes, api = run_hot_wallet("1000.00")

    # Then exactly floor(1000 / 7) = 142 debits succeeded and 6.00 is left
    assert set(outcomes) == {201, 409}
    assert outcomes[201] == 142
    assert api.wallet("cus_hot").json()["available"]["amount"] == "6.00"
    audit = audit_wallet("hot", "cus_hot", "USD")
    audit.assert_consistent()
    assert audit.entries == 143


def test_moto_behind_the_request_lock_is_atomic_too(locked_moto: str) -> None:
    # moto's own threaded server over-debits under this load; behind the lock it must not.
    # (A smaller wallet than above: moto copies the whole table on every transaction.)
    outcomes, api = run_hot_wallet("100.00")
    assert outcomes[201] == 14
    assert api.wallet("cus_hot").json()["available"]["amount"] == "2.00"
    audit_wallet("hot", "cus_hot", "USD").assert_consistent()


def test_concurrent_replays_of_one_key_apply_once(emulator: str) -> None:
    merchant = make_merchant("replay")
    api = Api(Gateway(), merchant.api_key)
    api.issue("cus_1", "100.00")

    def send(_: int) -> tuple[int, str]:
        response = api.debit("cus_1", "30.00", key="same-key")
        while response.status == 503:
            response = api.debit("cus_1", "30.00", key="same-key")
        return response.status, response.json()["transaction"]["id"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(8)))

    assert {status for status, _ in answers} == {201}
    assert len({entry_id for _, entry_id in answers}) == 1
    assert api.wallet("cus_1").json()["available"]["amount"] == "70.00"
    assert audit_wallet("replay", "cus_1", "USD").entries == 2
