"""Merchant settings: read, merge-update (write-only webhook secret), and merchant creation."""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import ValidationError

from store_credit import wallet_store
from store_credit.auth import SCOPES, Caller, hash_api_key, new_api_key, new_webhook_secret
from store_credit.clock import resolve_expiry
from store_credit.errors import DomainError, InvalidInput, WriteConflict, field_errors
from store_credit.idempotency import ApiResult, guarded_write
from store_credit.models import Settings, SettingsOut, SettingsUpdate


def _render(record: wallet_store.MerchantSettingsRecord | None) -> dict[str, Any]:
    settings = Settings.model_validate(record.document) if record else Settings()
    out = SettingsOut(**settings.model_dump(), webhook_secret_set=bool(record and record.webhook_secret))
    return out.model_dump(mode="json")


def show_settings(caller: Caller) -> dict[str, Any]:
    return _render(wallet_store.load_settings(caller.merchant_id))


def merge(current: dict[str, Any], update: SettingsUpdate) -> dict[str, Any]:
    """Fields given replace theirs (``null`` clears ``default_expiry``); the rest stay."""
    changes = update.model_dump(mode="json", exclude_unset=True, exclude={"webhook_secret"})
    merged = {**current, **changes}
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as error:
        raise InvalidInput.of(field_errors(error.errors(), root="settings")) from None
    # An expiry date already over, as a default or a rule's, would make every credit issued
    # under it fail (issues without `expires`, refunds as credit, and order.paid with its
    # rewards): refused here, where the merchant sets it, as issuing credit refuses one.
    now = int(time.time())
    expiries = []
    if "default_expiry" in changes and settings.default_expiry is not None:
        expiries.append(("default_expiry", settings.default_expiry))
    if "earning_rules" in changes:
        expiries += [
            (f"earning_rules.{i}.expires", r.expires) for i, r in enumerate(settings.earning_rules) if r.expires
        ]
    for field, spec in expiries:
        resolve_expiry(spec.never, spec.days, spec.on, issued_at=now, tz_name=settings.timezone, field=field)
    return settings.model_dump(mode="json")


def update_settings(caller: Caller, update: SettingsUpdate, idempotency_key: str, request_hash: str) -> ApiResult:
    def attempt() -> ApiResult:
        record = wallet_store.load_settings(caller.merchant_id)
        document = merge(record.document if record else {}, update)
        old_secret = record.webhook_secret if record else None
        secret = update.webhook_secret or old_secret
        body = _render(wallet_store.MerchantSettingsRecord(document, 0, secret))
        now = int(time.time())
        rotating = update.webhook_secret is not None and old_secret is not None and old_secret != secret
        wallet_store.put_settings(
            caller.merchant_id,
            document,
            expected_version=record.version if record else 0,
            webhook_secret=secret,
            # A rotation keeps the old secret, accepted for a day, so in-flight webhooks still verify.
            previous_webhook_secret=old_secret if rotating else (record.previous_webhook_secret if record else None),
            rotated_at=now if rotating else (record.rotated_at if record else None),
            idempotency=wallet_store.IdempotentWrite(
                caller.merchant_id, idempotency_key, request_hash, 200, json.dumps(body), now
            ),
        )
        return ApiResult(status=200, body=body)

    return guarded_write(
        attempt, lambda: wallet_store.get_idempotency_record(caller.merchant_id, idempotency_key), request_hash
    )


def create_merchant(
    merchant_id: str,
    *,
    api_key: str | None = None,
    webhook_secret: str | None = None,
    scopes: tuple[str, ...] = SCOPES,
    key_prefix: str = "sk_live",
) -> dict[str, Any]:
    """Create a merchant with default settings and one API key. Used by the admin CLI and the
    local stack; fails if the merchant exists (its settings item is the existence marker)."""
    if not merchant_id or not merchant_id.replace("_", "").replace("-", "").isalnum() or len(merchant_id) > 64:
        raise InvalidInput.on("merchant_id", "1 to 64 letters, digits, '-' or '_'")
    api_key = api_key or new_api_key(key_prefix)
    webhook_secret = webhook_secret or new_webhook_secret()
    try:
        wallet_store.put_settings(
            merchant_id,
            Settings().model_dump(mode="json"),
            expected_version=0,
            webhook_secret=webhook_secret,
            idempotency=None,
        )
    except WriteConflict:
        raise DomainError(detail=f"merchant {merchant_id!r} already exists") from None
    key_hash = hash_api_key(api_key)
    wallet_store.put_api_key(
        key_hash, merchant_id=merchant_id, scopes=list(scopes), key_id=key_hash[:12], now=int(time.time())
    )
    return {"merchant_id": merchant_id, "api_key": api_key, "webhook_secret": webhook_secret, "scopes": list(scopes)}
