"""The checkout arithmetic: the published worked examples, then properties over any cart."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store_credit.checkout_math import (
    Cart,
    CartLine,
    CreditRules,
    CreditSource,
    Tier,
    half_up,
    largest_remainder,
    quote,
)
from store_credit.errors import InvalidInput

USD = CreditRules(exponent=2)


def item(price: int, qty: int = 1, tax: str = "0", line_id: str = "i1", **kwargs: object) -> CartLine:
    return CartLine(line_id=line_id, unit_price=price, quantity=qty, tax_rate=Fraction(tax) / 100, **kwargs)  # type: ignore[arg-type]


def credit(amount: int, lot_id: str = "lot_1", **kwargs: object) -> CreditSource:
    return CreditSource(lot_id=lot_id, amount=amount, **kwargs)  # type: ignore[arg-type]


def total_before(cart: Cart, rules: CreditRules = USD) -> int:
    return quote(cart, rules, []).totals.total


# --- the published examples, exactly --------------------------------------------------------


def test_pre_tax_credit_lowers_the_tax_too() -> None:
    # credit 10 on items taxed 20%, pre-tax: the order total falls by 12 (10 + 2 of tax)
    cart = Cart(lines=(item(10000, tax="20"),))
    result = quote(cart, USD, [credit(1000)])
    assert result.applied == 1000
    assert total_before(cart) - result.totals.total == 1200
    assert result.totals.tax == 1800


def test_tax_inclusive_credit_splits_into_discount_and_tax() -> None:
    # the same, tax-inclusive: the total falls by 10 (8.33 discount + 1.67 tax)
    cart = Cart(lines=(item(10000, tax="20"),))
    result = quote(cart, CreditRules(exponent=2, include_tax=True), [credit(1000)])
    assert total_before(cart) - result.totals.total == 1000
    assert (result.breakdown.items, result.breakdown.tax) == (833, 167)


def test_credit_covers_shipping_when_the_setting_allows() -> None:
    # subtotal 50 + shipping 10 with credit 55 and apply-to-shipping: total 5
    cart = Cart(lines=(item(5000),), shipping=1000)
    result = quote(cart, CreditRules(exponent=2, apply_to_shipping=True), [credit(5500)])
    assert result.totals.total == 500
    assert result.breakdown.items + result.breakdown.shipping == 5500
    # and without the setting, shipping stays to be paid
    assert quote(cart, USD, [credit(5500)]).totals.total == 1000


def test_credit_larger_than_the_order_applies_what_the_order_is() -> None:
    # credit 50 on a 30 order: applies 30, charges 0, leaves 20
    result = quote(Cart(lines=(item(3000),)), USD, [credit(5000)])
    assert (result.applied, result.totals.total) == (3000, 0)
    assert 5000 - result.applied == 2000
    # credit 20 on an 80 order: 60 to pay
    assert quote(Cart(lines=(item(8000),)), USD, [credit(2000)]).totals.total == 6000


def test_credit_as_payment_over_everything() -> None:
    # subtotal 80, shipping 5, tax 7, credit 25 applied as payment over everything: total 67
    cart = Cart(lines=(item(8000, tax="8.75"),), shipping=500)
    rules = CreditRules(exponent=2, include_tax=True, apply_to_shipping=True)
    assert total_before(cart, rules) == 9200
    result = quote(cart, rules, [credit(2500)])
    assert result.totals.total == 6700
    assert result.applied == 2500


def test_discount_code_first_then_credit_on_what_is_left() -> None:
    # a 10% code on a 100 subtotal first (10 off), then 25 of credit on the 90 left
    cart = Cart(lines=(item(6000, line_id="a"), item(4000, line_id="b")), discount_total=1000)
    result = quote(cart, USD, [credit(2500)])
    assert result.totals.discounts == 1000
    assert result.totals.total == 10000 - 1000 - 2500
    # the discount split 60:40 across the lines, the credit over what each line has left
    assert result.line_credit == {"a": 1500, "b": 1000, "shipping": 0}


def test_percent_cap_rounds_up_to_a_whole_unit() -> None:
    # cap 5% with items 477 and discount 48: (477 − 48) × 5% = 21.45 → 22 applied
    rules = CreditRules(exponent=2, tiers=(Tier(min_order=None, max_percent=Fraction(5)),))
    cart = Cart(lines=(item(47700),), discount_total=4800)
    assert quote(cart, rules, [credit(100000)]).applied == 2200


# --- the rules around the examples ---------------------------------------------------------


def test_tiers_pick_the_highest_minimum_reached_and_none_reached_means_none() -> None:
    tiers = (Tier(min_order=5000, max_fixed=500), Tier(min_order=10000, max_percent=Fraction(10)))
    rules = CreditRules(exponent=2, tiers=tiers)
    assert quote(Cart(lines=(item(4000),)), rules, [credit(9999)]).applied == 0
    assert quote(Cart(lines=(item(8000),)), rules, [credit(9999)]).applied == 500
    assert quote(Cart(lines=(item(12000),)), rules, [credit(9999)]).applied == 1200


def test_whole_unit_rounding_follows_the_currency() -> None:
    jpy = CreditRules(exponent=0, tiers=(Tier(min_order=None, max_percent=Fraction(3)),))
    assert quote(Cart(lines=(item(1001),)), jpy, [credit(5000)]).applied == 31  # 30.03 → 31 yen


def test_requested_amount_limits_and_zero_applies_none() -> None:
    cart = Cart(lines=(item(10000),))
    assert quote(cart, USD, [credit(5000)], requested=1234).applied == 1234
    assert quote(cart, USD, [credit(5000)], requested=0).applied == 0
    assert quote(cart, USD, [], requested=None).applied == 0


def test_non_discountable_items_are_excluded_when_the_setting_says_so() -> None:
    cart = Cart(lines=(item(3000, line_id="gift", discountable=False), item(2000, line_id="shirt")))
    assert quote(cart, USD, [credit(9999)]).applied == 2000
    assert quote(cart, CreditRules(exponent=2, exclude_non_discountable=False), [credit(9999)]).applied == 5000


def test_a_cart_with_a_store_credit_product_cannot_use_credit() -> None:
    with pytest.raises(InvalidInput):
        quote(Cart(lines=(item(2500, store_credit_product=True),)), USD, [credit(100)])


def test_restricted_lots_pay_only_their_products_and_never_shipping() -> None:
    cart = Cart(
        lines=(item(3000, line_id="shoe", product_id="p-shoe"), item(2000, line_id="hat", categories=("hats",))),
        shipping=1000,
    )
    rules = CreditRules(exponent=2, apply_to_shipping=True)
    shoes_only = credit(9999, product_ids=frozenset({"p-shoe"}))
    result = quote(cart, rules, [shoes_only])
    assert result.applied == 3000
    assert result.line_credit == {"shoe": 3000, "hat": 0, "shipping": 0}


def test_the_split_uses_as_much_credit_as_the_rules_allow() -> None:
    # Lot A (expiring first) pays shoes or hats; lot B only shoes. Greedy A→shoes would strand B.
    cart = Cart(lines=(item(1000, line_id="shoe", product_id="shoe"), item(1000, line_id="hat", product_id="hat")))
    a = credit(1000, "A", product_ids=frozenset({"shoe", "hat"}))
    b = credit(1000, "B", product_ids=frozenset({"shoe"}))
    result = quote(cart, USD, [a, b])
    assert result.applied == 2000
    assert dict(result.allocations) == {"A": 1000, "B": 1000}


def test_earliest_expiring_lots_are_used_first_under_a_limit() -> None:
    cart = Cart(lines=(item(10000),))
    result = quote(cart, USD, [credit(500, "soon"), credit(500, "later"), credit(500, "never")], requested=700)
    assert dict(result.allocations) == {"soon": 500, "later": 200}


def test_lots_with_the_same_restrictions_still_go_in_spend_order() -> None:
    # Given lots in spend order, restricted (shoes) and open in turn, and a cart of shoes and a hat
    shoes = frozenset({"shoe"})
    lots = [credit(1000, "R0", product_ids=shoes), credit(1000, "U1"), credit(1000, "R2", product_ids=shoes)]
    lots += [credit(1000, "U3"), credit(1000, "R4", product_ids=shoes)]
    cart = Cart(lines=(item(2500, line_id="shoe", product_id="shoe"), item(1000, line_id="hat", product_id="hat")))

    # When checkout splits the credit
    result = quote(cart, USD, lots)

    # Then the open lot that comes first pays the hat, and the shoes take the earliest lots
    # that can pay them: R4, last in spend order, gives nothing
    assert result.applied == 3500
    assert dict(result.allocations) == {"R0": 1000, "U1": 1000, "R2": 1000, "U3": 500}
    assert result.line_credit == {"shoe": 2500, "hat": 1000, "shipping": 0}


def test_a_wallet_of_thousands_of_small_lots_is_all_used() -> None:
    # Given 6,000 lots of 1.00 (a loyal buyer's rewards, never spent: they fit in one wallet
    # item), a third for one product, a third for one category, over a cart of 250 lines
    cart = Cart(
        lines=tuple(
            item(1_000_000, line_id=f"l{i}", product_id=f"p{i % 10}", categories=(f"c{i % 7}",)) for i in range(250)
        )
    )
    sources = [
        credit(
            100,
            f"lot_{k}",
            product_ids=frozenset({f"p{k % 10}"}) if k % 3 == 0 else frozenset(),
            categories=frozenset({f"c{k % 7}"}) if k % 3 == 1 else frozenset(),
        )
        for k in range(6_000)
    ]
    # When the cart takes it (how fast is the bench's business: 15 s before lots of a class
    # shared one edge, past the checkout function's 10 s; about 1.3 s after, 0.1 s with one search per push)
    result = quote(cart, USD, sources)

    # Then every lot gives all it has, once
    assert result.applied == 600_000
    assert sorted(result.allocations) == sorted((f"lot_{k}", 100) for k in range(6_000))


def test_a_wallet_of_lots_each_for_a_few_products_is_split_within_the_functions_time() -> None:
    # Given a 250-line cart and 2,000 lots each for two products, half also for a category:
    # almost every lot a class of its own, every line a group of its own
    cart = Cart(
        lines=tuple(
            item(1000 + i, qty=2, tax="20", line_id=f"l{i}", product_id=f"p{i}", categories=(f"c{i % 20}",))
            for i in range(250)
        )
    )
    sources = [
        credit(
            900,
            f"lot_{k}",
            product_ids=frozenset({f"p{k % 250}", f"p{(k * 7 + 1) % 250}"}),
            categories=frozenset({f"c{k % 13}"}) if k % 2 else frozenset(),
        )
        for k in range(2_000)
    ]
    # When the cart takes it
    started = time.process_time()
    result = quote(cart, USD, sources)
    elapsed = time.process_time() - started

    # Then all it may take is taken, well inside the checkout function's 10 s at a third of a
    # vCPU (Bellman-Ford for every push took 16 s of CPU here; one search per push, under 1 s)
    assert result.applied == 562_250 == sum(result.line_credit.values())
    assert elapsed < 5, f"{elapsed:.1f} s"


def test_largest_remainder_parts_add_up() -> None:
    assert largest_remainder(100, [1, 1, 1]) == [34, 33, 33]
    assert largest_remainder(0, [5, 5]) == [0, 0]
    assert half_up(Fraction(5, 2)) == 3 and half_up(Fraction(3, 2)) == 2 and half_up(Fraction(249, 100)) == 2


# --- properties over any cart and settings --------------------------------------------------

rates = st.sampled_from(["0", "5", "8.75", "10", "20", "21"])
lines_strategy = st.lists(
    st.builds(
        item,
        price=st.integers(0, 50_000),
        qty=st.integers(1, 5),
        tax=rates,
        line_id=st.uuids().map(str),
        product_id=st.sampled_from(["p1", "p2", "p3"]),
        categories=st.sampled_from([(), ("c1",), ("c1", "c2")]),
        discountable=st.booleans(),
    ),
    min_size=1,
    max_size=6,
)


@st.composite
def carts(draw: st.DrawFn) -> Cart:
    lines = tuple(draw(lines_strategy))
    discountable = sum(line.gross for line in lines if line.discountable)
    return Cart(
        lines=lines,
        discount_total=draw(st.integers(0, discountable)),
        shipping=draw(st.integers(0, 3_000)),
        shipping_tax_rate=Fraction(draw(rates)) / 100,
        prices_include_tax=draw(st.booleans()),
    )


sources_strategy = st.lists(
    st.builds(
        credit,
        amount=st.integers(0, 40_000),
        lot_id=st.uuids().map(str),
        product_ids=st.sampled_from([frozenset(), frozenset({"p1"}), frozenset({"p2", "p3"})]),
        categories=st.sampled_from([frozenset(), frozenset({"c2"})]),
    ),
    max_size=5,
)
rules_strategy = st.builds(
    CreditRules,
    exponent=st.just(2),
    apply_to_shipping=st.booleans(),
    include_tax=st.booleans(),
    exclude_non_discountable=st.booleans(),
    tiers=st.sampled_from(
        [(), (Tier(min_order=None, max_percent=Fraction(5)),), (Tier(min_order=10_000, max_fixed=1_500),)]
    ),
)


@settings(max_examples=300, deadline=None)
@given(cart=carts(), rules=rules_strategy, sources=sources_strategy, requested=st.none() | st.integers(0, 60_000))
def test_credit_never_exceeds_balance_cap_or_eligible_and_totals_add_up(
    cart: Cart, rules: CreditRules, sources: list[CreditSource], requested: int | None
) -> None:
    result = quote(cart, rules, sources, requested)
    totals = result.totals
    assert 0 <= result.applied <= sum(s.amount for s in sources)
    assert result.applied <= result.eligible
    if result.limit is not None:
        assert result.applied <= result.limit
    assert totals.total == totals.subtotal - totals.discounts + totals.shipping + totals.tax - totals.store_credit
    assert totals.total >= 0
    assert result.applied == sum(amount for _, amount in result.allocations) == sum(result.line_credit.values())
    assert result.applied == result.breakdown.items + result.breakdown.shipping + result.breakdown.tax
    for lot_id, amount in result.allocations:
        assert 0 < amount <= next(s.amount for s in sources if s.lot_id == lot_id)
    if not rules.apply_to_shipping:
        assert result.line_credit["shipping"] == 0
    # Lots of the same restrictions go in spend order: a lot gives only once those before it
    # in the same class have given all they had.
    given = dict(result.allocations)
    for k, later in enumerate(sources):
        if given.get(later.lot_id):
            for earlier in sources[:k]:
                if (earlier.product_ids, earlier.categories) == (later.product_ids, later.categories):
                    assert given.get(earlier.lot_id, 0) == earlier.amount
    # Unlimited, unrestricted credit takes everything eligible.
    unlimited = quote(cart, CreditRules(**{**rules.__dict__, "tiers": ()}), [credit(10**9)])
    assert unlimited.applied == unlimited.eligible


# --- hand-computed edges (review of the apply arithmetic) ----------------------------------


def test_a_tier_is_reached_at_its_minimum_exactly_after_discounts() -> None:
    # Given a tier from 100.00 capped at 5.00
    rules = CreditRules(exponent=2, tiers=(Tier(min_order=10000, max_fixed=500),))
    # When the order amount (items − discounts) is 100.00 exactly, or 99.99
    exact = quote(Cart(lines=(item(11000),), discount_total=1000), rules, [credit(99999)])
    short = quote(Cart(lines=(item(9999),)), rules, [credit(99999)])
    # Then 100.00 reaches the tier and 99.99 reaches none: nothing applies
    assert (exact.applied, short.applied) == (500, 0)


def test_percent_caps_round_up_to_a_whole_yen_and_a_whole_dinar() -> None:
    # 10% of 1,005 yen = 100.5 → 101; of 1,000 yen exactly 100
    jpy = CreditRules(exponent=0, tiers=(Tier(min_order=None, max_percent=Fraction(10)),))
    assert quote(Cart(lines=(item(1005),)), jpy, [credit(10**6)]).applied == 101
    assert quote(Cart(lines=(item(1000),)), jpy, [credit(10**6)]).applied == 100
    # 5% of 20.020 KWD = 1.001 → 2.000; of 20.000 exactly 1.000
    kwd = CreditRules(exponent=3, tiers=(Tier(min_order=None, max_percent=Fraction(5)),))
    assert quote(Cart(lines=(item(20020),)), kwd, [credit(10**6)]).applied == 2000
    assert quote(Cart(lines=(item(20000),)), kwd, [credit(10**6)]).applied == 1000


def test_tax_is_rounded_per_line_on_quantity_times_price() -> None:
    # Given 3 × 3.33 at 8.875%: the line's tax is 9.99 × 8.875% = 0.8866 → 0.89
    cart = Cart(lines=(item(333, qty=3, tax="8.875"),))
    assert quote(cart, USD, []).totals.tax == 89
    # When 1.00 of credit is applied before tax, tax is 8.99 × 8.875% = 0.7978 → 0.80
    result = quote(cart, USD, [credit(100)])
    # Then the buyer pays 8.99 + 0.80
    assert (result.totals.tax, result.totals.total) == (80, 979)


def test_tax_inclusive_prices_with_a_pre_tax_credit() -> None:
    # Given 12.00 including 20% tax (10.00 + 2.00) and 5.00 of credit before tax
    cart = Cart(lines=(item(1200, tax="20"),), prices_include_tax=True)
    result = quote(cart, USD, [credit(500)])
    # Then 5.00 is left before tax, 1.00 of tax on it: 6.00 to pay
    assert (result.totals.subtotal, result.totals.tax, result.totals.total) == (1000, 100, 600)
    # and with include_tax on, all 12.00 can be paid: 10.00 of items and 2.00 of tax
    whole = quote(cart, CreditRules(exponent=2, include_tax=True), [credit(5000)])
    assert (whole.applied, whole.breakdown.items, whole.breakdown.tax, whole.totals.total) == (1200, 1000, 200, 0)


def test_shipping_and_its_tax_under_a_pre_tax_credit() -> None:
    # Given items 5.00 (no tax) and shipping 10.00 taxed 10%, credit 10.00 also covering shipping
    cart = Cart(lines=(item(500),), shipping=1000, shipping_tax_rate=Fraction(1, 10))
    result = quote(cart, CreditRules(exponent=2, apply_to_shipping=True), [credit(1000)])
    # Then the credit spreads 1:2 over items and shipping (3.33 and 6.67), shipping tax is
    # 10% of the 3.33 left, and the parts add up
    assert result.line_credit == {"i1": 333, "shipping": 667}
    assert (result.breakdown.items, result.breakdown.shipping) == (333, 667)
    assert (result.totals.tax, result.totals.total) == (33, 500 + 1000 + 33 - 1000)


def test_requested_amount_above_the_cap_applies_the_cap_and_zero_lines_take_nothing() -> None:
    # Given a free line, a 10.00 line and a 5% cap (0.50 → 1.00 rounded up)
    rules = CreditRules(exponent=2, tiers=(Tier(min_order=None, max_percent=Fraction(5)),))
    cart = Cart(lines=(item(0, line_id="free"), item(1000, line_id="paid")))
    # When the buyer asks for 50.00
    result = quote(cart, rules, [credit(9999)], requested=5000)
    # Then the cap holds and the free line takes no credit
    assert result.applied == 100
    assert result.line_credit == {"free": 0, "paid": 100, "shipping": 0}


def test_a_250_line_cart_takes_all_it_may_and_adds_up() -> None:
    # Given 250 lines of 3 × 3.33 at 8.875%, a 10% discount, and 2,000.00 of open credit
    lines = tuple(item(333, qty=3, tax="8.875", line_id=f"l{i}") for i in range(250))
    cart = Cart(lines=lines, discount_total=24975)
    result = quote(cart, USD, [credit(200_000)])
    # Then it all goes (2,247.75 of items after the discount is more), spread by largest
    # remainder, and the totals identity holds to the cent
    totals = result.totals
    assert result.applied == 200_000 == sum(result.line_credit.values())
    assert totals.total == totals.subtotal - totals.discounts + totals.shipping + totals.tax - totals.store_credit
    assert (totals.subtotal, totals.discounts) == (249_750, 24_975)


@settings(max_examples=150, deadline=None)
@given(cart=carts(), rules=rules_strategy, sources=sources_strategy, requested=st.none() | st.integers(0, 60_000))
def test_credit_lowers_the_total_by_what_it_applies_and_a_pre_tax_credit_by_its_tax_too(
    cart: Cart, rules: CreditRules, sources: list[CreditSource], requested: int | None
) -> None:
    before = quote(cart, rules, [])
    result = quote(cart, rules, sources, requested)
    drop = before.totals.total - result.totals.total
    assert (result.totals.subtotal, result.totals.discounts) == (before.totals.subtotal, before.totals.discounts)
    if rules.include_tax:
        assert drop == result.applied  # the credit pays tax, it does not remove it
    else:
        assert drop >= result.applied and result.breakdown.tax == 0  # tax falls with the amount taxed
    assert result.totals.tax >= 0
    assert result.breakdown.shipping <= result.totals.shipping


def _most_credit_by_min_cut(cart: Cart, rules: CreditRules, sources: list[CreditSource]) -> int:
    """The most credit the lots can pay, by brute force over cuts: a set of lots either gives
    all it has, or is held back by the room on every line one of them may pay."""
    uncapped = CreditRules(**{**rules.__dict__, "tiers": ()})
    rooms = quote(cart, uncapped, [credit(10**9)]).line_credit  # each line's room (open credit fills it)
    lines = {line.line_id: line for line in cart.lines}
    lots = [s for s in sources if s.amount > 0]
    best = None
    for mask in range(1 << len(lots)):
        inside = [s for k, s in enumerate(lots) if mask >> k & 1]
        cut = sum(s.amount for k, s in enumerate(lots) if not mask >> k & 1)
        for key, room in rooms.items():
            line = lines.get(key)
            if any((s.pays_for(line) if line is not None else not s.restricted) for s in inside):
                cut += room
        best = cut if best is None else min(best, cut)
    return best or 0


@settings(max_examples=150, deadline=None)
@given(cart=carts(), rules=rules_strategy, sources=sources_strategy, requested=st.none() | st.integers(0, 60_000))
def test_the_split_uses_the_most_credit_any_split_could(
    cart: Cart, rules: CreditRules, sources: list[CreditSource], requested: int | None
) -> None:
    result = quote(cart, rules, sources, requested)
    most = _most_credit_by_min_cut(cart, rules, sources)
    assert result.applied == (most if result.limit is None else min(most, result.limit))
