"""The scheduled jobs under the same faults: a failed run is retried by the scheduler (or the
next run comes), and the wallets end exactly where one clean run leaves them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.api.test_fault_matrix import fault_at
from tests.harness.api_client import Api
from tests.harness.faults import count_calls

DAY = 86_400


def seed_expiry(api: Api, prefix: str) -> None:
    api.issue(f"{prefix}a", "10.00", expires={"days": 1})
    api.issue(f"{prefix}a", "5.00")
    api.issue(f"{prefix}b", "7.00", expires={"days": 1})


def seed_renewal(api: Api, prefix: str) -> None:
    for who in ("a", "b"):
        body = {"amount": {"amount": "10.00", "currency": "USD"}, "mode": "grant", "period": "monthly"}
        assert api.put(f"/v1/customers/{prefix}{who}/renewal", body).status == 200


def run_expiry_later() -> dict[str, Any]:
    from store_credit.expiry_service import run_expiry

    return run_expiry(int(time.time()) + 3 * DAY)


def run_renewal_later() -> dict[str, Any]:
    from store_credit.renewal import next_period_start
    from store_credit.renewal_service import run_renewal

    return run_renewal(next_period_start(int(time.time()), "UTC", "monthly") + 60)


def wallets(api: Api, prefix: str) -> list[Any]:
    found = []
    for who in ("a", "b"):
        wallet = api.wallet(f"{prefix}{who}")
        history = api.get(f"/v1/customers/{prefix}{who}/transactions").json() if wallet.status == 200 else {}
        found.append(
            (
                wallet.json()["balance"]["amount"] if wallet.status == 200 else None,
                sorted((e["type"], e["amount"]["amount"]) for e in history.get("items", [])),
            )
        )
    return found


@pytest.mark.parametrize(
    ("seed", "job"), [(seed_expiry, run_expiry_later), (seed_renewal, run_renewal_later)], ids=["expiry", "renewal"]
)
def test_a_fault_at_any_call_of_a_job_then_a_rerun_settles_once(
    api: Api, seed: Callable[[Api, str], None], job: Callable[[], dict[str, Any]]
) -> None:
    seed(api, "ref")
    with count_calls() as calls:
        job()
    expected = wallets(api, "ref")
    # Every call that reads or writes a wallet or plan, and the first index query (the other
    # fifteen shard queries fail the same way).
    numbers = [n for n, name in enumerate(calls, 1) if name != "Query"] + [calls.index("Query") + 1]

    for number in numbers:
        for when in ("before", "after"):
            prefix = f"f{number}{when[0]}"
            seed(api, prefix)
            with fault_at(number, when):
                # The run dies, or (the expiry job, at a wallet) goes on with the next wallets
                # and says it is not done: either way, what the fault interrupted stays due.
                try:
                    summary = job()
                except Exception:  # the run dies
                    pass
                else:
                    assert summary["complete"] is False, (number, when)
            job()  # the scheduler's retry, or the next run
            assert wallets(api, prefix) == expected, (number, when)
            assert job()["complete"] is True
