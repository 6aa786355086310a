"""Every event the service emits matches its schema in shared/events/ (regenerate: make schemas)."""

from __future__ import annotations

from store_credit.event_schemas import DETAILS
from store_credit.ledger_events import hold_event, ledger_event
from store_credit.wallet import Wallet, debit, issue_credit, place_hold, settle_due
from tests.harness.event_schemas import OUTPUT, render

NOW = 1_800_000_000


def test_committed_schemas_match_the_models() -> None:
    for name, text in render().items():
        assert (OUTPUT / name).read_text() == text, f"{name} is stale: run `make schemas`"


def test_ledger_and_hold_events_validate_against_their_schemas() -> None:
    from store_credit.expiry_service import expiring_events
    from store_credit.wallet_store import HoldRecord, _hold_record_item

    issued = issue_credit(
        Wallet("m", "c", "USD"), amount=500, reason="r", actor="t", now_ms=NOW * 1000, expires_at=NOW + 86_400
    )
    debited = debit(issued.after, amount=100, reason="r", actor="t", now_ms=NOW * 1000 + 1)
    for change in (issued, debited):
        event = ledger_event("m", "c", change.entry)
        assert event is not None
        DETAILS[event["DetailType"]].model_validate(event["Detail"], strict=True)

    record = HoldRecord("m", "chk", "c", "USD", "open", 200, "f", "{}", NOW + 3600, NOW * 1000)
    event = hold_event(_hold_record_item(record))
    assert event is not None and event["DetailType"] == "credit.applied"
    DETAILS["credit.applied"].model_validate(event["Detail"], strict=True)

    held = place_hold(
        debited.after,
        checkout_id="chk",
        allocations=(("lot_1", 100),),
        expires_at=NOW + 60,
        fingerprint="f",
        now_ms=NOW * 1000,
    )
    work = settle_due(held, now=NOW + 1)
    for notice in expiring_events(held, work):
        DETAILS["credit.expiring"].model_validate(notice["Detail"], strict=True)
    assert work.notices
