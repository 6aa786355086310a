"""Renewal plans and the renewal job: once per period in the merchant's timezone."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.harness import template
from tests.harness.api_client import Api, Merchant
from tests.harness.audit import audit_wallet
from tests.harness.gateway import invoke


def run_renewal(at: datetime) -> dict[str, Any]:
    event = json.loads((template.ROOT / "events" / "schedule_renewal.json").read_text())
    event["time"] = at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
    return invoke(template.function_dir("RenewalFunction"), event)


def first_of_next_month(tz: str, months: int = 1) -> datetime:
    now = datetime.now(ZoneInfo(tz))
    year, month = now.year + (now.month - 1 + months) // 12, (now.month - 1 + months) % 12 + 1
    return datetime(year, month, 1, tzinfo=ZoneInfo(tz))


def plan(api: Api, amount: str, mode: str, period: str = "monthly", **extra: Any) -> Any:
    body = {"amount": {"amount": amount, "currency": "USD"}, "mode": mode, "period": period, **extra}
    return api.put("/v1/customers/ann/renewal", body)


def balance(api: Api) -> str:
    response = api.wallet("ann")
    return response.json()["balance"]["amount"] if response.status == 200 else "none"


def test_grant_adds_the_amount_once_per_month(api: Api, merchant: Merchant) -> None:
    # Given a monthly plan granting 10.00
    response = plan(api, "10.00", "grant")
    assert response.status == 200
    start = first_of_next_month("UTC")
    assert response.json()["next_renewal_at"] == start.isoformat()

    # Before the 1st nothing happens; on the 1st it renews once, however often the job runs
    assert run_renewal(start - timedelta(minutes=5))["renewed"] == 0
    assert run_renewal(start + timedelta(minutes=5))["renewed"] == 1
    assert run_renewal(start + timedelta(hours=1))["renewed"] == 0
    assert balance(api) == "10.00"
    newest = api.get("/v1/customers/ann/transactions?limit=1").json()["items"][0]
    assert (newest["type"], newest["source"], newest["amount"]["amount"]) == ("renewal", "renewal", "10.00")

    # And again next month
    assert run_renewal(first_of_next_month("UTC", 2) + timedelta(minutes=5))["renewed"] == 1
    assert balance(api) == "20.00"
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()


def test_top_up_brings_usable_credit_up_and_never_down(api: Api) -> None:
    api.issue("ann", "3.00")
    plan(api, "10.00", "top_up")
    start = first_of_next_month("UTC")
    assert run_renewal(start + timedelta(minutes=5))["granted"] == {"USD": "7.00"}
    assert balance(api) == "10.00"
    api.issue("ann", "5.00")
    assert run_renewal(first_of_next_month("UTC", 2) + timedelta(minutes=5))["granted"] == {}
    assert balance(api) == "15.00"


def test_the_first_of_the_month_is_the_merchants(api: Api) -> None:
    api.put("/v1/settings", {"timezone": "Asia/Taipei"})
    plan(api, "10.00", "grant")
    start = first_of_next_month("Asia/Taipei")
    # 23:59 on the last day in Taipei is already the 1st in UTC+14 but not in Taipei
    assert run_renewal(start - timedelta(minutes=1))["renewed"] == 0
    assert run_renewal(start + timedelta(minutes=1))["renewed"] == 1


def test_a_month_without_any_run_grants_once_not_twice(api: Api) -> None:
    plan(api, "10.00", "grant")
    # No run during the first month; the job comes back on the 5th of the month after
    late = first_of_next_month("UTC", 2) + timedelta(days=4)
    summary = run_renewal(late)
    assert (summary["renewed"], summary["granted"]) == (1, {"USD": "10.00"})
    assert run_renewal(late + timedelta(hours=1))["renewed"] == 0
    assert balance(api) == "10.00"


def test_annual_plans_renew_on_the_first_of_january(api: Api) -> None:
    response = plan(api, "100.00", "grant", period="annually")
    january = datetime(datetime.now(ZoneInfo("UTC")).year + 1, 1, 1, tzinfo=ZoneInfo("UTC"))
    assert response.json()["next_renewal_at"] == january.isoformat()
    assert run_renewal(january + timedelta(minutes=1))["renewed"] == 1


def test_renewed_credit_follows_the_plans_expiry(api: Api) -> None:
    plan(api, "10.00", "grant", expires={"days": 30})
    run_renewal(first_of_next_month("UTC") + timedelta(minutes=5))
    lot = api.wallet("ann").json()["lots"][0]
    assert lot["source"] == "renewal"
    assert lot["expires_at"].endswith("T23:59:59+00:00")


def test_deleting_a_plan_stops_it(api: Api) -> None:
    plan(api, "10.00", "grant")
    deleted = api.write("DELETE", "/v1/customers/ann/renewal", None, key=None)
    assert deleted.status == 200 and deleted.json()["deleted"] == ["USD"]
    assert run_renewal(first_of_next_month("UTC") + timedelta(minutes=5))["index_items_read"] == 0
    assert api.write("DELETE", "/v1/customers/ann/renewal", None, key=None).status == 404


def test_changing_a_plan_does_not_renew_twice_in_a_period(api: Api) -> None:
    plan(api, "10.00", "grant")
    run_renewal(first_of_next_month("UTC") + timedelta(minutes=5))
    changed = plan(api, "20.00", "grant")
    assert changed.json()["last_period"] is not None
    assert balance(api) == "10.00"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": {"amount": "10.00", "currency": "USD"}, "mode": "grant", "period": "weekly"}, "period"),
        ({"amount": {"amount": "10.00", "currency": "USD"}, "mode": "double", "period": "monthly"}, "mode"),
        ({"amount": {"amount": "0", "currency": "USD"}, "mode": "grant", "period": "monthly"}, "amount"),
        ({"amount": {"amount": 10, "currency": "USD"}, "mode": "grant", "period": "monthly"}, "amount.amount"),
    ],
)
def test_bad_plans_are_422(api: Api, body: dict[str, Any], field: str) -> None:
    response = api.put("/v1/customers/ann/renewal", body)
    assert response.status == 422, response.body
    assert any(e["field"].startswith(field) for e in response.json()["errors"])


def test_a_plan_whose_fixed_expiry_date_is_over_is_refused(api: Api) -> None:
    # Given a plan whose renewed credit would expire on a day already over
    response = plan(api, "10.00", "grant", expires={"on": "2020-01-01"})

    # Then it is refused like any expiry date in the past, and nothing is stored
    assert response.status == 422, response.body
    assert [e["field"] for e in response.json()["errors"]] == ["expires.on"]
    assert run_renewal(first_of_next_month("UTC") + timedelta(minutes=5))["index_items_read"] == 0


def test_a_plan_whose_fixed_expiry_date_has_passed_does_not_stop_the_job(api: Api) -> None:
    # Given a plan whose renewed credit expires on the 3rd of next month, and another customer's plan
    start = first_of_next_month("UTC")
    assert plan(api, "10.00", "grant", expires={"on": (start + timedelta(days=2)).date().isoformat()}).status == 200
    bob = {"amount": {"amount": "4.00", "currency": "USD"}, "mode": "grant", "period": "monthly"}
    assert api.put("/v1/customers/bob/renewal", bob).status == 200
    assert run_renewal(start + timedelta(minutes=5))["granted"] == {"USD": "14.00"}

    # When the month after comes, ann's plan would grant credit already expired
    summary = run_renewal(first_of_next_month("UTC", 2) + timedelta(minutes=5))

    # Then the job still renews bob, grants ann nothing born expired, and stays done for the period
    assert summary["granted"] == {"USD": "4.00"}
    assert api.wallet("bob").json()["balance"]["amount"] == "8.00"
    assert balance(api) == "10.00"
    assert run_renewal(first_of_next_month("UTC", 2) + timedelta(hours=1))["plans_read"] == 0


def test_changing_a_plan_that_is_due_keeps_the_renewal_the_period_owes(
    api: Api, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    # Given a monthly plan, due at midnight on the 1st
    plan(api, "10.00", "grant")
    start = first_of_next_month("UTC")

    # When the merchant raises it at 00:10, before the hourly job has come round
    with monkeypatch.context() as patch:
        patch.setattr(time, "time", lambda: start.timestamp() + 600)
        changed = plan(api, "20.00", "grant")
    assert changed.status == 200
    assert changed.json()["next_renewal_at"] == start.isoformat()

    # Then the job renews this month once, at the new amount
    assert run_renewal(start + timedelta(minutes=30))["granted"] == {"USD": "20.00"}
    assert run_renewal(start + timedelta(hours=1))["renewed"] == 0
    assert balance(api) == "20.00"
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()


def test_renewed_credit_without_its_own_expiry_takes_the_merchants_default(api: Api) -> None:
    # Given a merchant whose credit expires after 30 days unless told otherwise
    api.put("/v1/settings", {"default_expiry": {"days": 30}})
    plan(api, "10.00", "grant")

    # When the plan renews
    start = first_of_next_month("UTC")
    run_renewal(start + timedelta(minutes=5))

    # Then the renewed lot expires 30 days on, like any credit issued without an expiry
    lot = api.wallet("ann").json()["lots"][0]
    assert lot["expires_at"] == (start + timedelta(days=30)).replace(hour=23, minute=59, second=59).isoformat()


def test_the_job_checks_its_time_between_plans_not_only_between_pages(
    api: Api, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from store_credit import wallet_store
    from store_credit.renewal_service import run_renewal as run_directly

    # Given five plans due on one page (one shard of the index), and a run with 19 s left where
    # each plan takes 2 s
    customers = one_shard(merchant.merchant_id, "RENEW")
    for customer in customers:
        body = {"amount": {"amount": "5.00", "currency": "USD"}, "period": "monthly", "mode": "grant"}
        response = api.put(f"/v1/customers/{customer}/renewal", body)
        assert response.status == 200, response.json()
    clock = {"left": 19_000}
    load = wallet_store.load_renewal_state

    def slow_load(*args: Any, **kwargs: Any) -> Any:
        clock["left"] -= 2_000
        return load(*args, **kwargs)

    monkeypatch.setattr(wallet_store, "load_renewal_state", slow_load)
    at = int(first_of_next_month("UTC").timestamp()) + 60

    # When the job runs
    first = run_directly(at, lambda: clock["left"])

    # Then it stops with 15 s left, and the next run renews the rest, each plan once
    assert first["complete"] is False
    assert clock["left"] >= 13_000
    clock["left"] = 900_000
    second = run_directly(at, lambda: clock["left"])
    assert first["renewed"] + second["renewed"] == 5
    for customer in customers:
        assert api.wallet(customer).json()["balance"]["amount"] == "5.00"


def one_shard(merchant_id: str, kind: str) -> list[str]:
    """Five customers whose items share one shard of the due index (so one page of the job)."""
    from store_credit.wallet_store import customer_pk, due_shard

    names = (f"c{i}" for i in range(1_000))
    shard = due_shard(customer_pk(merchant_id, "c0"), kind)
    return [name for name in names if due_shard(customer_pk(merchant_id, name), kind) == shard][:5]


def test_a_merchant_moving_west_gets_the_renewal_on_its_new_first_of_the_month_once(api: Api) -> None:
    # Given a monthly plan timed while the merchant was on UTC (due at 00:00 UTC on the 1st)
    assert plan(api, "5.00", "grant").status == 200
    # And the merchant then moves to Los Angeles, where the 1st begins 8 hours later
    assert api.put("/v1/settings", {"timezone": "America/Los_Angeles"}).status == 200
    first = first_of_next_month("UTC")

    # When the job runs at 00:30 UTC on the 1st (still the last day of the month in Los Angeles)
    run_renewal(first + timedelta(minutes=30))
    # Then nothing is renewed yet: the month it would renew is the one the plan began in
    assert balance(api) in ("none", "0.00")

    # And when it runs after midnight in Los Angeles, and again later, the month renews once
    run_renewal(first_of_next_month("America/Los_Angeles") + timedelta(minutes=30))
    run_renewal(first_of_next_month("America/Los_Angeles") + timedelta(days=1))
    assert balance(api) == "5.00"


def test_a_plan_whose_wallet_has_no_room_does_not_stop_the_job(api: Api, merchant: Merchant) -> None:
    # Given ann's wallet with no room for another lot, a plan granting her credit, and bob's plan
    api.fill_wallet("ann")
    full = balance(api)
    assert plan(api, "10.00", "grant").status == 200
    bob = {"amount": {"amount": "4.00", "currency": "USD"}, "mode": "grant", "period": "monthly"}
    assert api.put("/v1/customers/bob/renewal", bob).status == 200

    # When the month comes
    start = first_of_next_month("UTC")
    summary = run_renewal(start + timedelta(minutes=5))

    # Then the job still renews bob; ann's renewal waits (still due) until her wallet has room
    assert summary["granted"] == {"USD": "4.00"}
    assert api.wallet("bob").json()["balance"]["amount"] == "4.00"
    assert balance(api) == full
    assert api.debit("ann", full).status == 201
    assert run_renewal(start + timedelta(hours=1))["granted"] == {"USD": "10.00"}
    assert balance(api) == "10.00"
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()


def test_top_up_does_not_count_held_credit_that_an_order_is_owed(api: Api, gateway: Any, merchant: Merchant) -> None:
    from tests.harness.api_client import OrderWebhook

    hook = OrderWebhook(gateway, merchant)
    # Given ann bought 10.00 of store credit, held it at a checkout, and the purchase was then
    # cancelled while the checkout held it (the 10.00 is owed back to that order)
    units = [{"id": "gc", "quantity": 1, "unit_price": "10.00", "store_credit_product": True}]
    bought = {"id": "ord_gc", "customer_id": "ann", "currency": "USD", "total": "10.00", "items": units}
    assert hook.send("order.paid", bought).status == 200
    cart = {"currency": "USD", "items": [{"id": "a", "quantity": 1, "unit_price": "50.00"}]}
    held = api.post("/v1/checkout/apply", {"checkout_id": "chk_h", "customer_id": "ann", "cart": cart}, key=None)
    assert held.json()["applied"]["amount"] == "10.00"
    assert hook.send("order.cancelled", bought).status == 200
    # And a plan topping her up to 10.00
    assert plan(api, "10.00", "top_up").status == 200

    # When the month comes, and then the checkout lets go of its hold
    summary = run_renewal(first_of_next_month("UTC") + timedelta(minutes=5))
    assert api.write("DELETE", "/v1/checkout/chk_h", None, key=None).status == 200

    # Then the held 10.00 was never hers to keep: the top-up granted it, and she has 10.00
    assert summary["granted"] == {"USD": "10.00"}
    assert balance(api) == "10.00"
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()


def test_a_plan_deleted_and_made_again_while_the_job_renews_is_not_overwritten_by_the_old_one(
    api: Api, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from store_credit import wallet_store
    from store_credit.renewal_service import run_renewal as run_directly

    # Given a plan granting 10.00 a month
    assert plan(api, "10.00", "grant").status == 200
    load = wallet_store.load_renewal_state
    swapped = {"done": False}

    def load_then_replace(*args: Any, **kwargs: Any) -> Any:
        state = load(*args, **kwargs)
        if not swapped["done"]:
            # When, just after the job read it, the merchant deletes it and makes a new one of 50.00
            swapped["done"] = True
            assert api.write("DELETE", "/v1/customers/ann/renewal", None, key=None).status == 200
            assert plan(api, "50.00", "grant").status == 200
        return state

    monkeypatch.setattr(wallet_store, "load_renewal_state", load_then_replace)
    start = int(first_of_next_month("UTC").timestamp())
    run_directly(start + 300)

    # Then the job renewed the plan the merchant has now, and the new plan is still the one stored
    assert [(p.amount, p.mode) for p in wallet_store.load_plans(merchant.merchant_id, "ann")] == [(5000, "grant")]
    assert balance(api) == "50.00"
    run_directly(int(first_of_next_month("UTC", 2).timestamp()) + 300)
    assert balance(api) == "100.00"


def test_a_grant_the_wallet_cannot_hold_does_not_stop_the_job(api: Api, gateway: Any, merchant: Merchant) -> None:
    from store_credit.renewal_service import run_renewal as run_directly
    from tests.harness.api_client import make_merchant

    # Given ann holding 1.00 and a plan granting her the largest amount the service holds
    api.issue("ann", "1.00")
    assert plan(api, "9999999999999.99", "grant").status == 200
    # And another merchant's customer with a plan of 4.00
    rival = Api(gateway, make_merchant("rival").api_key)
    bob = {"amount": {"amount": "4.00", "currency": "USD"}, "mode": "grant", "period": "monthly"}
    assert rival.put("/v1/customers/bob/renewal", bob).status == 200

    # When the month comes
    start = int(first_of_next_month("UTC").timestamp())
    summary = run_directly(start + 300)

    # Then the job goes on past ann's plan (which waits: it would take her wallet past the
    # largest amount) and renews bob
    assert rival.wallet("bob").json()["balance"]["amount"] == "4.00"
    assert summary["complete"] is False
    assert balance(api) == "1.00"
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()


# A plan's period changed: each cadence renews on its own 1st (1 January for annual plans),
# once per period; a plan due but not yet renewed when it changes renews at once only if its
# due start is also a start of the new cadence.
NEXT_YEAR = datetime.now(ZoneInfo("UTC")).year + 1


def at(month: int, day: int = 1, minutes: int = 0, year: int = NEXT_YEAR) -> datetime:
    return datetime(year, month, day, tzinfo=ZoneInfo("UTC")) + timedelta(minutes=minutes)


def run(when: datetime) -> tuple[str, datetime]:
    return ("run", when)


def put(when: datetime, period: str, amount: str) -> tuple[str, datetime, str, str]:
    return ("plan", when, period, amount)


@pytest.mark.parametrize(
    ("steps", "granted"),
    [
        # due on 1 March, made annual at 00:10 before the job came round: nothing in March (an
        # annual plan renews on 1 January), the annual amount once, on 1 January
        (
            [
                put(at(2, day=20), "monthly", "10.00"),
                put(at(3, minutes=10), "annually", "120.00"),
                run(at(3, minutes=30)),
                run(at(3, minutes=90)),
                run(at(1, minutes=5, year=NEXT_YEAR + 1)),
            ],
            ["120.00"],
        ),
        # renewed for the year, made monthly (renewed in April), made annual again on 1 May
        # before the job came round: the year is not renewed a second time
        (
            [
                put(at(12, day=20, year=NEXT_YEAR - 1), "annually", "120.00"),
                run(at(1, minutes=5)),
                put(at(3, day=15), "monthly", "10.00"),
                run(at(4, minutes=5)),
                put(at(5, minutes=10), "annually", "120.00"),
                run(at(5, minutes=30)),
                run(at(1, minutes=5, year=NEXT_YEAR + 1)),
            ],
            ["120.00", "10.00", "120.00"],
        ),
        # due on 1 January, made annual at 00:10: 1 January starts the year too, so it renews now
        (
            [
                put(at(12, day=20, year=NEXT_YEAR - 1), "monthly", "10.00"),
                put(at(1, minutes=10), "annually", "120.00"),
                run(at(1, minutes=30)),
                run(at(2, minutes=5)),
                run(at(1, minutes=5, year=NEXT_YEAR + 1)),
            ],
            ["120.00", "120.00"],
        ),
        # renewed on 1 March, made annual that afternoon: the annual amount from 1 January
        (
            [
                put(at(2, day=20), "monthly", "10.00"),
                run(at(3, minutes=5)),
                put(at(3, minutes=14 * 60), "annually", "120.00"),
                run(at(4, minutes=5)),
                run(at(1, minutes=5, year=NEXT_YEAR + 1)),
            ],
            ["10.00", "120.00"],
        ),
        # an annual plan due on 1 January, made monthly at 00:10: January renews monthly
        (
            [
                put(at(12, day=20, year=NEXT_YEAR - 1), "annually", "120.00"),
                put(at(1, minutes=10), "monthly", "10.00"),
                run(at(1, minutes=30)),
                run(at(1, minutes=90)),
                run(at(2, minutes=5)),
            ],
            ["10.00", "10.00"],
        ),
        # an annual plan renewed on 1 January, made monthly in March: monthly from April
        (
            [
                put(at(12, day=20, year=NEXT_YEAR - 1), "annually", "120.00"),
                run(at(1, minutes=5)),
                put(at(3, day=15), "monthly", "10.00"),
                run(at(3, day=20)),
                run(at(4, minutes=5)),
            ],
            ["120.00", "10.00"],
        ),
    ],
    ids=[
        "monthly-to-annual-while-due",
        "annual-to-monthly-and-back-while-due",
        "monthly-to-annual-due-on-1-january",
        "monthly-to-annual-after-it-ran",
        "annual-to-monthly-while-due",
        "annual-to-monthly-mid-year",
    ],
)
def test_changing_a_plans_period_renews_each_period_once_on_its_own_first(
    api: Api, merchant: Merchant, monkeypatch: pytest.MonkeyPatch, steps: list[tuple[Any, ...]], granted: list[str]
) -> None:
    import time

    # Given a plan, when the merchant changes its period and the job runs, at these times
    for step in steps:
        if step[0] == "run":
            run_renewal(step[1])
            continue
        _, when, period, amount = step
        with monkeypatch.context() as patch:
            patch.setattr(time, "time", when.timestamp)
            assert plan(api, amount, "grant", period=period).status == 200

    # Then each period renewed once, on its own first, at the plan's amount then
    renewals = [e for e in api.get("/v1/customers/ann/transactions?limit=50").json()["items"] if e["type"] == "renewal"]
    assert [e["amount"]["amount"] for e in reversed(renewals)] == granted
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()


def test_top_up_counts_credit_from_the_day_it_becomes_valid(api: Api, merchant: Merchant) -> None:
    # Given a plan topping ann up to 50.00 a month, and 20.00 of credit that becomes valid on the
    # 5th of next month (a scheduled lot, as a code's credit can be)
    start = first_of_next_month("UTC")
    assert api.issue("ann", "20.00", valid_from=(start + timedelta(days=4)).isoformat()).status == 201
    assert plan(api, "50.00", "top_up").status == 200

    # When the month comes
    first = run_renewal(start + timedelta(minutes=5))

    # Then she can spend 50.00 from the 1st: the 20.00 she cannot spend yet does not count
    assert first["granted"] == {"USD": "50.00"}
    assert balance(api) == "70.00"

    # And the month after, when it is hers to spend, it does: she has 70.00, above the plan
    assert run_renewal(first_of_next_month("UTC", 2) + timedelta(minutes=5))["granted"] == {}
    assert balance(api) == "70.00"
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()
