"""No order story mints or loses credit: whatever two customers' orders do (pay with credit earned
by other orders or given by the other customer, refund to the card or as new store credit,
cancel, in any order, with checkouts held, captured at apply or released), once every order is
cancelled and every checkout let go each customer has exactly their goodwill plus the refunds
issued to them as credit, less the spent credit those refunds already gave back. Rewards
(the buyer's own and the referral their friend earns) and store-credit products (bought for
oneself or as a gift to the other customer) given by cancelled orders are gone even when they
were spent on another order, by either customer, that is cancelled after them."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.harness.api_client import Api, Merchant, OrderWebhook, moto_shop
from tests.harness.audit import audit_wallet, owed_back

EXAMPLES = max(1, int(os.environ.get("FUZZ_EXAMPLES", "25")) // 2)  # ~5 s each here
ORDERS = (3, 2)  # the buyer's orders, their friend's
GOODWILL = 3_000
# Rewards expire (long after the test), so checkouts spend them before the goodwill. The buyer's
# orders name their friend as referrer: the friend's referral reward scales with the first
# paid order's total, so a partial refund takes back its share.
RULES = [
    {"type": "place_order", "per": "10.00", "credit": "1.00", "expires": {"days": 30}},
    {"type": "milestone", "orders": 2, "credit": "5.00", "expires": {"days": 60}},
    {"type": "referral", "percent": "10", "expires": {"days": 20}},
]


def cents(n: int) -> str:
    return f"{n // 100}.{n % 100:02d}"


def minor(money: dict[str, str]) -> int:
    whole, _, part = money["amount"].partition(".")
    return int(whole) * 100 + int(part or 0)


FULL = -1  # a refund of the order's whole total
who = st.sampled_from([0, 0, 1])  # 0: the buyer (most steps), 1: their friend (the referrer)
order_number = st.integers(0, max(ORDERS) - 1)
steps = st.lists(
    st.one_of(
        st.tuples(who, st.just("apply"), order_number, st.integers(1, 6_000), st.booleans()),
        st.tuples(who, st.just("pay"), order_number, st.integers(0, 2), st.booleans()),
        st.tuples(
            who,
            st.just("refund"),
            order_number,
            st.one_of(st.just(FULL), st.integers(1, 12_000)),
            st.sampled_from(["original", "store_credit"]),
        ),
        st.tuples(who, st.just("cancel"), order_number),
        st.tuples(who, st.just("release"), order_number),
    ),
    min_size=1,
    max_size=16,
)
# Each order's total (what is charged after store credit), the same in every event for it.
totals = st.tuples(*(st.lists(st.integers(0, 12_000), min_size=n, max_size=n) for n in ORDERS))


@dataclass
class Order:
    """What the test knows of one order from the service's answers: the credit its checkout
    captured at apply, the credit it spent, the refunds accepted."""

    total: int
    seen: bool = False  # an event was sent (a checkout may only be applied before that)
    paid: bool = False
    cancelled: bool = False
    captured_at_apply: int = 0
    spent: int = 0  # credit the order spent (captured at payment, or claimed from its checkout)
    refunded_original: int = 0
    refunded_credit: int = 0

    def credit_kept(self) -> int:
        """Once cancelled, how much of the credit it spent does not come back. A card refund
        gives back credit in proportion to how the order was paid; the cancel gives back the
        rest of the order's value not yet refunded, credit first. So the spent credit stays
        spent only as far as the refunds as new credit, with the card's share of the card
        refunds, went past what the card paid."""
        value = self.total + self.spent
        if not self.spent:
            return 0
        by_card = min(self.spent, (2 * self.refunded_original * self.spent + value) // (2 * value))
        card_share = self.refunded_original - by_card
        return min(self.spent - by_card, max(0, self.refunded_credit + card_share - self.total))


@dataclass
class Story:
    """A buyer and their friend (who referred them), each with goodwill, and their orders."""

    api: Api
    hook: OrderWebhook
    totals: tuple[list[int], list[int]]
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    orders: list[list[Order]] = field(default_factory=list)
    refunds_as_credit: list[int] = field(default_factory=lambda: [0, 0])

    def __post_init__(self) -> None:
        self.orders = [[Order(t) for t in ts] for ts in self.totals]

    def customer(self, c: int) -> str:
        return f"{('buyer', 'friend')[c]}_{self.tag}"

    def body(self, c: int, n: int, products: int = 0, gift: bool = False, **extra: Any) -> dict[str, Any]:
        total = self.orders[c][n].total
        items: list[dict[str, Any]] = [{"id": "shoe", "quantity": 1, "unit_price": cents(total)}]
        if products:  # a store-credit product: credit the order gives, taken back when cancelled
            product = {"id": "gc", "quantity": products, "unit_price": "2.00", "store_credit_product": True}
            if gift:
                product["recipient_customer_id"] = self.customer(1 - c)
            items.append(product)
        return {
            "id": f"{self.customer(c)}_o{n}",
            "checkout_id": f"{self.customer(c)}_chk{n}",
            "customer_id": self.customer(c),
            "currency": "USD",
            "total": cents(total),
            "items": items,
            **({"referrer_customer_id": self.customer(1)} if c == 0 else {}),
            **extra,
        }

    def event(self, event_type: str, body: dict[str, Any]) -> dict[str, Any] | None:
        response = self.hook.send(event_type, body)
        assert response.status in (200, 409, 422), response.json()
        answer = response.json()
        return answer if response.status == 200 and answer["outcome"] == "applied" else None

    def apply(self, c: int, n: int, amount: int, capture: bool) -> None:
        orders = self.orders[c]
        unseen = [m % len(orders) for m in range(n, n + len(orders)) if not orders[m % len(orders)].seen]
        if not unseen:
            return
        n = unseen[0]  # the next order whose checkout still comes before it
        cart = {"currency": "USD", "items": [{"id": "shoe", "quantity": 1, "unit_price": "60.00"}]}
        body = {
            "checkout_id": f"{self.customer(c)}_chk{n}",
            "customer_id": self.customer(c),
            "cart": cart,
            "requested_amount": cents(amount),
            "capture": capture,
        }
        response = self.api.post("/v1/checkout/apply", body, key=None)
        assert response.status in (200, 409, 422), response.json()
        if response.status == 200:
            answer = response.json()
            orders[n].captured_at_apply = minor(answer["applied"]) if answer["captured"] else 0

    def pay(self, c: int, n: int, products: int = 0, gift: bool = False) -> None:
        order = self.orders[c][n]
        order.seen = True
        answer = self.event("order.paid", self.body(c, n, products, gift))
        if answer is not None:
            order.paid, order.spent = True, minor(answer["captured"])

    def refund(self, c: int, n: int, amount: int, to: str) -> None:
        order = self.orders[c][n]
        order.seen = True
        amount = order.total if amount == FULL else amount
        if amount == 0:
            return
        answer = self.event("order.refunded", self.body(c, n, refund={"amount": cents(amount), "to": to}))
        if answer is None:
            return
        if to == "original":
            order.refunded_original += amount
            return
        order.refunded_credit += amount
        (issued,) = answer["issued"]  # the refund, as new credit to the buyer
        assert (issued["customer_id"], issued["kind"]) == (self.customer(c), "refund"), answer
        self.refunds_as_credit[c] += minor(issued["amount"])

    def cancel(self, c: int, n: int) -> None:
        order = self.orders[c][n]
        order.seen = True
        if self.event("order.cancelled", self.body(c, n)) is not None:
            if not order.paid:  # the checkout's captured credit is the order's, returned now
                order.spent = order.captured_at_apply
            order.cancelled = True

    def release(self, c: int, n: int) -> None:
        response = self.api.write("DELETE", f"/v1/checkout/{self.customer(c)}_chk{n}", None, key=None)
        assert response.status in (200, 404), response.json()

    def run(self, step: tuple[Any, ...]) -> None:
        c, kind, n, *rest = step
        n %= len(self.orders[c])
        getattr(self, kind)(c, n, *rest)

    def expected(self, c: int) -> int:
        return GOODWILL + self.refunds_as_credit[c] - sum(order.credit_kept() for order in self.orders[c])


@pytest.fixture(scope="module")
def shop() -> Iterator[tuple[Api, OrderWebhook, Merchant]]:
    with moto_shop("cycleshop") as (api, hook, merchant):
        assert api.put("/v1/settings", {"earning_rules": RULES}).status == 200
        yield api, hook, merchant


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(totals=totals, story=steps)
# A reward spent on a second order; the final cancels undo the first order, then the second.
@example(
    totals=([10_000, 0, 0], [0, 0]),
    story=[(0, "pay", 0, 0, False), (0, "apply", 1, 500, False), (0, "pay", 1, 0, False)],
)
# A store-credit product held by the next checkout when its order is cancelled (found by this test).
@example(
    totals=([316, 0, 0], [0, 0]),
    story=[(0, "apply", 0, 5_999, False), (0, "pay", 0, 2, False), (0, "apply", 0, 1, False)],
)
# A refund as credit that overtakes the payment of an order captured at apply, then a cancel.
@example(totals=([5_000, 0, 0], [0, 0]), story=[(0, "apply", 0, 1_000, True), (0, "refund", 0, 1_000, "store_credit")])
def test_once_every_order_is_cancelled_each_customer_has_their_goodwill_and_refunds_as_credit(
    shop: tuple[Api, OrderWebhook, Merchant], totals: tuple[list[int], list[int]], story: list[tuple[Any, ...]]
) -> None:
    api, hook, merchant = shop
    # Given a buyer and the friend who referred them, each with goodwill credit, in a shop that
    # rewards orders and referrals
    shop_story = Story(api, hook, totals)
    customers = [shop_story.customer(c) for c in (0, 1)]
    for customer in customers:
        assert api.issue(customer, cents(GOODWILL)).status == 201
    # When their orders pay (giving each other credit), spend, refund and cancel in any order
    for step in story:
        shop_story.run(step)
        for customer in customers:
            audit_wallet(merchant.merchant_id, customer, "USD").assert_consistent()
    # and then every order is cancelled and every checkout let go
    for c, orders in enumerate(shop_story.orders):
        for n in range(len(orders)):
            shop_story.cancel(c, n)
            shop_story.release(c, n)
    # Then each has the goodwill and the refunds issued to them as credit, less the spent credit
    # those refunds gave back already, all of it spendable: no reward or product outlives its
    # order, and no credit an order spent is lost or returned twice. Credit a cancelled order is
    # owed is paid by what comes back first; only where refunds as new credit covered the credit
    # spent does some stay spent, and the debt stays recorded (the merchant chose that refund)
    for c, customer in enumerate(customers):
        wallet = api.wallet(customer).json()
        expected = cents(shop_story.expected(c) + owed_back(merchant.merchant_id, customer, "USD"))
        assert (wallet["balance"]["amount"], wallet["available"]["amount"]) == (expected, expected), (
            f"customer {c}: {totals} {story}"
        )
        audit_wallet(merchant.merchant_id, customer, "USD").assert_consistent()
