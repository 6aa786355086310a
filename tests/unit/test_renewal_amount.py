"""Top-up renewal: what of the wallet counts as usable credit."""

from __future__ import annotations

from store_credit.lots import Lot
from store_credit.renewal import RenewalPlan, renewal_amount
from store_credit.wallet import OwedBack, Wallet

NOW = 1_800_000_000


def top_up(amount: int) -> RenewalPlan:
    return RenewalPlan("m", "ann", "USD", amount, "monthly", "top_up", "Renewal", None)


def wallet(*lots: Lot, owed: dict[str, OwedBack] | None = None) -> Wallet:
    return Wallet("m", "ann", "USD", version=1, lots={lot.lot_id: lot for lot in lots}, owed_back=owed or {})


def test_held_credit_counts_as_usable() -> None:
    held = Lot("lot_1", 1000, 1000, NOW - 10, "manual", held=600)
    assert renewal_amount(top_up(1000), wallet(held), NOW) == 0


def test_held_credit_in_a_lot_past_its_expiry_does_not_count() -> None:
    # Released, it lapses at once; captured, it is spent: either way not the buyer's to keep
    lapsed = Lot("lot_1", 1000, 600, NOW - 10, "manual", expires_at=NOW - 1, held=600)
    assert renewal_amount(top_up(1000), wallet(lapsed), NOW) == 1000


def test_held_credit_an_order_is_owed_does_not_count() -> None:
    held = Lot("lot_1", 1000, 1000, NOW - 10, "purchase", held=1000)
    owed = {"lot_1": OwedBack("ord_1", 400, "Order cancelled")}
    assert renewal_amount(top_up(1000), wallet(held, owed=owed), NOW) == 400


def test_credit_an_order_is_owed_left_unheld_by_a_write_at_its_limit_does_not_count() -> None:
    free = Lot("lot_1", 1000, 1000, NOW - 10, "purchase")
    owed = {"lot_1": OwedBack("ord_1", 1000, "Order cancelled")}
    assert renewal_amount(top_up(1000), wallet(free, owed=owed), NOW) == 1000


def test_credit_not_valid_yet_does_not_count() -> None:
    # 20.00 valid from the 5th cannot be spent on the 1st: a top-up to 50.00 grants 50.00
    later = Lot("lot_1", 2000, 2000, NOW - 10, "code", valid_from=NOW + 4 * 86_400)
    assert renewal_amount(top_up(5000), wallet(later), NOW) == 5000
    # once valid, it counts
    assert renewal_amount(top_up(5000), wallet(later), NOW + 5 * 86_400) == 3000
