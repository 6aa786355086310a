"""Customer emails: credit received and credit expiring, when the merchant turns them on;
never for deductions. The tests read what SES (moto) was asked to send."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from store_credit.ledger_events import ledger_event
from store_credit.models import Settings
from store_credit.notifications import compose
from store_credit.wallet import Wallet, debit, issue_credit
from tests.harness import template
from tests.harness.api_client import Api, Merchant
from tests.harness.faults import recorded_params
from tests.harness.gateway import invoke

NOW_MS = 1_800_000_000_000


def detail(**changes: Any) -> dict[str, Any]:
    change = issue_credit(Wallet("acme", "ann", "USD"), amount=2500, reason="Refund", actor="t", now_ms=NOW_MS)
    event = ledger_event("acme", "ann", change.entry)
    assert event is not None
    return {**event["Detail"], **changes}


ON = Settings.model_validate({"notifications": {"email": True}})
OFF = Settings()


def test_credit_received_is_announced_when_the_merchant_turns_emails_on() -> None:
    message = compose("credit.issued", detail(), ON, "ann@example.com")
    assert message is not None
    assert message.to == "ann@example.com"
    assert "25.00 USD" in message.subject
    assert compose("credit.issued", detail(), OFF, "ann@example.com") is None


def test_notify_on_the_credit_overrides_the_merchant_setting() -> None:
    assert compose("credit.issued", detail(notify=True), OFF, "ann@example.com") is not None
    assert compose("credit.issued", detail(notify=False), ON, "ann@example.com") is None


def test_no_email_for_deductions_codes_or_customers_without_an_address() -> None:
    wallet = issue_credit(Wallet("acme", "ann", "USD"), amount=2500, reason="r", actor="t", now_ms=NOW_MS).after
    debited = ledger_event("acme", "ann", debit(wallet, amount=100, reason="r", actor="t", now_ms=NOW_MS + 1).entry)
    assert debited is not None
    assert compose("credit.debited", debited["Detail"], ON, "ann@example.com") is None
    assert compose("credit.issued", detail(customer_id=None, code="GIFT"), ON, "ann@example.com") is None
    assert compose("credit.issued", detail(), ON, None) is None


def sent_emails() -> list[Any]:
    from moto.ses.models import ses_backends

    return list(ses_backends["123456789012"]["us-east-1"].sent_messages)


def verify_sender() -> None:
    boto3.client("sesv2", region_name="us-east-1").create_email_identity(EmailIdentity="credit@shop.example")


def issued_event(api: Api, merchant: Merchant) -> dict[str, Any]:
    """25.00 issued to ann (with her email) and the credit.issued event the bus carries for it."""
    issued = api.issue("ann", "25.00", email="ann@example.com").json()["transaction"]
    return {
        "detail-type": "credit.issued",
        "source": "store-credit",
        "detail": {**detail(), "merchant_id": merchant.merchant_id, "entry_id": issued["id"]},
    }


@pytest.mark.parametrize("setting", [True, False])
def test_the_notifier_sends_through_ses_what_the_merchant_wants(api: Api, merchant: Merchant, setting: bool) -> None:
    verify_sender()
    api.put("/v1/settings", {"notifications": {"email": setting}})
    event = issued_event(api, merchant)
    result = invoke(template.function_dir("NotifierFunction"), event)
    assert result == {"sent": setting}
    emails = sent_emails()
    assert len(emails) == (1 if setting else 0)
    if setting:
        assert emails[0].destinations == {"ToAddresses": ["ann@example.com"]}
        assert "25.00 USD" in emails[0].subject


def test_an_event_delivered_twice_emails_the_customer_once(api: Api, merchant: Merchant) -> None:
    # Given emails on and 25.00 issued to ann, its credit.issued event
    verify_sender()
    api.put("/v1/settings", {"notifications": {"email": True}})
    event = issued_event(api, merchant)

    # When the bus delivers it twice (a redelivered stream record is published again; delivery
    # is at least once)
    first = invoke(template.function_dir("NotifierFunction"), event)
    second = invoke(template.function_dir("NotifierFunction"), event)

    # Then ann gets one email, not two
    assert first == {"sent": True}
    assert second == {"sent": False}
    assert len(sent_emails()) == 1


def test_an_expiring_notice_published_again_emails_once(api: Api, merchant: Merchant) -> None:
    # Given emails on and a credit.expiring notice for ann's lot
    verify_sender()
    api.put("/v1/settings", {"notifications": {"email": True}})
    api.issue("ann", "25.00", email="ann@example.com", expires={"days": 3})
    notice = {
        "merchant_id": merchant.merchant_id,
        "customer_id": "ann",
        "code": None,
        "lot_id": "lot_1",
        "amount": {"amount": "25.00", "currency": "USD"},
        "expires_at": "2030-01-01T23:59:59+00:00",
        "notice_id": f"{merchant.merchant_id}/ann/USD/lot_1",
    }
    event = {"detail-type": "credit.expiring", "source": "store-credit", "detail": notice}

    # When the expiry job publishes it again (its write met a conflict and it retried the wallet)
    for _ in range(2):
        invoke(template.function_dir("NotifierFunction"), event)

    # Then the customer is told once
    assert len(sent_emails()) == 1


def test_an_email_ses_refused_is_sent_when_the_event_is_retried(api: Api, merchant: Merchant) -> None:
    # Given emails on and a credit.issued event for ann, and SES failing once
    api.put("/v1/settings", {"notifications": {"email": True}})
    event = issued_event(api, merchant)
    with pytest.raises(Exception):  # noqa: B017 - the sender identity is not verified yet
        invoke(template.function_dir("NotifierFunction"), event)

    # When the bus retries it once SES accepts mail
    verify_sender()
    assert invoke(template.function_dir("NotifierFunction"), event) == {"sent": True}

    # Then the email is sent: de-duplication never swallows a notice that was not sent
    assert len(sent_emails()) == 1


def test_the_notifier_reads_the_customers_email_consistently(api: Api, merchant: Merchant) -> None:
    # Given emails on and credit issued to ann (whose personal data may be erased at any moment)
    verify_sender()
    api.put("/v1/settings", {"notifications": {"email": True}})
    event = issued_event(api, merchant)
    # When the notifier handles the event, recording its BatchGetItem calls
    with recorded_params("BatchGetItem") as reads:
        assert invoke(template.function_dir("NotifierFunction"), event) == {"sent": True}

    # Then the profile is read consistently: an eventually consistent read just after an
    # erasure could still return the erased email, and the customer would be emailed at it
    assert reads and all(keys.get("ConsistentRead") for r in reads for keys in r["RequestItems"].values())
