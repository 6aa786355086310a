"""Credit operations behind the API: issue, debit, show the wallet, list the ledger.

Each write is: one consistent read (settings + wallet, one round trip), a pure decision in
``wallet``, and one ``TransactWriteItems`` holding the wallet (conditioned on its version),
the ledger entry and the idempotency record — retried whole on a version conflict.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

from store_credit import wallet_store
from store_credit.auth import Caller
from store_credit.clock import end_of_local_day, epoch_seconds_up, resolve_expiry
from store_credit.errors import InvalidInput, NotFound
from store_credit.idempotency import ApiResult, guarded_write
from store_credit.lots import Restrictions
from store_credit.models import DebitRequest, ExpirySpec, IssueCreditRequest, Settings
from store_credit.money import exponent
from store_credit.views import entry_json, wallet_json, wallet_summary_json
from store_credit.wallet import Wallet, WalletChange, debit, issue_credit

DEFAULT_PAGE = 25
MAX_PAGE = 100
_CURSOR = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


def settings_of(record: wallet_store.MerchantSettingsRecord | None) -> Settings:
    return Settings.model_validate(record.document) if record else Settings()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _write_change(
    caller: Caller,
    customer_id: str,
    currency: str,
    *,
    idempotency_key: str,
    request_hash: str,
    decide: Any,
    status: int,
    email: str | None = None,
    phone: str | None = None,
) -> ApiResult:
    def attempt() -> ApiResult:
        record, stored = wallet_store.load_settings_and_wallet(caller.merchant_id, customer_id, currency)
        settings = settings_of(record)
        wallet = stored or Wallet(caller.merchant_id, customer_id, currency)
        now_ms = _now_ms()
        change: WalletChange = decide(wallet, settings, now_ms)
        body = {
            "transaction": entry_json(change.entry, settings.timezone),
            "wallet": wallet_summary_json(change.after, settings.timezone, now_ms // 1000),
        }
        idempotency = wallet_store.IdempotentWrite(
            merchant_id=caller.merchant_id,
            key=idempotency_key,
            request_hash=request_hash,
            status=status,
            body=json.dumps(body, separators=(",", ":")),
            now=now_ms // 1000,
        )
        wallet_store.commit_wallet_change(change, idempotency, email=email, phone=phone)
        return ApiResult(status=status, body=body)

    return guarded_write(
        attempt,
        lambda: wallet_store.get_idempotency_record(caller.merchant_id, idempotency_key),
        request_hash,
    )


def default_expiry_over(settings: Settings, issued_at: int) -> bool:
    """Whether the merchant's default expiry is a fixed date already over: in the future when
    the merchant set it (``PUT /v1/settings`` refuses a past one), it has passed since."""
    default = settings.default_expiry
    return default is not None and expiry_date_over(default, settings, issued_at)


def expiry_for(spec: ExpirySpec | None, settings: Settings, issued_at: int) -> int | None:
    """When credit issued now expires: ``spec``, else the merchant's default, else never. A
    request that relies on a default whose date is over is refused on that setting (a 422 the
    caller can act on: send ``expires``, or change the setting), not on a field it never sent."""
    if spec is None and default_expiry_over(settings, issued_at):
        on = settings.default_expiry.on if settings.default_expiry else None
        raise InvalidInput.on(
            "settings.default_expiry.on",
            f"the merchant's default expiry {on} has already ended in {settings.timezone}: "
            "send `expires`, or change `default_expiry` with PUT /v1/settings",
        )
    chosen = spec if spec is not None else settings.default_expiry
    if chosen is None:
        return None
    return resolve_expiry(chosen.never, chosen.days, chosen.on, issued_at=issued_at, tz_name=settings.timezone)


def owed_expiry_for(spec: ExpirySpec | None, settings: Settings, issued_at: int) -> int | None:
    """``expiry_for`` for credit the service issues with no caller to answer (order events,
    renewal grants, import rows already accepted): a default whose date is over counts as no
    default, so the credit never expires. Refused, a refund or a reward would be lost (order
    systems do not retry a 422) and a renewal period passed over for good."""
    if spec is None and default_expiry_over(settings, issued_at):
        from store_credit.observability import logger  # not at import: Powertools loads boto3

        on = settings.default_expiry.on if settings.default_expiry else None
        logger.warning("default expiry over: credit issued without one", extra={"default_expiry_on": str(on)})
        return None
    return expiry_for(spec, settings, issued_at)


def expiry_date_over(spec: ExpirySpec, settings: Settings, issued_at: int) -> bool:
    """Whether ``spec`` (a rule's or a plan's own expiry) is a fixed date already over: valid
    when it was set, it has passed since."""
    return bool(spec.on and end_of_local_day(spec.on, settings.timezone) <= issued_at)


def issue(
    caller: Caller, customer_id: str, request: IssueCreditRequest, idempotency_key: str, request_hash: str
) -> ApiResult:
    amount = request.amount.minor()
    valid_from = epoch_seconds_up(request.valid_from) if request.valid_from is not None else None
    restrictions = (
        Restrictions(
            product_ids=tuple(request.restrictions.product_ids), categories=tuple(request.restrictions.categories)
        )
        if request.restrictions
        else Restrictions()
    )

    def decide(wallet: Wallet, settings: Settings, now_ms: int) -> WalletChange:
        expires_at = expiry_for(request.expires, settings, now_ms // 1000)
        if valid_from is not None and expires_at is not None and valid_from >= expires_at:
            raise InvalidInput.on("valid_from", "must be before the credit expires")
        return issue_credit(
            wallet,
            amount=amount,
            reason=request.reason,
            actor=caller.actor,
            now_ms=now_ms,
            source=request.source,
            expires_at=expires_at,
            valid_from=valid_from,
            restrictions=restrictions,
            note=request.note,
            idempotency_key=idempotency_key,
            notify=request.notify,
        )

    return _write_change(
        caller,
        customer_id,
        request.amount.currency,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        decide=decide,
        status=201,
        email=request.email,
        phone=request.phone,
    )


def deduct(
    caller: Caller, customer_id: str, request: DebitRequest, idempotency_key: str, request_hash: str
) -> ApiResult:
    amount = request.amount.minor()

    def decide(wallet: Wallet, settings: Settings, now_ms: int) -> WalletChange:
        if wallet.version == 0 and not wallet_store.customer_exists(caller.merchant_id, customer_id):
            raise NotFound(detail=f"no customer {customer_id!r}")
        return debit(
            wallet,
            amount=amount,
            reason=request.reason,
            actor=caller.actor,
            now_ms=now_ms,
            note=request.note,
            idempotency_key=idempotency_key,
        )

    return _write_change(
        caller,
        customer_id,
        request.amount.currency,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        decide=decide,
        status=201,
    )


def show_wallet(caller: Caller, customer_id: str, currency: str) -> dict[str, Any]:
    exponent(currency)
    record, wallet = wallet_store.load_settings_and_wallet(caller.merchant_id, customer_id, currency)
    if wallet is None:
        if not wallet_store.customer_exists(caller.merchant_id, customer_id):
            raise NotFound(detail=f"no customer {customer_id!r}")
        wallet = Wallet(caller.merchant_id, customer_id, currency)
    return wallet_json(wallet, settings_of(record).timezone, _now_ms() // 1000)


def encode_cursor(entry_id: str) -> str:
    return base64.urlsafe_b64encode(entry_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        entry_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        entry_id = ""
    if not _CURSOR.fullmatch(entry_id):
        raise InvalidInput.on("cursor", "not a cursor this API returned")
    return entry_id


def list_transactions(caller: Caller, customer_id: str, limit: int | None, cursor: str | None) -> dict[str, Any]:
    page = DEFAULT_PAGE if limit is None else limit
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput.on("limit", f"must be between 1 and {MAX_PAGE}")
    after = decode_cursor(cursor) if cursor else None
    entries, last = wallet_store.list_ledger(caller.merchant_id, customer_id, limit=page, after_entry_id=after)
    # An empty page, with a cursor too (one from another customer's or merchant's ledger): a
    # customer this merchant does not have is 404, never an empty page that suggests they exist.
    if not entries and not wallet_store.customer_exists(caller.merchant_id, customer_id):
        raise NotFound(detail=f"no customer {customer_id!r}")
    tz = settings_of(wallet_store.load_settings(caller.merchant_id)).timezone
    return {"items": [entry_json(e, tz) for e in entries], "next_cursor": encode_cursor(last) if last else None}
