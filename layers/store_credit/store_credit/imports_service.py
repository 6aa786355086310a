"""Bulk import: validate a whole file, store the job, queue its rows; apply each row exactly once.

The API side (``start_import``) validates every row before anything is stored (a bad file is
one 422 listing every bad row), writes the job with the request's idempotency record in one
transaction, then sends the rows to SQS in blocks of ``ROWS_PER_MESSAGE``.

The consumer side (``apply_message``) applies a block row by row. Each row is one
``TransactWriteItems``: the wallet (conditioned on the version read), the ledger entry (which
the table stream turns into ``credit.issued`` / ``credit.debited``), the row's once-only
marker (``attribute_not_exists``) and the job's counter — or, for a row that cannot apply,
the marker, the counter and the reason. A redelivered row finds its marker and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from store_credit import import_queue, wallet_store
from store_credit.auth import Caller
from store_credit.clock import iso_ms
from store_credit.errors import (
    IdempotentReplay,
    InsufficientCredit,
    InvalidInput,
    NotFound,
    RowFailed,
    WalletBusy,
    WalletFull,
    WriteConflict,
)
from store_credit.idempotency import MAX_ATTEMPTS, ApiResult, backoff, replay
from store_credit.ids import ulid
from store_credit.import_rows import ImportRow, decode_body, parse_import
from store_credit.models import ExpirySpec, Settings
from store_credit.wallet import Wallet, WalletChange, debit, issue_credit
from store_credit.wallet_service import expiry_for, owed_expiry_for, settings_of

ROWS_PER_MESSAGE = 25  # ~5 KB a message; SQS bills per 64 KB, so one request unit each
MESSAGE_VERSION = 1
DEFAULT_ERRORS_PAGE = 100
MAX_ERRORS_PAGE = 1000
LOW_TIME_MS = 5_000  # stop a batch with this much of the Lambda's time left: the rest is redelivered
_IMPORT_ID = re.compile(r"imp_[0-9A-HJKMNP-TV-Z]{26}")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def shard_of(row: int) -> int:
    """Counter shard of a row: one per block of rows (a message), so concurrent consumers,
    each on its own message, mostly update different counter items."""
    return (row // ROWS_PER_MESSAGE) % wallet_store.IMPORT_COUNTER_SHARDS


def messages_for(merchant_id: str, import_id: str, rows: list[ImportRow]) -> list[str]:
    bodies = []
    for start in range(0, len(rows), ROWS_PER_MESSAGE):
        block = rows[start : start + ROWS_PER_MESSAGE]
        message = {
            "v": MESSAGE_VERSION,
            "merchant_id": merchant_id,
            "import_id": import_id,
            "rows": [row.to_message() for row in block],
        }
        bodies.append(json.dumps(message, separators=(",", ":")))
    return bodies


# --- API side ------------------------------------------------------------------------------------


def start_import(
    caller: Caller,
    *,
    body: str | None,
    base64_encoded: bool,
    content_type: str | None,
    content_encoding: str | None,
    idempotency_key: str,
) -> ApiResult:
    raw = decode_body(body, base64_encoded=base64_encoded, content_encoding=content_encoding)
    kind = (content_type or "application/json").split(";")[0].strip().lower()
    request_hash = hashlib.sha256(b"start_import|" + kind.encode() + b"|" + raw).hexdigest()
    merchant_id = caller.merchant_id

    def rows_as_of(at_ms: int) -> list[ImportRow]:
        settings = settings_of(wallet_store.load_settings(merchant_id))
        return parse_import(raw, content_type, now=at_ms // 1000, tz_name=settings.timezone)

    record = wallet_store.get_idempotency_record(merchant_id, idempotency_key)
    if record is not None:
        return _finish_queueing(caller, replay(record, request_hash), rows_as_of)

    settings = settings_of(wallet_store.load_settings(merchant_id))
    now_ms = _now_ms()
    # Validates the whole input: InvalidInput lists every bad row.
    rows = parse_import(raw, content_type, now=now_ms // 1000, tz_name=settings.timezone)
    _refuse_a_default_over(rows, settings, now_ms // 1000)
    import_id = f"imp_{ulid(now_ms)}"
    source = "csv" if kind in {"text/csv", "application/csv"} else ("group" if raw.lstrip()[:1] == b"{" else "json")
    answer = {"import_id": import_id, "state": "queued", "rows_total": len(rows)}
    job = wallet_store.ImportJob(merchant_id, import_id, len(rows), "validating", request_hash, now_ms, source)
    idempotency = wallet_store.IdempotentWrite(
        merchant_id=merchant_id,
        key=idempotency_key,
        request_hash=request_hash,
        status=202,
        body=json.dumps(answer, separators=(",", ":")),
        now=now_ms // 1000,
    )
    try:
        wallet_store.create_import_job(job, idempotency)
    except IdempotentReplay as found:  # the same key raced in from another request
        return _finish_queueing(caller, replay(found.record, request_hash), rows_as_of)
    except WriteConflict:
        raise WalletBusy(detail="the import could not be stored; retry with the same Idempotency-Key") from None
    import_queue.send_all(messages_for(merchant_id, import_id, rows))
    wallet_store.mark_import_queued(merchant_id, import_id)
    return ApiResult(status=202, body=answer)


def _refuse_a_default_over(rows: list[ImportRow], settings: Settings, now: int) -> None:
    """A file whose credit rows rely on the merchant's default expiry, a date now over, is
    refused on that setting, as issuing credit is: the merchant fixes it, or gives the rows
    their own expiry. (Rows accepted before the date passed are applied after it all the same.)"""
    if any(row.amount > 0 and row.expires_on is None and row.expires_days is None for row in rows):
        expiry_for(None, settings, now)  # InvalidInput on `settings.default_expiry.on` if it is over


def _finish_queueing(caller: Caller, first: ApiResult, rows_as_of: Callable[[int], list[ImportRow]]) -> ApiResult:
    """A replayed request: if the first one stopped before every row was queued (SQS down, the
    Lambda timed out), queue them all again — rows already queued or applied are applied once
    all the same (their markers) — then answer as the first time. The rows are read as of the
    job's creation: the file was valid then, and a retry the next day must not turn it into a
    422 (an expires_on of that day now over) and leave it half queued; such a row fails when
    it is applied, and is reported."""
    import_id = str(first.body["import_id"])
    job, _, _ = wallet_store.load_import(caller.merchant_id, import_id)
    if job is not None and job.state == "validating":
        import_queue.send_all(messages_for(caller.merchant_id, import_id, rows_as_of(job.created_ms)))
        wallet_store.mark_import_queued(caller.merchant_id, import_id)
    return first


# Twice the imports function's timeout (29 s): the request that stored a job still
# "validating" after this has ended without queueing every row.
INTERRUPTED_AFTER_MS = 60_000


def _state(job: wallet_store.ImportJob, applied: int, failed: int, now_ms: int) -> str:
    if applied + failed >= job.rows_total:
        # Every row has its outcome, so every row was queued, even when the request died
        # before it could mark the job queued: nothing is left to resend.
        return "completed_with_errors" if failed else "completed"
    if job.state == "validating":
        # The file is not kept, so only the client can finish it: the same request again, with
        # the same Idempotency-Key, queues every row (rows already applied are skipped).
        return "interrupted" if now_ms - job.created_ms > INTERRUPTED_AFTER_MS else "validating"
    return "applying" if applied + failed else "queued"


def show_import(caller: Caller, import_id: str, limit: int | None, cursor: str | None) -> dict[str, Any]:
    page = DEFAULT_ERRORS_PAGE if limit is None else limit
    if not 1 <= page <= MAX_ERRORS_PAGE:
        raise InvalidInput.on("limit", f"must be between 1 and {MAX_ERRORS_PAGE}")
    after: int | None = None
    if cursor is not None:
        # isdigit() alone accepts "²", which int() then refuses: ASCII digits only.
        if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 6:
            raise InvalidInput.on("cursor", "not a cursor this API returned")
        after = int(cursor)
    if not _IMPORT_ID.fullmatch(import_id):
        raise NotFound(detail=f"no import {import_id!r}")
    job, applied, failed = wallet_store.load_import(caller.merchant_id, import_id)
    if job is None:  # another merchant's import is simply not found: the key embeds the merchant
        raise NotFound(detail=f"no import {import_id!r}")
    errors, last = (
        wallet_store.list_import_errors(caller.merchant_id, import_id, limit=page, after_row=after)
        if failed
        else ([], None)
    )
    tz = settings_of(wallet_store.load_settings(caller.merchant_id)).timezone
    return {
        "import_id": import_id,
        "state": _state(job, applied, failed, _now_ms()),
        "rows_total": job.rows_total,
        "rows_applied": applied,
        "rows_failed": failed,
        "errors": errors,
        "next_cursor": str(last) if last is not None else None,
        "created_at": iso_ms(job.created_ms, tz),
    }


# --- consumer side -------------------------------------------------------------------------------


class PoisonMessage(Exception):
    """A message that can never apply (not ours, malformed): fails until SQS dead-letters it."""


class OutOfTime(Exception):
    """The Lambda is about to time out: the message goes back to SQS; its done rows stay done."""


def parse_message(body: str) -> tuple[str, str, list[ImportRow]]:
    try:
        message = json.loads(body)
        if message.get("v") != MESSAGE_VERSION:
            raise ValueError("unknown message version")
        rows = [ImportRow.from_message(row) for row in message["rows"]]
        return str(message["merchant_id"]), str(message["import_id"]), rows
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise PoisonMessage(f"not an import message: {error}") from None


@dataclass
class _Block:
    """What one message's rows share: the merchant's settings, read once, and the wallets they
    name, read in one BatchGetItem and kept current as rows apply (a wallet that moved under a
    row is read again)."""

    merchant_id: str
    settings: Settings
    wallets: dict[tuple[str, str], Wallet | None] = field(default_factory=dict)
    lookups: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (email|phone, value) → customers

    def customers(self, kind: str, value: str) -> list[str]:
        if (kind, value) not in self.lookups:
            self.lookups[(kind, value)] = wallet_store.find_customers(self.merchant_id, **{kind: value})
        return self.lookups[(kind, value)]

    def wallet(self, customer_id: str, currency: str) -> Wallet:
        key = (customer_id, currency)
        if key not in self.wallets:
            self.wallets[key] = wallet_store.load_wallet(self.merchant_id, customer_id, currency)
        return self.wallets[key] or Wallet(self.merchant_id, customer_id, currency)


def _identities(row: ImportRow) -> list[tuple[str, str]]:
    return [(kind, value) for kind, value in (("email", row.email), ("phone", row.phone)) if value is not None]


def _look_up(merchant_id: str, rows: list[ImportRow]) -> dict[tuple[str, str], list[str]]:
    """Email/phone lookups of the rows without a customer_id, before their wallets are read in
    one BatchGetItem with the others (a phone is looked up only when the email found nobody)."""
    lookups: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        if row.customer_id is not None:
            continue
        for kind, value in _identities(row):
            if (kind, value) not in lookups:
                lookups[(kind, value)] = wallet_store.find_customers(merchant_id, **{kind: value})
            if lookups[(kind, value)]:
                break
    return lookups


def apply_message(body: str, remaining_ms: Callable[[], int] | None = None) -> dict[str, int]:
    """Apply every row of one message. Returns how many rows applied, failed, or were done before.
    Raises (→ SQS redelivers) only for what a retry can cure: throttling, contention, the
    emulator or DynamoDB unreachable, the Lambda running out of time; and for poison."""
    merchant_id, import_id, rows = parse_message(body)
    job = wallet_store.load_import_job(merchant_id, import_id)
    if job is None:
        raise PoisonMessage(f"no import {import_id!r} for merchant {merchant_id!r}")
    lookups = _look_up(merchant_id, rows)
    named = [(row.customer_id, row.currency) for row in rows if row.customer_id is not None]
    for row in rows:
        customers = next((lookups[k] for k in _identities(row) if lookups.get(k)), [])
        if row.customer_id is None and len(customers) == 1:
            named.append((customers[0], row.currency))
    record, found = wallet_store.load_import_wallets(merchant_id, named)
    block = _Block(merchant_id, settings_of(record), {key: found.get(key) for key in named}, lookups)
    summary = {"applied": 0, "failed": 0, "done_before": 0}
    for row in rows:
        if remaining_ms is not None and remaining_ms() < LOW_TIME_MS:
            raise OutOfTime(f"stopped before row {row.number}")
        summary[apply_row(job, row, block)] += 1
    return summary


def apply_row(job: wallet_store.ImportJob, row: ImportRow, block: _Block) -> str:
    """Apply (or record as failed) one row, exactly once. Returns applied | failed | done_before."""
    for attempt in range(MAX_ATTEMPTS):
        now_ms = _now_ms()
        outcome = wallet_store.ImportRowOutcome(
            job.merchant_id, job.import_id, row.number, shard_of(row.number), now_ms
        )
        change: WalletChange | None = None
        wallet: Wallet | None = None
        refused_on: Wallet | None = None
        try:
            wallet = _match(row, block)
            change = _decide(job, row, wallet, block.settings, now_ms)
            wallet_store.ensure_room(change.after)
            outcome = _with(outcome, customer_id=wallet.customer_id, entry_id=change.entry.entry_id)
        except RowFailed as failure:
            outcome = _with(outcome, failed_reason=failure.detail)
        except (InsufficientCredit, WalletFull, InvalidInput) as refusal:
            # Decided on the wallet (not enough credit, no room for a lot, a balance that would
            # pass the largest amount): it stands only if the wallet has not moved since. A
            # wallet too full for the row's lot fails the row alone: raising would send the
            # whole message back until SQS dead-letters it with every other row it carries.
            outcome = _with(outcome, failed_reason=refusal.detail, customer_id=wallet.customer_id if wallet else None)
            change, refused_on = None, wallet
        try:
            done = wallet_store.commit_import_row(outcome, change, refused_on=refused_on)
        except WriteConflict:
            if wallet is not None:  # the wallet moved: read it again
                block.wallets.pop((wallet.customer_id, wallet.currency), None)
            backoff(attempt)
            continue
        if not done:
            if wallet is not None:  # nothing written: what we hold may be stale
                block.wallets.pop((wallet.customer_id, wallet.currency), None)
            return "done_before"
        if change is not None:
            block.wallets[(change.after.customer_id, change.after.currency)] = change.after
        return "failed" if outcome.failed_reason is not None else "applied"
    raise WalletBusy(detail=f"row {row.number}: gave up after {MAX_ATTEMPTS} concurrent-update retries")


def _with(outcome: wallet_store.ImportRowOutcome, **changes: Any) -> wallet_store.ImportRowOutcome:
    return replace(outcome, **changes)


def _match(row: ImportRow, block: _Block) -> Wallet:
    """The wallet of the customer a row names, within the import's merchant: by customer_id,
    else the exact (case-sensitive) email, else the phone. Never creates a customer."""
    merchant_id = block.merchant_id
    if row.customer_id is not None:
        wallet = block.wallet(row.customer_id, row.currency)
        if wallet.version or wallet_store.customer_exists(merchant_id, row.customer_id):
            return wallet
    for kind, value in _identities(row):
        found = block.customers(kind, value)
        if len(found) > 1:
            raise RowFailed(detail=f"more than one customer has this {kind}")
        if found:
            return block.wallet(found[0], row.currency)
    named = ", ".join(k for k, v in (("customer_id", row.customer_id), ("email", row.email), ("phone", row.phone)) if v)
    raise RowFailed(detail=f"no customer matches the row's {named}")


def _decide(
    job: wallet_store.ImportJob, row: ImportRow, wallet: Wallet, settings: Settings, now_ms: int
) -> WalletChange:
    actor = f"import:{job.import_id}"
    key = f"import:{job.import_id}:{row.number}"
    if row.amount < 0:
        return debit(wallet, amount=-row.amount, reason=row.reason, actor=actor, now_ms=now_ms, idempotency_key=key)
    spec = None
    if row.expires_on is not None:
        spec = ExpirySpec(on=date.fromisoformat(row.expires_on))
    elif row.expires_days is not None:
        spec = ExpirySpec(days=row.expires_days)
    try:
        # Accepted while the default's date was ahead, applied after it: never expires, as
        # credit an order event owes (the upload refuses a file relying on a default now over).
        expires_at = owed_expiry_for(spec, settings, now_ms // 1000)
    except InvalidInput as error:
        raise RowFailed(detail=f"expires_on: {error.errors[0].message}") from None
    return issue_credit(
        wallet,
        amount=row.amount,
        reason=row.reason,
        actor=actor,
        now_ms=now_ms,
        source="import",
        expires_at=expires_at,
        idempotency_key=key,
    )
