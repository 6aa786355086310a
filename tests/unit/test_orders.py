"""The order arithmetic alone: what comes back, into which lots, and what the rules earn."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store_credit.lots import Lot
from store_credit.orders import (
    CustomerStats,
    IssuedCredit,
    OrderRecord,
    StandingMilestone,
    earn,
    milestone_key,
    milestones_lost,
    percent_of,
    recount,
    return_credit,
    rule_minor,
    snapshot_allocations,
)
from store_credit.wallet import Wallet, spend_allocations

NOW = 1_800_000_000


def paid_order(spent: int, total: int, **fields: object) -> OrderRecord:
    record = OrderRecord("m", "o1", "ann", "USD", paid=True, paid_total=total, captured=spent)
    return replace(record, **fields)  # type: ignore[arg-type]


def test_a_refund_to_the_card_returns_credit_in_the_orders_proportion() -> None:
    # 30.00 of credit and 70.00 charged: refunding 50.00 brings back 15.00
    assert paid_order(3000, 7000, refunded_original=5000).credit_due_back() == 1500
    assert paid_order(3000, 7000, refunded_original=10000).credit_due_back() == 3000


@given(
    spent=st.integers(1, 10**7),
    total=st.integers(0, 10**7),
    parts=st.lists(st.integers(1, 100), min_size=1, max_size=8),
)
def test_partial_refunds_to_the_card_add_up_to_exactly_what_was_spent(spent: int, total: int, parts: list[int]) -> None:
    gross = spent + total
    # Split the whole order value into refunds; credit back after each is never more than spent
    cuts = [gross * sum(parts[: i + 1]) // sum(parts) for i in range(len(parts))]
    record = paid_order(spent, total)
    for refunded in cuts:
        due = replace(record, refunded_original=refunded).credit_due_back()
        assert record.returned <= due <= spent
        record = replace(record, refunded_original=refunded, returned=due)
    assert record.returned == spent


@given(
    spent=st.integers(1, 10**6),
    total=st.integers(0, 10**6),
    to_card=st.integers(0, 10**6),
    as_credit=st.integers(0, 10**6),
)
def test_a_cancel_after_refunds_never_returns_more_than_the_order_was_worth(
    spent: int, total: int, to_card: int, as_credit: int
) -> None:
    gross = spent + total
    to_card, as_credit = min(to_card, gross), min(as_credit, gross - min(to_card, gross))
    record = paid_order(spent, total, refunded_original=to_card, refunded_store_credit=as_credit)
    record = replace(record, returned=record.credit_due_back())
    cancelled = replace(record, cancelled=True)
    back = cancelled.credit_due_back()
    assert record.returned <= back <= spent
    # credit back + new credit + the card's part of its refunds never exceed the order
    card_share = to_card - record.returned
    assert back + as_credit + card_share <= gross
    # and settling again (another event after the cancel) returns nothing more
    assert replace(cancelled, returned=back).credit_due_back() == back


@given(
    spent=st.integers(1, 10**6),
    total=st.integers(0, 10**6),
    paid=st.booleans(),
    to_card=st.integers(0, 10**6),
    as_credit=st.integers(0, 10**6),
    lowest=st.none() | st.integers(0, 10**6),
)
def test_credit_due_back_depends_on_the_events_alone(
    *, spent: int, total: int, paid: bool, to_card: int, as_credit: int, lowest: int | None
) -> None:
    # Given any order state, open or cancelled, paid or not
    record = OrderRecord(
        "m",
        "o1",
        "ann",
        "USD",
        paid=paid,
        paid_total=total if paid else 0,
        captured=spent,
        refunded_original=to_card,
        refunded_store_credit=as_credit,
        lowest_total=lowest,
    )
    for state in (record, replace(record, cancelled=True)):
        # When it is settled, then settled again
        due = state.credit_due_back()
        # Then the second time finds nothing more to return, and never more than was spent
        assert 0 <= due <= spent
        assert replace(state, returned=due).credit_due_back() == due


def test_a_lower_total_returns_what_the_credit_exceeds() -> None:
    assert paid_order(3000, 7000, lowest_total=2000).credit_due_back() == 1000
    assert paid_order(3000, 7000, lowest_total=5000).credit_due_back() == 0


def wallet_with(*lots: Lot) -> Wallet:
    return Wallet("m", "ann", "USD", version=3, seq=len(lots), lots={lot.lot_id: lot for lot in lots})


def test_returned_credit_recreates_a_spent_lot_with_its_expiry_and_expires_it_if_past() -> None:
    # Given two lots, one expiring soon, spent entirely by an order
    soon = Lot("lot_1", 1000, 1000, NOW - 100, "reward", expires_at=NOW + 10)
    never = Lot("lot_2", 500, 500, NOW - 50, "manual")
    wallet = wallet_with(soon, never)
    allocations = (("lot_1", 1000), ("lot_2", 200))
    spent = snapshot_allocations(wallet, allocations)
    after = spend_allocations(
        wallet, allocations=allocations, reason="r", actor="a", now_ms=NOW * 1000, entry_type="capture"
    ).after
    record = paid_order(1200, 0, spent_lots=spent)

    # When all of it comes back after the first lot's expiry
    changes, returned = return_credit(after, record, 1200, reason="back", actor="a", now_ms=(NOW + 60) * 1000)

    # Then the ledger shows the refund into both lots, then the expiry of the lapsed one
    assert [(c.entry.type, c.entry.amount) for c in changes] == [("refund", 1200), ("expiry", -1000)]
    final = changes[-1].after
    assert set(final.lots) == {"lot_2"} and final.lots["lot_2"].remaining == 500
    assert returned.returned == 1200
    assert [s.returned for s in returned.spent_lots] == [1000, 200]


def test_credit_comes_back_to_the_lot_spent_last_first() -> None:
    first = Lot("lot_1", 1000, 1000, NOW - 100, "reward", expires_at=NOW + 1000)
    second = Lot("lot_2", 1000, 1000, NOW - 50, "manual")
    wallet = wallet_with(first, second)
    allocations = (("lot_1", 1000), ("lot_2", 500))
    after = spend_allocations(
        wallet, allocations=allocations, reason="r", actor="a", now_ms=NOW * 1000, entry_type="capture"
    ).after
    record = paid_order(1500, 0, spent_lots=snapshot_allocations(wallet, allocations))
    changes, _ = return_credit(after, record, 700, reason="back", actor="a", now_ms=NOW * 1000)
    assert changes[0].entry.lots == (("lot_2", 500), ("lot_1", 200))


def stats() -> CustomerStats:
    return CustomerStats("m", "ann", "USD")


def test_joys_examples() -> None:
    # 1.00 per 20.00 spent: an order of 100.00 earns 5.00
    rewards, _ = earn(
        [{"type": "place_order", "per": "20.00", "credit": "1.00"}],
        buyer="ann",
        referrer=None,
        total=10000,
        currency="USD",
        stats=stats(),
    )
    assert [(r.customer_id, r.amount) for r in rewards] == [("ann", 500)]
    # 10% of a first order of 100.00 goes to the referrer
    rewards, _ = earn(
        [{"type": "referral", "percent": "10"}],
        buyer="ann",
        referrer="rita",
        total=10000,
        currency="USD",
        stats=stats(),
    )
    assert [(r.customer_id, r.amount) for r in rewards] == [("rita", 1000)]


def test_milestones_fire_once_and_referrals_only_on_the_first_order() -> None:
    rules = [{"type": "milestone", "orders": 2, "credit": "10.00"}, {"type": "referral", "fixed": "5.00"}]
    current = stats()
    paid: list[tuple[str, int]] = []
    for _ in range(4):
        rewards, current = earn(rules, buyer="ann", referrer="rita", total=1000, currency="USD", stats=current)
        paid += [(r.customer_id, r.amount) for r in rewards]
    assert paid == [("rita", 500), ("ann", 1000)]
    assert current.orders == 4 and current.spent == 4000 and current.fired == ("referral", "orders:2")


def test_a_cancelled_order_stops_counting_towards_milestones_and_the_referral_pays_once() -> None:
    rules = [{"type": "milestone", "orders": 2, "credit": "10.00"}, {"type": "referral", "fixed": "5.00"}]
    # Given a first paid order with a referrer, then cancelled
    rewards, current = earn(rules, buyer="ann", referrer="rita", total=1000, currency="USD", stats=stats())
    assert [(r.customer_id, r.amount) for r in rewards] == [("rita", 500)]
    order = paid_order(0, 1000, counted_spent=1000, counted_order=True, cancelled=True)
    current = recount(current, order)
    assert (current.orders, current.spent) == (0, 0)
    # When the next order is paid: it is the first that counts, yet the referral does not pay again
    rewards, current = earn(rules, buyer="ann", referrer="rita", total=1000, currency="USD", stats=current)
    assert rewards == []
    # Then the milestone needs a second order that stands
    rewards, current = earn(rules, buyer="ann", referrer=None, total=1000, currency="USD", stats=current)
    assert [(r.customer_id, r.amount) for r in rewards] == [("ann", 1000)]
    # and un-counting never goes below nothing
    assert recount(stats(), paid_order(0, 500, counted_spent=500, counted_order=True, cancelled=True)) == stats()


@pytest.mark.parametrize("currency", ["USD", "JPY", "KWD"])
def test_a_milestone_is_lost_when_the_orders_that_stand_fall_below_the_threshold_it_fired_at(currency: str) -> None:
    # Given milestones at 2 orders and at "500.00" spent, held by a buyer who reached both
    spent = milestone_key(None, "500.00")
    held = (StandingMilestone("orders:2", "o2", "lot_a"), StandingMilestone(spent, "o2", "lot_b"))
    threshold = rule_minor("500.00", currency)
    assert threshold is not None
    reached = replace(stats(), currency=currency, orders=2, spent=threshold, standing=held)
    # Then nothing is lost while both are reached
    assert milestones_lost(reached) == ()
    # When an order is returned: one order, and less than the threshold, stand
    after = replace(reached, orders=1, spent=threshold - 1)
    # Then both are lost; with 2 orders kept and less spent, only the spent one
    assert milestones_lost(after) == held
    assert milestones_lost(replace(after, orders=2)) == held[1:]


def test_a_milestone_reward_is_not_taken_back_with_its_order_but_when_the_statistics_fall_short() -> None:
    # Given an order that reached a 10.00 milestone, then cancelled
    milestone = IssuedCredit("ann", "lot_m", 1000, "milestone")
    cancelled = paid_order(0, 10000, issued=(milestone,), cancelled=True)
    # Then its own cancel takes nothing: the buyer's other orders may still reach it
    assert cancelled.to_take_back(milestone) == 0


def test_a_refund_counts_the_order_for_what_was_kept_and_a_full_refund_not_at_all() -> None:
    # Given an order of 100.00 (20.00 of it store credit) that counted 80.00 charged
    order = paid_order(2000, 8000, counted_spent=8000, counted_order=True)
    before = replace(stats(), orders=3, spent=30000)
    # When a quarter of its value is refunded, three quarters of the charge still count
    quarter = replace(order, refunded_original=2500)
    assert quarter.counted() == (6000, True)
    assert recount(before, quarter) == replace(before, spent=28000)
    # When all of it is refunded (to the card and as credit), the order no longer counts
    full = replace(quarter, refunded_store_credit=7500)
    assert full.counted() == (0, False)
    assert recount(before, full) == replace(before, orders=2, spent=22000)


def test_a_partial_refund_takes_back_the_refunded_share_of_scaling_rewards_only() -> None:
    # Given a 5.00 reward per order total (scales), a 10.00 milestone and a 25.00 gift card unit
    scaling = IssuedCredit("ann", "lot_r", 500, "reward", full=500)
    milestone = IssuedCredit("ann", "lot_m", 1000, "reward")
    product = IssuedCredit("bob", "lot_p", 2500, "product")
    order = paid_order(0, 10000, issued=(scaling, milestone, product))
    # When 40.00 of the 100.00 is refunded: 2.00 of the scaling reward is owed back, nothing else
    partial = replace(order, refunded_original=4000)
    assert [partial.to_take_back(i) for i in partial.issued] == [200, 0, 0]
    # and once taken, asking again owes nothing more
    assert partial.to_take_back(replace(scaling, taken=200)) == 0
    # When the rest is refunded, everything the order gave is owed back
    full = replace(partial, refunded_store_credit=6000)
    assert [full.to_take_back(replace(scaling, taken=200)), full.to_take_back(milestone)] == [300, 1000]
    assert full.to_take_back(product) == 2500


@given(
    total=st.integers(1, 10**7),
    spent=st.integers(0, 10**7),
    reward=st.integers(0, 10**6),
    parts=st.lists(st.integers(1, 100), min_size=1, max_size=8),
)
def test_refunds_in_any_steps_take_back_a_scaling_reward_exactly_once(
    total: int, spent: int, reward: int, parts: list[int]
) -> None:
    # Given a paid order with a reward that scales, refunded in steps up to its whole value
    order = paid_order(spent, total)
    credit = IssuedCredit("ann", "lot_r", reward, "reward", full=reward)
    gross, weight, refunded, taken = spent + total, sum(parts), 0, 0
    for part in parts:
        refunded = min(gross, refunded + gross * part // weight)
        step = replace(order, refunded_original=refunded)
        owed = step.to_take_back(replace(credit, taken=taken))
        # Then after each step the customer keeps exactly the share not refunded (nothing owed twice)
        assert owed >= 0
        taken += owed
        assert reward - taken == step.kept_share(reward)
    final = replace(order, refunded_original=gross)
    taken += final.to_take_back(replace(credit, taken=taken))
    assert taken == reward


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("1.00", "USD", 100), ("1.00", "JPY", 1), ("0.50", "JPY", None), ("0.125", "KWD", 125)],
)
def test_rule_amounts_take_the_orders_currency(text: str, currency: str, minor: int | None) -> None:
    assert rule_minor(text, currency) == minor


def test_percentages_round_half_up_to_the_minor_unit() -> None:
    assert percent_of(1005, "10") == 101  # 100.5 → 101
    assert percent_of(1004, "10") == 100
    assert percent_of(333, "33.3333") == 111
