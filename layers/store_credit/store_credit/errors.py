"""Domain errors. Each carries what the API needs to render it as problem+json.

Handlers never inspect messages: they map the class (through ``http_problems``) to a response.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


NOT_JSON = "is not valid JSON"


def _field_path(location: tuple[object, ...], root: str) -> str:
    # ("body", "amount", "amount") → "amount.amount"; ("query", "limit") → "limit"
    parts = location[1:] if location and location[0] in {"body", "query", "path", "header"} else location
    return ".".join(str(p) for p in parts) or root


def field_errors(errors: Iterable[Mapping[str, Any]], root: str = "body") -> list[FieldError]:
    """pydantic's validation errors as the problem's ``errors``: one field and message each."""
    fields: list[FieldError] = []
    for item in errors:
        message = str(item.get("msg", "is not valid")).removeprefix("Value error, ")
        loc = tuple(item.get("loc", ()))
        if item.get("type") == "json_invalid":
            fields.append(FieldError("body", NOT_JSON))
            continue
        if item.get("type") == "string_type" and isinstance(item.get("input"), int | float) and loc[-1:] == ("amount",):
            message = 'must be a decimal string such as "12.34", not a JSON number'
        fields.append(FieldError(_field_path(loc, root), message))
    return fields


@dataclass
class DomainError(Exception):
    detail: str
    errors: list[FieldError] = field(default_factory=list)

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __str__(self) -> str:  # shows up in logs and tracebacks
        return f"{self.slug}: {self.detail}"


class InvalidInput(DomainError):
    status = 422
    slug = "invalid-input"
    title = "The request is not valid"

    @classmethod
    def of(cls, fields: list[FieldError]) -> InvalidInput:
        return cls(detail="; ".join(f"{f.field}: {f.message}" for f in fields[:5]), errors=fields)

    @classmethod
    def on(cls, field_name: str, message: str) -> InvalidInput:
        return cls(detail=f"{field_name}: {message}", errors=[FieldError(field_name, message)])


class MissingIdempotencyKey(DomainError):
    status = 400
    slug = "idempotency-key-required"
    title = "Idempotency-Key header required"


class Unauthorized(DomainError):
    status = 401
    slug = "unauthorized"
    title = "Missing or invalid API key"


class BadWebhookSignature(DomainError):
    status = 401
    slug = "invalid-signature"
    title = "Missing, stale or wrong X-Signature"


class Forbidden(DomainError):
    status = 403
    slug = "forbidden"
    title = "The API key lacks the scope this route needs"


class NotFound(DomainError):
    status = 404
    slug = "not-found"
    title = "Not found"


class InsufficientCredit(DomainError):
    status = 409
    slug = "insufficient-credit"
    title = "Not enough credit"


class CheckoutConflict(DomainError):
    status = 409
    slug = "checkout-conflict"
    title = "The checkout belongs to another customer or currency, or is already captured"


class WalletFull(DomainError):
    """The wallet's single item would pass DynamoDB's 400 KB: no further lot fits."""

    status = 409
    slug = "wallet-full"
    title = "The wallet cannot hold more lots; spend or debit some, or issue fewer, larger credits"


class IdempotencyKeyReused(DomainError):
    status = 409
    slug = "idempotency-key-reused"
    title = "Idempotency-Key already used with a different request"


class WalletBusy(DomainError):
    """Optimistic-concurrency retries ran out; the caller may retry with the same key."""

    status = 503
    slug = "wallet-busy"
    title = "The wallet is busy; retry with the same Idempotency-Key"


class WriteConflict(Exception):
    """The wallet changed between read and write (version check or TransactionConflict)."""


@dataclass
class IdempotentReplay(Exception):
    """The idempotency record already exists: the first result, to answer again."""

    record: IdempotencyRecord


@dataclass(frozen=True)
class IdempotencyRecord:
    request_hash: str
    status: int
    body: str


# --- bulk import ---------------------------------------------------------------------------


class UnsupportedImportType(DomainError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class RowFailed(DomainError):
    """An import row that cannot be applied (no such customer, not enough credit …): recorded
    as failed, once, and never retried."""

    status = 422
    slug = "import-row-failed"
    title = "The import row could not be applied"
