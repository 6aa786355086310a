"""The wallet item's size limits: lots stop at 390,000 bytes, and records of credit owed back
to orders have room of their own so a cancel on a full wallet can still record its debt."""

from __future__ import annotations

import pytest

from store_credit.errors import WalletFull
from store_credit.lots import Lot
from store_credit.wallet import OwedBack, Wallet
from store_credit.wallet_store import MAX_WALLET_ITEM_BYTES, item_size, wallet_to_item


def wallet(lots: int, owed: int) -> Wallet:
    """``lots`` plain lots, and ``owed`` records of credit owed from lots already spent."""
    return Wallet(
        "m",
        "ann",
        "USD",
        version=1,
        lots={f"lot_{n}": Lot(f"lot_{n}", 100, 100, 1_800_000_000, "manual") for n in range(lots)},
        owed_back={f"spent_{n}": OwedBack("ord_" + "9" * 30, 100, "Order cancelled") for n in range(owed)},
    )


def lots_filling_the_wallet() -> int:
    """The most plain lots that fit under the limit for lots (their ids grow: search for it)."""
    low, high = 1, 20_000
    while low < high:
        middle = (low + high + 1) // 2
        if item_size(wallet_to_item(wallet(middle, 0), room=10**9)) <= MAX_WALLET_ITEM_BYTES:
            low = middle
        else:
            high = middle - 1
    return low


def test_a_full_wallet_still_takes_records_of_credit_owed_back() -> None:
    # Given a wallet whose lots fill all the room lots may take
    full = lots_filling_the_wallet()
    with pytest.raises(WalletFull):
        wallet_to_item(wallet(full + 1, 0))
    # When cancelled orders record what it owes them (40 records)
    item = wallet_to_item(wallet(full, 40))
    # Then it is written, still well under DynamoDB's 409,600 bytes
    assert item_size(item) < 404_000


def test_records_of_credit_owed_have_bounded_room_on_a_full_wallet() -> None:
    full = lots_filling_the_wallet()
    with pytest.raises(WalletFull):
        wallet_to_item(wallet(full, 200))


def test_a_wallet_with_room_to_spare_takes_many_records_of_credit_owed() -> None:
    # A wallet of few lots: its records may use the room lots do not
    assert item_size(wallet_to_item(wallet(300, 300))) > 20_000


def test_announcing_every_lot_of_a_full_wallet_still_fits() -> None:
    from dataclasses import replace

    from store_credit.wallet import settle_due
    from store_credit.wallet_store import DYNAMODB_ITEM_BYTES, wallet_from_item

    # Given a wallet whose plain lots, all expiring on one day, fill all the room lots may take
    expires_at = 1_900_000_000

    def expiring(lots: int) -> Wallet:
        plain = wallet(lots, 0)
        return replace(plain, lots={k: replace(lot, expires_at=expires_at) for k, lot in plain.lots.items()})

    low, high = 1, 20_000
    while low < high:
        middle = (low + high + 1) // 2
        if item_size(wallet_to_item(expiring(middle), room=10**9)) <= MAX_WALLET_ITEM_BYTES:
            low = middle
        else:
            high = middle - 1
    brim = expiring(low)
    wallet_to_item(brim)

    # When the expiry job announces them all, a day before they expire
    work = settle_due(brim, now=expires_at - 86_400)
    assert len(work.notices) == len(brim.lots)

    # Then its write fits (refused, the job would fail on this wallet every run for a week, and
    # never reach the wallets after it on the index), and the marks read back
    item = wallet_to_item(work.after, room=DYNAMODB_ITEM_BYTES)
    back = wallet_from_item(item)
    assert all(lot.expiring_notified and lot.expires_at == expires_at for lot in back.lots.values())
    assert item_size(item) <= item_size(wallet_to_item(brim))
