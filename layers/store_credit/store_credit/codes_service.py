"""Create store-credit codes and show one."""

from __future__ import annotations

import json
import time
from typing import Any

from store_credit import wallet_store
from store_credit.auth import Caller
from store_credit.clock import epoch_seconds_up, iso
from store_credit.codes import code_of, holder_of, new_code
from store_credit.errors import InvalidInput, NotFound
from store_credit.idempotency import ApiResult, guarded_write
from store_credit.models import CreateCodesRequest
from store_credit.money import money_json
from store_credit.wallet import Wallet, email_lock, issue_credit
from store_credit.wallet_service import expiry_for, settings_of


def code_json(wallet: Wallet, tz: str, now: int) -> dict[str, Any]:
    currency = wallet.currency
    lots = list(wallet.lots.values())
    expiries = [lot.expires_at for lot in lots if lot.expires_at is not None]
    valid_froms = [lot.valid_from for lot in lots if lot.valid_from is not None]
    return {
        "code": code_of(wallet.customer_id),
        "currency": currency,
        "balance": money_json(wallet.balance, currency),
        "available": money_json(wallet.available(now), currency),
        "held": money_json(wallet.held, currency),
        "expires_at": iso(min(expiries), tz) if expiries else None,
        "valid_from": iso(min(valid_froms), tz) if valid_froms else None,
        "restricted_to_email": wallet.email_lock is not None,
    }


def create_codes(caller: Caller, request: CreateCodesRequest, idempotency_key: str, request_hash: str) -> ApiResult:
    amount = request.amount.minor()
    currency = request.amount.currency
    valid_from = epoch_seconds_up(request.valid_from) if request.valid_from is not None else None

    lock = email_lock(caller.merchant_id, request.allowed_email) if request.allowed_email is not None else None

    def attempt() -> ApiResult:
        settings = settings_of(wallet_store.load_settings(caller.merchant_id))
        now_ms = time.time_ns() // 1_000_000
        expires_at = expiry_for(request.expires, settings, now_ms // 1000)
        if valid_from is not None and expires_at is not None and valid_from >= expires_at:
            raise InvalidInput.on("valid_from", "must be before the credit expires")
        changes = [
            issue_credit(
                Wallet(
                    caller.merchant_id,
                    holder_of(new_code(request.prefix, request.suffix)),
                    currency,
                    email_lock=lock,
                ),
                amount=amount,
                reason=request.reason,
                actor=caller.actor,
                now_ms=now_ms,
                expires_at=expires_at,
                valid_from=valid_from,
                note=request.note,
                idempotency_key=idempotency_key,
            )
            for _ in range(request.count)
        ]
        body = {"codes": [code_json(c.after, settings.timezone, now_ms // 1000) for c in changes]}
        wallet_store.commit_new_wallets(
            changes,
            wallet_store.IdempotentWrite(
                caller.merchant_id, idempotency_key, request_hash, 201, json.dumps(body), now_ms // 1000
            ),
        )
        return ApiResult(201, body)

    return guarded_write(
        attempt, lambda: wallet_store.get_idempotency_record(caller.merchant_id, idempotency_key), request_hash
    )


def show_code(caller: Caller, code: str) -> dict[str, Any]:
    wallets = wallet_store.holder_wallets(caller.merchant_id, holder_of(code))
    if not wallets:
        raise NotFound(detail="no such store-credit code")
    settings = settings_of(wallet_store.load_settings(caller.merchant_id))
    return code_json(wallets[0], settings.timezone, time.time_ns() // 1_000_000_000)
