"""Customer emails for credit received and credit about to expire. Deductions are never
announced (SHOPLINE's rule). ``compose`` decides and writes; ``mailer`` hands it to SES."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from store_credit.models import Settings

NOTIFIED = {"credit.issued", "credit.expiring"}


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    body: str


def compose(detail_type: str, detail: dict[str, Any], settings: Settings, email: str | None) -> Email | None:
    """The email this event owes the customer, or None. The merchant's ``notifications.email``
    setting decides; a credit issued with ``notify`` true or false overrides it."""
    if detail_type not in NOTIFIED or email is None or detail.get("customer_id") is None:
        return None
    wanted = settings.notifications.email
    if detail_type == "credit.issued" and detail.get("notify") is not None:
        wanted = bool(detail["notify"])
    if not wanted:
        return None
    amount = f"{detail['amount']['amount']} {detail['amount']['currency']}"
    if detail_type == "credit.issued":
        lines = [f"You received {amount} in store credit.", f"Reason: {detail.get('reason')}."]
        if detail.get("balance_after"):
            balance = detail["balance_after"]
            lines.append(f"Your store credit balance is now {balance['amount']} {balance['currency']}.")
        if detail.get("expires_at"):
            lines.append(f"This credit expires at {detail['expires_at']}.")
        return Email(email, f"You received {amount} in store credit", "\n".join(lines))
    return Email(
        email,
        f"{amount} of your store credit expires soon",
        f"{amount} of your store credit expires at {detail['expires_at']}. Use it before then.",
    )


def notify(detail_type: str, detail: dict[str, Any]) -> Email | None:
    """Look up the merchant's settings and the customer's email, compose, send."""
    from store_credit import mailer, wallet_store
    from store_credit.wallet_service import settings_of

    record, email = wallet_store.load_settings_and_email(detail["merchant_id"], detail.get("customer_id"))
    message = compose(detail_type, detail, settings_of(record), email)
    if message is None:
        return None
    # Events arrive at least once (a redelivered stream record is published again, the expiry
    # job announces a notice again when its write must be retried): one email per entry/notice.
    notice_id = f"{detail_type}/{detail.get('notice_id') or detail['entry_id']}"
    if not wallet_store.claim_notice(detail["merchant_id"], notice_id, int(time.time())):
        return None
    try:
        mailer.send(message.to, message.subject, message.body)
    except Exception:
        wallet_store.unclaim_notice(detail["merchant_id"], notice_id)
        raise
    return message
