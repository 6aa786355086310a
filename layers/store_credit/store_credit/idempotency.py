"""Idempotency keys: request fingerprints, replays and the retry loop around a guarded write."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from store_credit.errors import (
    DomainError,
    IdempotencyKeyReused,
    IdempotencyRecord,
    IdempotentReplay,
    InvalidInput,
    MissingIdempotencyKey,
    WalletBusy,
    WriteConflict,
)

MAX_ATTEMPTS = 12  # optimistic-concurrency rounds before answering 503 wallet-busy
MAX_KEY_LENGTH = 255

T = TypeVar("T")


@dataclass(frozen=True)
class ApiResult:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def require_key(key: str | None) -> str:
    if key is None or key == "":
        raise MissingIdempotencyKey(detail="send an Idempotency-Key header (for example a UUID) with every write")
    if len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise InvalidInput.on("Idempotency-Key", f"must be 1 to {MAX_KEY_LENGTH} printable ASCII characters")
    return key


def fingerprint(operation: str, params: dict[str, Any], body: Any) -> str:
    """Same operation, path and body (key order aside) → same fingerprint."""
    canonical = json.dumps({"op": operation, "params": params, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def replay(record: IdempotencyRecord, request_hash: str) -> ApiResult:
    if record.request_hash != request_hash:
        raise IdempotencyKeyReused(detail="this Idempotency-Key was used with a different request; use a new key")
    return ApiResult(status=record.status, body=json.loads(record.body), replayed=True)


def backoff(attempt: int) -> None:
    # Full jitter: concurrent writers on one hot wallet spread out instead of colliding again.
    time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))  # noqa: S311 - jitter, not secrecy


def guarded_write(
    attempt_write: Callable[[], ApiResult],
    find_record: Callable[[], IdempotencyRecord | None],
    request_hash: str,
) -> ApiResult:
    """Run ``attempt_write`` (read, decide, one conditional transaction) until it lands.

    - ``IdempotentReplay``: the key was used before → the first answer (or 409 if the body differs).
    - ``WriteConflict``: the wallet moved underneath → read again and retry, with jitter.
    - A domain error (e.g. not enough credit) → first check whether this key already
      succeeded: a client retrying a debit that went through must get that result, not a 409.
    """
    for attempt in range(MAX_ATTEMPTS):
        try:
            return attempt_write()
        except IdempotentReplay as found:
            return replay(found.record, request_hash)
        except WriteConflict:
            backoff(attempt)
        except DomainError:
            record = find_record()
            if record is not None:
                return replay(record, request_hash)
            raise
    raise WalletBusy(detail=f"gave up after {MAX_ATTEMPTS} concurrent-update retries")
