"""Two expiry runs at once (a retry overlapping a slow run) expire each lot exactly once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.harness.api_client import Api, make_merchant
from tests.harness.audit import audit_wallet
from tests.harness.gateway import Gateway

pytestmark = pytest.mark.emulator

WALLETS = 40


def test_concurrent_runs_expire_each_lot_once(emulator: str) -> None:
    from store_credit.expiry_service import run_expiry

    api = Api(Gateway(), make_merchant("jobs").api_key)
    for n in range(WALLETS):
        api.issue(f"c{n}", "3.00", expires={"days": 1})
        api.issue(f"c{n}", "2.00")
    later = int(time.time()) + 3 * 86_400

    with ThreadPoolExecutor(2) as pool:
        summaries = list(pool.map(lambda _: run_expiry(later), range(2)))

    assert sum(s["lots_expired"] for s in summaries) == WALLETS
    for n in range(WALLETS):
        audit = audit_wallet("jobs", f"c{n}", "USD")
        audit.assert_consistent()
        assert (audit.balance, audit.entries) == (200, 3)
    assert run_expiry(later)["lots_expired"] == 0


def test_concurrent_renewal_runs_renew_each_plan_once(emulator: str) -> None:
    from store_credit.renewal import next_period_start
    from store_credit.renewal_service import run_renewal

    api = Api(Gateway(), make_merchant("plans").api_key)
    for n in range(WALLETS):
        body = {"amount": {"amount": "10.00", "currency": "USD"}, "mode": "grant", "period": "monthly"}
        assert api.put(f"/v1/customers/p{n}/renewal", body).status == 200
    first_of_month = next_period_start(int(time.time()), "UTC", "monthly") + 60

    with ThreadPoolExecutor(2) as pool:
        summaries = list(pool.map(lambda _: run_renewal(first_of_month), range(2)))

    assert sum(s["renewed"] for s in summaries) == WALLETS
    for n in range(WALLETS):
        audit = audit_wallet("plans", f"p{n}", "USD")
        assert (audit.balance, audit.entries) == (1000, 1)
