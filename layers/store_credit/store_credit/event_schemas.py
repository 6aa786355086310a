"""The ``detail`` of every event the service puts on its bus, as pydantic models: the source of
the JSON Schema files shipped in ``shared/events/`` (consumers such as a notifier build on them)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MoneyDetail(BaseModel):
    amount: str = Field(description="Decimal string with the currency's decimals")
    currency: str


class LedgerEventDetail(BaseModel):
    """credit.issued, credit.debited, credit.captured, credit.refunded, credit.expired,
    credit.renewed: one per ledger entry. De-duplicate on ``entry_id``."""

    merchant_id: str
    customer_id: str | None = Field(description="None when the wallet is a store-credit code")
    code: str | None
    entry_id: str
    type: str
    amount: MoneyDetail = Field(description="Signed: negative when credit leaves the wallet")
    balance_after: MoneyDetail
    reason: str
    source: str | None
    order_id: str | None
    notify: bool | None
    expires_at: str | None
    created_at: str


class HoldEventDetail(BaseModel):
    """credit.applied (a checkout's hold placed or replaced) and credit.released. A hold is not a
    ledger entry (no balance changes): de-duplicate on ``event_id``, the same for every delivery
    of one write of the checkout."""

    merchant_id: str
    customer_id: str | None
    code: str | None
    checkout_id: str
    amount: MoneyDetail
    expires_at: str | None
    updated_at: str
    event_id: str


class ExpiringEventDetail(BaseModel):
    """credit.expiring: a lot expires within the notice window. De-duplicate on ``notice_id``."""

    merchant_id: str
    customer_id: str | None
    code: str | None
    lot_id: str
    amount: MoneyDetail
    expires_at: str
    notice_id: str


DETAILS: dict[str, type[BaseModel]] = {
    "credit.issued": LedgerEventDetail,
    "credit.debited": LedgerEventDetail,
    "credit.captured": LedgerEventDetail,
    "credit.refunded": LedgerEventDetail,
    "credit.expired": LedgerEventDetail,
    "credit.renewed": LedgerEventDetail,
    "credit.applied": HoldEventDetail,
    "credit.released": HoldEventDetail,
    "credit.expiring": ExpiringEventDetail,
}
