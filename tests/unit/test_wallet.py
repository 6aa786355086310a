"""Lots and the ledger: spending order, availability, and the balance invariant."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store_credit.errors import InsufficientCredit
from store_credit.lots import Lot, spend_lots
from store_credit.wallet import (
    Hold,
    OwedBack,
    Wallet,
    debit,
    free_holds,
    issue_credit,
    notice_seconds,
    owe_back,
    settle_due,
    take_owed_back,
)

NOW = 1_800_000_000
DAY = 86_400


def lot(lot_id: str, remaining: int, expires_at: int | None = None, **kwargs: object) -> Lot:
    return Lot(
        lot_id=lot_id,
        original=remaining,
        remaining=remaining,
        issued_at=NOW - DAY,
        source="manual",
        expires_at=expires_at,
        **kwargs,
    )  # type: ignore[arg-type]


def test_earliest_expiring_lot_is_spent_first_and_never_expiring_last() -> None:
    lots = [lot("never", 500), lot("late", 500, NOW + 30 * DAY), lot("soon", 300, NOW + DAY)]
    assert spend_lots(lots, 900, NOW) == [("soon", 300), ("late", 500), ("never", 100)]


def test_expired_pending_and_held_credit_is_not_spent() -> None:
    lots = [
        lot("expired", 500, NOW - 1),
        lot("pending", 500, valid_from=NOW + DAY),
        lot("half_held", 400, NOW + DAY, held=300),
        lot("free", 200),
    ]
    assert spend_lots(lots, 300, NOW) == [("half_held", 100), ("free", 200)]
    assert spend_lots(lots, 301, NOW) == []


def test_a_lot_expires_at_its_second_not_before() -> None:
    expiring = lot("x", 100, NOW)
    assert expiring.spendable(NOW - 1) == 100
    assert expiring.spendable(NOW) == 0


def empty_wallet() -> Wallet:
    return Wallet("m", "c", "USD")


def test_debit_takes_earliest_expiry_first_and_drops_spent_lots() -> None:
    wallet = empty_wallet()
    wallet = issue_credit(wallet, amount=1000, reason="a", actor="t", now_ms=NOW * 1000).after
    wallet = issue_credit(wallet, amount=300, reason="b", actor="t", now_ms=NOW * 1000, expires_at=NOW + DAY).after
    change = debit(wallet, amount=500, reason="d", actor="t", now_ms=NOW * 1000)
    assert change.entry.lots == (("lot_2", -300), ("lot_1", -200))
    assert set(change.after.lots) == {"lot_1"}
    assert change.after.balance == 800
    assert change.entry.balance_after == 800
    assert change.after.version == wallet.version + 1


def test_debit_beyond_available_is_refused_and_changes_nothing() -> None:
    wallet = issue_credit(empty_wallet(), amount=700, reason="a", actor="t", now_ms=NOW * 1000).after
    with pytest.raises(InsufficientCredit) as refused:
        debit(wallet, amount=701, reason="d", actor="t", now_ms=NOW * 1000)
    assert "7.01 USD requested, 7.00 USD available" in refused.value.detail
    assert wallet.balance == 700


def test_ledger_times_never_go_backwards_even_if_the_clock_does() -> None:
    first = issue_credit(empty_wallet(), amount=1, reason="a", actor="t", now_ms=NOW * 1000)
    second = issue_credit(first.after, amount=1, reason="b", actor="t", now_ms=NOW * 1000 - 5000)
    assert second.entry.created_ms > first.entry.created_ms
    assert second.entry.entry_id > first.entry.entry_id


def test_due_at_is_the_earliest_notice_or_expiry() -> None:
    wallet = issue_credit(empty_wallet(), amount=100, reason="a", actor="t", now_ms=NOW * 1000).after
    assert wallet.due_at() is None  # never-expiring credit keeps the wallet off the due index
    wallet = issue_credit(wallet, amount=100, reason="a", actor="t", now_ms=NOW * 1000, expires_at=NOW + 30 * DAY).after
    assert wallet.due_at() == NOW + 23 * DAY  # the 7-day "expiring" notice comes first


def test_credit_past_its_expiry_that_a_hold_reserves_is_due_when_the_hold_lapses() -> None:
    # Given a lot past its expiry, never announced, all of it reserved by a hold for 3 more days
    held = lot("lot_1", 500, NOW - DAY, held=500)
    hold = Hold("chk_1", 500, (("lot_1", 500),), NOW + 3 * DAY, "f", NOW * 1000)
    wallet = Wallet("m", "c", "USD", lots={"lot_1": held}, holds={"chk_1": hold})

    # When the expiry job settles it now, Then it has nothing to do
    assert not settle_due(wallet, now=NOW).changed
    # And the wallet is due again when the hold lapses, not at once (which would have the job
    # read it every 5 minutes, for nothing, until then)
    assert wallet.due_at() == NOW + 3 * DAY


operations = st.lists(
    st.tuples(
        st.sampled_from(["issue", "debit"]), st.integers(min_value=1, max_value=5000), st.sampled_from([None, 1, 5, 40])
    ),
    max_size=40,
)


@given(operations)
def test_balance_equals_sum_of_lots_and_sum_of_ledger_after_any_sequence(
    ops: list[tuple[str, int, int | None]],
) -> None:
    wallet = empty_wallet()
    ledger_sum = 0
    now_ms = NOW * 1000
    for kind, amount, days in ops:
        now_ms += 1000
        try:
            if kind == "issue":
                expires_at = NOW + days * DAY if days else None
                change = issue_credit(
                    wallet, amount=amount, reason="r", actor="t", now_ms=now_ms, expires_at=expires_at
                )
            else:
                change = debit(wallet, amount=amount, reason="r", actor="t", now_ms=now_ms)
        except InsufficientCredit:
            assert wallet.available(now_ms // 1000) < amount
            continue
        wallet = change.after
        ledger_sum += change.entry.amount
        assert change.entry.amount == sum(moved for _, moved in change.entry.lots)
        assert change.entry.amount == sum(moved for _, moved in change.entry.by_source)
        assert wallet.balance == ledger_sum == change.entry.balance_after
        assert wallet.available(now_ms // 1000) >= 0
        assert all(lot.remaining > 0 for lot in wallet.lots.values())


def test_settling_a_huge_backlog_fits_one_transaction_at_a_time() -> None:
    from store_credit.wallet import MAX_SETTLED_PER_WRITE, settle_due

    wallet = empty_wallet()
    for n in range(120):
        wallet = issue_credit(
            wallet, amount=100, reason="r", actor="t", now_ms=NOW * 1000 + n, expires_at=NOW + DAY
        ).after
    first = settle_due(wallet, now=NOW + 2 * DAY)
    assert len(first.entries) == MAX_SETTLED_PER_WRITE
    assert 1 + len(first.entries) + len(first.released) <= 100
    assert first.after.balance == 100 * (120 - MAX_SETTLED_PER_WRITE)
    assert first.after.due_at() is not None and first.after.due_at() <= NOW + 2 * DAY  # still due
    assert first.entries[-1].balance_after == first.after.balance


def test_lots_issued_in_the_same_second_are_spent_oldest_first_past_the_ninth() -> None:
    # Given ten never-expiring credits issued within one second (lot_1 … lot_10)
    wallet = empty_wallet()
    for n in range(10):
        wallet = issue_credit(wallet, amount=100, reason=f"r{n}", actor="t", now_ms=NOW * 1000).after

    # When nine of them are spent
    change = debit(wallet, amount=900, reason="d", actor="t", now_ms=NOW * 1000)

    # Then the oldest nine go and the newest (lot_10, not lot_9) is what is left
    assert [lot_id for lot_id, _ in change.entry.lots] == [f"lot_{n}" for n in range(1, 10)]
    assert set(change.after.lots) == {"lot_10"}


# --- credit owed back to an order ----------------------------------------------------------


def owing(lots: dict[str, Lot], owed: dict[str, int], holds: dict[str, Hold] | None = None) -> Wallet:
    return Wallet(
        "m",
        "ann",
        "USD",
        version=3,
        lots=lots,
        holds=holds or {},
        owed_back={lot_id: OwedBack(f"ord_{lot_id}", amount, "Order cancelled") for lot_id, amount in owed.items()},
    )


def test_owed_credit_is_taken_only_as_far_as_it_is_free_and_the_rest_stays_owed() -> None:
    # Given a lot owing 700, of which 500 is back and 200 still held, and a lot that is all spent
    wallet = owing({"r": lot("r", 700, held=200)}, {"r": 700, "gone": 300})
    # When what is owed is taken
    changes = take_owed_back(wallet, now_ms=NOW * 1000)
    # Then 500 goes, for the order that gave the lot; 200 (held) and 300 (spent) stay owed
    assert [(c.entry.amount, c.entry.order_id, c.entry.lots) for c in changes] == [(-500, "ord_r", (("r", -500),))]
    after = changes[-1].after
    assert after.balance == 200 and after.lots["r"].held == 200
    assert {k: v.amount for k, v in after.owed_back.items()} == {"r": 200, "gone": 300}
    # And taking again takes nothing more
    assert take_owed_back(after, now_ms=NOW * 1000) == []


def test_a_lot_owed_in_full_leaves_both_the_wallet_and_the_owed_list() -> None:
    changes = take_owed_back(owing({"r": lot("r", 300), "keep": lot("keep", 50)}, {"r": 900}), now_ms=NOW * 1000)
    after = changes[-1].after
    assert set(after.lots) == {"keep"}
    assert after.owed_back["r"].amount == 600  # more may come back into it later


def test_a_write_that_takes_only_some_of_what_is_owed_keeps_the_wallet_due_now() -> None:
    # Given more lots owing free credit than one expiry write may settle
    lots = {f"l{n}": lot(f"l{n}", 10) for n in range(3)}
    wallet = owing(lots, dict.fromkeys(lots, 10))
    # When the limit stops it after two, the wallet stays due at once for the rest
    changes = take_owed_back(wallet, now_ms=NOW * 1000, limit=2)
    assert len(changes) == 2
    assert changes[-1].after.due_at() == 0
    assert owing(lots, {}).due_at() is None


def test_the_expiry_job_takes_back_what_a_lapsed_hold_frees_before_anything_expires() -> None:
    # Given a reward owed to a cancelled order, expired and all held by a hold past its time
    hold = Hold("chk", 400, (("r", 400),), NOW - 1, "f", 0)
    wallet = owing({"r": lot("r", 400, NOW - 10, held=400)}, {"r": 400}, {"chk": hold})
    # When the job settles the wallet
    work = settle_due(wallet, now=NOW)
    # Then the hold goes and the credit goes back to the order (not as an expiry)
    assert [(e.type, e.amount, e.order_id) for e in work.entries] == [("debit", -400, "ord_r")]
    assert work.after.balance == 0 and work.after.holds == {}


def test_lots_owed_to_one_order_go_back_in_one_debit() -> None:
    # Given three lots one order gave (store-credit product units) and one another order gave
    lots = {f"u{n}": lot(f"u{n}", 100) for n in range(3)} | {"r": lot("r", 50)}
    wallet = replace(
        owing(lots, {}),
        owed_back={
            **{f"u{n}": OwedBack("ord_units", 100, "Order cancelled") for n in range(3)},
            "r": OwedBack("ord_reward", 50, "Order refunded"),
        },
    )
    # When what is owed is taken
    changes = take_owed_back(wallet, now_ms=NOW * 1000)
    # Then each order gets one debit moving all of its lots
    assert [(c.entry.order_id, c.entry.amount, len(c.entry.lots)) for c in changes] == [
        ("ord_reward", -50, 1),
        ("ord_units", -300, 3),
    ]
    assert changes[-1].after.balance == 0 and changes[-1].after.owed_back == {}


def test_recording_credit_owed_is_a_write_of_its_own() -> None:
    # Given a wallet read at version 3
    wallet = owing({"keep": lot("keep", 50)}, {})
    # When an order records that it is owed credit from a lot that is all spent
    after = owe_back(wallet, "gone", OwedBack("ord_1", 100, "Order cancelled"))
    # Then the version moves on: a writer that read version 3 cannot put the wallet back without it
    assert after.version == 4 and after.owed_back["gone"].amount == 100


def test_letting_a_hold_go_takes_back_what_its_credit_owes_in_the_same_change() -> None:
    # Given a reward owed to a cancelled order, 400 of it held by a checkout, and goodwill held too
    holds = {"chk": Hold("chk", 450, (("r", 400), ("g", 50)), NOW + 60, "f", 0)}
    wallet = owing({"r": lot("r", 400, held=400), "g": lot("g", 50, held=50)}, {"r": 400}, holds)
    # When the checkout lets its hold go
    freed = free_holds(wallet, ("chk",), now_ms=NOW * 1000)
    # Then the owed 400 goes back to the order that gave it, and only the goodwill is free
    assert [(c.entry.type, c.entry.amount, c.entry.order_id) for c in freed.taken_back] == [("debit", -400, "ord_r")]
    assert freed.after.holds == {} and freed.after.owed_back == {}
    assert freed.after.available(NOW) == 50 and freed.after.balance == 50
    # And a hold that owes nothing is simply released, with no ledger entry
    only_goodwill = {"chk": Hold("chk", 50, (("g", 50),), NOW + 60, "f", 0)}
    plain = free_holds(owing({"g": lot("g", 50, held=50)}, {}, only_goodwill), ("chk",), now_ms=NOW * 1000)
    assert plain.taken_back == () and plain.after.available(NOW) == 50


@pytest.mark.parametrize(("value", "days"), [("14", 14), ("", 7), ("7.5", 7), ("0", 7), ("-3", 7), ("٣", 7), ("91", 7)])
def test_a_notice_window_that_is_not_whole_days_reads_as_the_default(
    monkeypatch: pytest.MonkeyPatch, value: str, days: int
) -> None:
    # Every wallet write reads it for the due index: a typo must not fail them all
    monkeypatch.setenv("EXPIRING_NOTICE_DAYS", value)
    assert notice_seconds() == days * 86_400


def test_the_lots_are_listed_in_the_order_they_are_spent_whatever_order_they_are_stored_in() -> None:
    # Given lots issued in the same second with the same expiry (an order's store-credit units),
    # read back from a DynamoDB map, which keeps no order: here lot_10 comes before lot_9
    from store_credit.views import wallet_json

    lots = {lot_id: lot(lot_id, 100, NOW + DAY) for lot_id in ("lot_10", "lot_9", "lot_11")}
    wallet = Wallet("m", "c", "USD", version=3, seq=11, lots=lots)

    # When the wallet is shown
    shown = [shown_lot["lot_id"] for shown_lot in wallet_json(wallet, "UTC", NOW)["lots"]]

    # Then the lots come in the order a debit spends them, the same on every read
    spent = [lot_id for lot_id, _ in debit(wallet, amount=300, reason="r", actor="a", now_ms=NOW * 1000).entry.lots]
    assert shown == spent == ["lot_9", "lot_10", "lot_11"]
