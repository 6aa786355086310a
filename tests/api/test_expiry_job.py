"""The scheduled expiry job, invoked as EventBridge Scheduler would, with "now" from the event."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.harness import template
from tests.harness.api_client import Api, Merchant
from tests.harness.audit import audit_wallet
from tests.harness.gateway import invoke


def run_expiry(at: datetime) -> dict[str, Any]:
    event = json.loads((template.ROOT / "events" / "schedule_expiry.json").read_text())
    event["time"] = at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
    return invoke(template.function_dir("ExpiryFunction"), event)


def local(day: date, hh: int, mm: int, tz: str) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=ZoneInfo(tz))


@pytest.mark.parametrize(
    ("tz", "day"),
    [
        ("Asia/Taipei", date(2027, 3, 31)),
        ("America/New_York", date(2027, 3, 14)),  # the day clocks spring forward
        ("Europe/London", date(2027, 10, 31)),  # the day clocks fall back
        ("Pacific/Kiritimati", date(2027, 1, 1)),  # UTC+14: its midnight is the day before in UTC
    ],
)
def test_a_lot_due_at_local_midnight_expires_after_it_and_not_before(
    api: Api, merchant: Merchant, tz: str, day: date
) -> None:
    # Given credit expiring on `day` (23:59:59 merchant time) and credit that never expires
    api.put("/v1/settings", {"timezone": tz})
    api.issue("ann", "10.00", expires={"on": day.isoformat()})
    api.issue("ann", "5.00", expires={"never": True})

    # When the job runs at 23:58 that evening, nothing expires
    before = run_expiry(local(day, 23, 58, tz))
    assert before["lots_expired"] == 0
    assert api.wallet("ann").json()["balance"]["amount"] == "15.00"

    # And when it runs at 00:01 the next day, the lot expires with a ledger entry
    after = run_expiry(local(day + timedelta(days=1), 0, 1, tz))
    assert after["lots_expired"] == 1
    assert after["expired"] == {"USD": "10.00"}
    assert api.wallet("ann").json()["balance"]["amount"] == "5.00"
    newest = api.get("/v1/customers/ann/transactions?limit=1").json()["items"][0]
    assert (newest["type"], newest["amount"]["amount"], newest["balance_after"]["amount"]) == (
        "expiry",
        "-10.00",
        "5.00",
    )
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()


def test_running_twice_changes_nothing_the_second_time(api: Api, merchant: Merchant) -> None:
    api.issue("ann", "10.00", expires={"days": 1})
    later = datetime.now(ZoneInfo("UTC")) + timedelta(days=3)
    first = run_expiry(later)
    second = run_expiry(later)
    assert first["lots_expired"] == 1
    assert second["lots_expired"] == second["wallets_changed"] == 0
    assert audit_wallet(merchant.merchant_id, "ann", "USD").entries == 2


def test_the_job_reads_only_what_is_due(api: Api) -> None:
    for n in range(6):
        api.issue(f"never_{n}", "1.00")  # never expires: not on the index at all
    api.issue("soon", "1.00", expires={"days": 1})
    api.issue("later", "1.00", expires={"days": 400})  # on the index, but not due
    summary = run_expiry(datetime.now(ZoneInfo("UTC")) + timedelta(days=3))
    assert summary["index_items_read"] == 1
    assert summary["wallets_read"] == 1


def test_expiring_credit_is_announced_once(api: Api) -> None:
    api.issue("ann", "10.00", expires={"days": 5})
    now = datetime.now(ZoneInfo("UTC"))
    assert run_expiry(now)["expiring_notices"] == 1
    assert run_expiry(now + timedelta(hours=1))["expiring_notices"] == 0
    lots = api.wallet("ann").json()["lots"]
    assert lots[0]["remaining"]["amount"] == "10.00"


def checkout(api: Api, checkout_id: str, price: str) -> Any:
    body = {
        "checkout_id": checkout_id,
        "customer_id": "ann",
        "cart": {"currency": "USD", "items": [{"id": "x", "quantity": 1, "unit_price": price}]},
    }
    return api.post("/v1/checkout/apply", body, key=None)


def test_holds_past_their_time_are_released(api: Api) -> None:
    api.put("/v1/settings", {"hold_ttl_minutes": 30})
    api.issue("ann", "20.00")
    checkout(api, "chk_1", "15.00")
    now = datetime.now(ZoneInfo("UTC"))
    assert run_expiry(now + timedelta(minutes=10))["holds_released"] == 0
    assert api.wallet("ann").json()["held"]["amount"] == "15.00"
    assert run_expiry(now + timedelta(minutes=31))["holds_released"] == 1
    wallet = api.wallet("ann").json()
    assert (wallet["held"]["amount"], wallet["available"]["amount"]) == ("0.00", "20.00")
    assert api.write("DELETE", "/v1/checkout/chk_1", None, key=None).json()["state"] == "released"


def test_a_lot_that_expires_while_partly_held_keeps_the_held_part_until_the_hold_goes(
    api: Api, merchant: Merchant
) -> None:
    # Given 10.00 expiring tomorrow, 6.00 of it held by a checkout (TTL 3 days)
    api.put("/v1/settings", {"hold_ttl_minutes": 3 * 24 * 60})
    api.issue("ann", "10.00", expires={"days": 1})
    checkout(api, "chk_1", "6.00")
    now = datetime.now(ZoneInfo("UTC"))

    # When the lot's time passes, only the unheld 4.00 expires
    first = run_expiry(now + timedelta(days=2))
    assert first["expired"] == {"USD": "4.00"}
    wallet = api.wallet("ann").json()
    assert (wallet["balance"]["amount"], wallet["held"]["amount"]) == ("6.00", "6.00")

    # And when the hold lapses, the rest expires with it
    second = run_expiry(now + timedelta(days=4))
    assert (second["holds_released"], second["expired"]) == (1, {"USD": "6.00"})
    assert api.wallet("ann").json()["balance"]["amount"] == "0.00"
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()


def test_the_job_stops_in_time_and_leaves_the_rest_due(api: Api) -> None:
    from store_credit.expiry_service import run_expiry as run_directly

    api.issue("ann", "1.00", expires={"days": 1})
    later = int((datetime.now(ZoneInfo("UTC")) + timedelta(days=3)).timestamp())
    assert run_directly(later, lambda: 1_000)["complete"] is False
    assert run_directly(later)["lots_expired"] == 1


def test_the_job_checks_its_time_between_wallets_not_only_between_pages(
    api: Api, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from store_credit import wallet_store
    from store_credit.expiry_service import run_expiry as run_directly

    # Given five wallets due on one page (one shard of the index), and a run with 19 s left
    # where each wallet takes 2 s
    customers = one_shard(merchant.merchant_id, "DUE")
    for customer in customers:
        api.issue(customer, "1.00", expires={"days": 1})
    clock = {"left": 19_000}
    load = wallet_store.load_wallet_by_key

    def slow_load(key: dict[str, Any]) -> Any:
        clock["left"] -= 2_000
        return load(key)

    monkeypatch.setattr(wallet_store, "load_wallet_by_key", slow_load)
    later = int((datetime.now(ZoneInfo("UTC")) + timedelta(days=3)).timestamp())

    # When the job runs
    first = run_directly(later, lambda: clock["left"])

    # Then it stops with 15 s left (not 9 s: Lambda would kill a run that ate its margin) ...
    assert first["complete"] is False
    assert clock["left"] >= 13_000  # at most the wallet in hand after the line is crossed
    # ... and the next run expires what it left, each lot once
    clock["left"] = 900_000
    second = run_directly(later, lambda: clock["left"])
    assert first["lots_expired"] + second["lots_expired"] == 5
    for customer in customers:
        assert api.wallet(customer).json()["balance"]["amount"] == "0.00"
        audit_wallet(merchant.merchant_id, customer, "USD").assert_consistent()


def one_shard(merchant_id: str, kind: str) -> list[str]:
    """Five customers whose items share one shard of the due index (so one page of the job)."""
    from store_credit.wallet_store import customer_pk, due_shard

    names = (f"c{i}" for i in range(1_000))
    shard = due_shard(customer_pk(merchant_id, "c0"), kind)
    return [name for name in names if due_shard(customer_pk(merchant_id, name), kind) == shard][:5]


def test_a_wallet_filled_to_the_brim_still_gets_its_expiring_notices(api: Api, merchant: Merchant) -> None:
    # Given a wallet with no room for another lot, every lot expiring in 30 days
    api.fill_wallet("ann", expires={"days": 30})

    # When the expiry job runs inside the notice window (its marks make the item a little bigger)
    summary = run_expiry(datetime.now(ZoneInfo("UTC")) + timedelta(days=25))

    # Then the wallet is settled, not refused as full run after run (which would also stop the
    # wallets after it on the index), and the money still adds up
    assert summary["expiring_notices"] > 0
    assert run_expiry(datetime.now(ZoneInfo("UTC")) + timedelta(days=25, hours=1))["expiring_notices"] == 0
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()


@pytest.mark.parametrize("days", [14, 3])
def test_a_notice_window_set_by_environment_is_the_one_the_index_follows(
    api: Api, monkeypatch: pytest.MonkeyPatch, days: int
) -> None:
    # Given an announcement window of `days` days (EXPIRING_NOTICE_DAYS) and credit expiring in 30
    monkeypatch.setenv("EXPIRING_NOTICE_DAYS", str(days))
    api.issue("ann", "10.00", expires={"days": 30})
    now = datetime.now(ZoneInfo("UTC"))

    # When the job runs a day before the window opens, the wallet is not even read
    early = run_expiry(now + timedelta(days=30 - days - 1))
    assert (early["wallets_read"], early["expiring_notices"]) == (0, 0)

    # And when it runs a day inside the window, the credit is announced
    inside = run_expiry(now + timedelta(days=30 - days + 1))
    assert inside["expiring_notices"] == 1


def test_a_wallet_with_more_lots_due_than_one_write_takes_is_settled_in_one_run(api: Api, merchant: Merchant) -> None:
    # Given 100 lots expiring at the same second (more than one transaction can expire)
    for _ in range(100):
        assert api.issue("ann", "1.00", expires={"days": 1}).status == 201

    # When the job runs once, after they expire
    summary = run_expiry(datetime.now(ZoneInfo("UTC")) + timedelta(days=3))

    # Then all of them expire in that run, a write at a time (not one write every 5 minutes,
    # which would expire a wallet of 1,000 such lots over two hours, past the day they expired)
    assert (summary["lots_expired"], summary["expired"]) == (100, {"USD": "100.00"})
    assert api.wallet("ann").json()["balance"]["amount"] == "0.00"
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()


def test_a_wallet_the_job_cannot_write_does_not_stop_it_for_the_wallets_after_it(
    api: Api, merchant: Merchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from store_credit import wallet_store
    from store_credit.wallet_store import customer_pk, due_shard

    # Given two wallets with credit expiring, the first on the index one whose write fails
    def shard(name: str) -> int:
        return int(due_shard(customer_pk(merchant.merchant_id, name)).split("#")[1])

    names = [f"c{i}" for i in range(200)]
    bad = min(names, key=shard)
    good = next(name for name in names if shard(name) > shard(bad))
    for customer in (bad, good):
        api.issue(customer, "1.00", expires={"days": 1})
    commit = wallet_store.commit_due

    def failing(work: Any, now_ms: int) -> None:
        if work.before.customer_id == bad:
            raise RuntimeError("a write DynamoDB refuses")
        commit(work, now_ms)

    monkeypatch.setattr(wallet_store, "commit_due", failing)

    # When the job runs after they expire
    summary = run_expiry(datetime.now(ZoneInfo("UTC")) + timedelta(days=3))

    # Then the other wallet is settled, the failing one stays due, and the run says it is not done
    assert api.wallet(good).json()["balance"]["amount"] == "0.00"
    assert api.wallet(bad).json()["balance"]["amount"] == "1.00"
    assert (summary["lots_expired"], summary["complete"]) == (1, False)


@pytest.mark.parametrize("spent_left", [("10.00", "0.00"), ("6.00", "4.00")], ids=["all", "part"])
def test_credit_that_comes_back_into_a_lot_announced_and_spent_is_announced_again(
    api: Api, gateway: Any, merchant: Merchant, monkeypatch: pytest.MonkeyPatch, spent_left: tuple[str, str]
) -> None:
    spent, left = spent_left
    from moto.ses.models import ses_backends

    from store_credit import event_bus
    from tests.harness.api_client import OrderWebhook

    published: list[dict[str, Any]] = []
    real_publish = event_bus.publish
    monkeypatch.setattr(event_bus, "publish", lambda event: (published.append(event), real_publish(event))[1])

    def notify(notice: dict[str, Any]) -> Any:
        event = {"detail-type": notice["DetailType"], "source": notice["Source"], "detail": notice["Detail"]}
        return invoke(template.function_dir("NotifierFunction"), event)

    # Given emails on, and ann's 10.00 expiring in 5 days, announced by the job and emailed
    import boto3

    boto3.client("sesv2", region_name="us-east-1").create_email_identity(EmailIdentity="credit@shop.example")
    api.put("/v1/settings", {"notifications": {"email": True}})
    api.issue("ann", "10.00", email="ann@example.com", expires={"days": 5})
    now = datetime.now(ZoneInfo("UTC"))
    assert run_expiry(now)["expiring_notices"] == 1
    first = published[-1]
    assert notify(first) == {"sent": True}

    # And then she spends all of it, or part of it, on an order
    cart = {"currency": "USD", "items": [{"id": "x", "quantity": 1, "unit_price": "50.00"}]}
    apply = {"checkout_id": "chk_1", "customer_id": "ann", "cart": cart, "requested_amount": spent}
    assert api.post("/v1/checkout/apply", apply).status == 200
    hook = OrderWebhook(gateway, merchant)
    order = {"id": "ord_1", "checkout_id": "chk_1", "customer_id": "ann", "currency": "USD", "total": "40.00"}
    assert hook.send("order.paid", order).status == 200
    assert api.wallet("ann").json()["available"]["amount"] == left

    # When the order is cancelled, so what she spent comes back into its lot, still expiring in 5 days
    assert hook.send("order.cancelled", order).status == 200
    lots = api.wallet("ann").json()["lots"]
    assert [(lot["lot_id"], lot["remaining"]["amount"]) for lot in lots] == [(first["Detail"]["lot_id"], "10.00")]

    # Then the job announces the credit she has again, under a notice id of its own, and she is told
    assert run_expiry(now + timedelta(hours=1))["expiring_notices"] == 1
    second = published[-1]
    assert (second["Detail"]["lot_id"], second["Detail"]["amount"]["amount"]) == (first["Detail"]["lot_id"], "10.00")
    assert second["Detail"]["notice_id"] != first["Detail"]["notice_id"]
    assert notify(second) == {"sent": True}
    assert len(ses_backends["123456789012"]["us-east-1"].sent_messages) == 2
    # And only once: later runs, and the same notice published again, tell her nothing more
    assert run_expiry(now + timedelta(hours=2))["expiring_notices"] == 0
    assert notify(second) == {"sent": False}
    audit_wallet(merchant.merchant_id, "ann", "USD").assert_consistent()
