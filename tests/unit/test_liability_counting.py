"""Which day and which counter of the liability report a ledger entry counts in (pure rules)."""

from __future__ import annotations

from store_credit.clock import local_day
from store_credit.ledger_events import liability_moment_ms
from store_credit.wallet import TAKE_BACK_ACTOR, LedgerEntry, liability_counter

EXPIRES_AT = 1_764_547_199  # 2025-11-30T23:59:59Z


def entry(kind: str, created_ms: int, *, actor: str = "system:expiry", expires_at: int | None = None) -> LedgerEntry:
    return LedgerEntry(
        entry_id="e",
        seq=1,
        type=kind,
        amount=-100,
        balance_after=0,
        currency="USD",
        reason="r",
        actor=actor,
        created_ms=created_ms,
        expires_at=expires_at,
    )


def test_an_expiry_the_job_wrote_just_after_midnight_counts_on_the_lots_day() -> None:
    late = entry("expiry", (EXPIRES_AT + 180) * 1000, expires_at=EXPIRES_AT)
    assert local_day(liability_moment_ms(late), "UTC") == "2025-11-30"
    # and in the merchant's timezone (UTC-5 here: the lot expired at 23:59:59 local)
    local_expiry = EXPIRES_AT + 5 * 3600
    assert (
        local_day(
            liability_moment_ms(entry("expiry", (local_expiry + 60) * 1000, expires_at=local_expiry)),
            "America/New_York",
        )
        == "2025-11-30"
    )


def test_credit_that_lapses_long_after_its_lot_counts_when_it_lapsed() -> None:
    days_later = entry("expiry", (EXPIRES_AT + 2 * 86_400) * 1000, expires_at=EXPIRES_AT)
    assert local_day(liability_moment_ms(days_later), "UTC") == "2025-12-02"
    debit = entry("debit", (EXPIRES_AT + 180) * 1000, actor="api_key:k", expires_at=None)
    assert liability_moment_ms(debit) == debit.created_ms


def test_what_a_cancelled_order_takes_back_is_not_redeemed() -> None:
    assert liability_counter(entry("debit", 0, actor=TAKE_BACK_ACTOR)) == "taken_back"
    assert liability_counter(entry("debit", 0, actor="api_key:k")) == "redeemed"
    assert liability_counter(entry("debit", 0, actor="import:imp_1")) == "redeemed"
    assert liability_counter(entry("capture", 0, actor=TAKE_BACK_ACTOR)) == "redeemed"
    assert liability_counter(entry("refund", 0, actor=TAKE_BACK_ACTOR)) == "redeemed"
    assert liability_counter(entry("expiry", 0)) == "expired"
    assert liability_counter(entry("credit", 0, actor=TAKE_BACK_ACTOR)) is None
