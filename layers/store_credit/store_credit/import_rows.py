"""Bulk-import input: CSV, a JSON list of rows, or a group, validated whole before anything
is stored. Pure: no I/O, no clock (the caller passes "now" and the merchant's timezone).

Every bad row is reported (``rows[12].amount``, 0-based like a JSON list; for CSV, row 0 is
the first line after the header), up to ``MAX_ERRORS`` field errors, so a merchant fixes the
whole file in one pass.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import zlib
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from store_credit.clock import LATEST_DAY, MAX_EXPIRY_DAYS, end_of_local_day, zone
from store_credit.errors import FieldError, InvalidInput, UnsupportedImportType
from store_credit.money import parse_minor

CSV_HEADER = ("customer_id", "email", "phone", "amount", "currency", "reason", "expires_on", "expires_days")
MAX_ROWS = 100_000
MAX_BYTES = 20 * 1024 * 1024  # the file once decompressed; what arrives is bounded by API Gateway/Lambda
MAX_ERRORS = 1_000  # listed in a 422; beyond that, one more entry says how many were left out
MAX_REASON = 50

_CUSTOMER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_DAYS = re.compile(r"[1-9][0-9]{0,5}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # as models.REASON_PATTERN: C0, DEL, C1


@dataclass(frozen=True)
class ImportRow:
    """One valid row: a signed amount in minor units (negative deducts) and how to find the customer."""

    number: int
    amount: int
    currency: str
    reason: str
    customer_id: str | None = None
    email: str | None = None
    phone: str | None = None
    expires_on: str | None = None  # YYYY-MM-DD
    expires_days: int | None = None

    def to_message(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> ImportRow:
        return cls(**data)


class _Errors:
    def __init__(self) -> None:
        self.items: list[FieldError] = []
        self.more = 0

    def add(self, field: str, message: str) -> None:
        if len(self.items) < MAX_ERRORS:
            self.items.append(FieldError(field, message))
        else:
            self.more += 1

    def raise_if_any(self, detail: str) -> None:
        if not self.items:
            return
        errors = list(self.items)
        if self.more:
            errors.append(FieldError("rows", f"{self.more} more errors not listed; fix these and upload again"))
        raise InvalidInput(detail=f"{len(self.items) + self.more} errors; {detail}", errors=errors)


def decode_body(body: str | None, *, base64_encoded: bool, content_encoding: str | None) -> bytes:
    """The request body as bytes: API Gateway base64-encodes binary bodies (a gzip upload)."""
    import base64

    if not body:
        raise InvalidInput.on("body", "send the rows: CSV, a JSON list of rows, or a group")
    try:
        raw = base64.b64decode(body, validate=True) if base64_encoded else body.encode()
    except ValueError:
        raise InvalidInput.on("body", "is not valid base64") from None
    if (content_encoding or "").strip().lower() == "gzip":
        raw = _gunzip(raw)
    if len(raw) > MAX_BYTES:
        raise InvalidInput.on("body", f"larger than {MAX_BYTES // (1024 * 1024)} MB; split the file into imports")
    return raw


def _gunzip(data: bytes) -> bytes:
    """Every member of a gzip stream (``cat a.gz b.gz`` is one valid file), at most MAX_BYTES + 1
    bytes of it (a small gzip bomb must not take the Lambda's memory). A stream cut short or
    followed by other bytes is refused: importing the rows that happened to arrive would
    silently drop the rest."""
    out = bytearray()
    try:
        while True:
            member = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out += member.decompress(data, MAX_BYTES + 1 - len(out))  # never 0: that means unbounded
            if len(out) > MAX_BYTES:
                return bytes(out)  # too large: the caller says so
            if not member.eof:
                raise InvalidInput.on("body", "the gzip data is cut short; upload the whole file")
            data = member.unused_data
            if not data:
                return bytes(out)
    except (zlib.error, gzip.BadGzipFile):
        raise InvalidInput.on("body", "Content-Encoding is gzip but the body is not gzip data") from None


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput.on("body", "is not UTF-8 text") from None


def parse_csv(raw: bytes, *, now: int, tz_name: str) -> list[ImportRow]:
    reader = csv.reader(io.StringIO(_text(raw), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput.on("body", "the CSV is empty") from None
    except csv.Error as error:
        raise InvalidInput.on("body", f"not valid CSV: {error}") from None
    if tuple(h.strip() for h in header) != CSV_HEADER:
        raise InvalidInput.on("header", "must be exactly " + ",".join(CSV_HEADER))
    records: list[dict[str, Any]] = []
    errors = _Errors()
    try:
        blank: list[dict[str, Any]] = []  # empty lines not yet followed by a row
        for index, cells in enumerate(reader):
            if not any(cell.strip() for cell in cells):
                blank.append({_LINE_ERROR: f"line {index + 2} is empty"})
                continue
            # An empty line between rows is an error (it may be a row the merchant lost); empty
            # lines at the end (a blank line, a spreadsheet's rows of bare commas) are no rows.
            records.extend(blank)
            blank.clear()
            if len(cells) != len(CSV_HEADER):
                records.append({_LINE_ERROR: f"line {index + 2} has {len(cells)} columns, expected {len(CSV_HEADER)}"})
                continue
            records.append({name: cell.strip() or None for name, cell in zip(CSV_HEADER, cells, strict=True)})
            if len(records) > MAX_ROWS:
                break
    except csv.Error as error:
        raise InvalidInput.on("body", f"not valid CSV: {error}") from None
    return _validate_records(records, errors, now=now, tz_name=tz_name)


def parse_json(raw: bytes, *, now: int, tz_name: str) -> list[ImportRow]:
    try:
        document = json.loads(_text(raw))
    # ValueError (JSONDecodeError's base): also an integer of more than 4,300 digits (Python
    # 3.11+); RecursionError: nesting deeper than the parser recurses. Both are bodies
    # json.loads cannot take, and neither may become a 500.
    except (ValueError, RecursionError):
        raise InvalidInput.on("body", "is not valid JSON") from None
    if isinstance(document, list):
        return _validate_records(document, _Errors(), now=now, tz_name=tz_name)
    if isinstance(document, dict) and "customer_ids" in document:
        return _group_rows(document, now=now, tz_name=tz_name)
    raise InvalidInput.on("body", 'must be a JSON list of rows or a group {"customer_ids", "amount", "reason"}')


def parse_import(raw: bytes, content_type: str | None, *, now: int, tz_name: str) -> list[ImportRow]:
    kind = (content_type or "application/json").split(";")[0].strip().lower()
    if kind in {"text/csv", "application/csv"}:
        return parse_csv(raw, now=now, tz_name=tz_name)
    if kind == "application/json":
        return parse_json(raw, now=now, tz_name=tz_name)
    raise UnsupportedImportType(detail="send text/csv or application/json")


_GROUP_FIELDS = {"customer_ids", "amount", "reason", "expires_on", "expires_days"}


def _group_rows(document: dict[str, Any], *, now: int, tz_name: str) -> list[ImportRow]:
    errors = _Errors()
    for name in sorted(set(document) - _GROUP_FIELDS):
        errors.add(name, "is not a field of a group import")
    ids = document.get("customer_ids")
    money = document.get("amount")
    if not isinstance(ids, list) or not ids:
        errors.add("customer_ids", "must be a non-empty list of customer ids")
        ids = []
    elif len(ids) > MAX_ROWS:
        errors.add("customer_ids", f"at most {MAX_ROWS} customers per import")
    elif len(set(map(str, ids))) != len(ids):
        errors.add("customer_ids", "lists a customer twice")
    if not isinstance(money, dict) or set(money) != {"amount", "currency"}:
        errors.add("amount", 'must be money: {"amount": "5.00", "currency": "USD"}')
        money = {}
    errors.raise_if_any("nothing was imported")
    shared = {k: v for k, v in document.items() if k in {"reason", "expires_on", "expires_days"}}
    records = [{"customer_id": cid, "amount": money, **shared} for cid in ids]
    return _validate_records(records, errors, now=now, tz_name=tz_name)


_ROW_FIELDS = {*CSV_HEADER}
_LINE_ERROR = "\x00line"  # not a column name anyone can send: carries a CSV line's own error


def _validate_records(records: list[Any], errors: _Errors, *, now: int, tz_name: str) -> list[ImportRow]:
    if not records and not errors.items:
        errors.add("rows", "the import has no rows")
    if len(records) > MAX_ROWS:
        raise InvalidInput.on("rows", f"at most {MAX_ROWS} rows per import; split the file")
    rows: list[ImportRow] = []
    for index, record in enumerate(records):
        if isinstance(record, dict) and _LINE_ERROR in record:  # an empty or short CSV line
            errors.add(f"rows[{index}]", record[_LINE_ERROR])
            continue
        row = _validate_row(index, record, errors, now=now, tz_name=tz_name)
        if row is not None:
            rows.append(row)
    errors.raise_if_any("nothing was imported; fix every row listed and upload again")
    return rows


def _opt_str(index: int, record: dict[str, Any], name: str, errors: _Errors) -> str | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors.add(f"rows[{index}].{name}", "must be a string")
        return None
    return value


def _validate_row(index: int, record: Any, errors: _Errors, *, now: int, tz_name: str) -> ImportRow | None:
    at = f"rows[{index}]"
    if not isinstance(record, dict):
        errors.add(at, "must be an object")
        return None
    before = len(errors.items) + errors.more
    for name in sorted(set(record) - _ROW_FIELDS):
        errors.add(f"{at}.{name}", "is not a column of an import row")
    customer_id, email, phone = _identifiers(index, record, errors)
    amount, currency = _amount(index, record, errors)
    reason = _opt_str(index, record, "reason", errors)
    if reason is None or not reason.strip():
        errors.add(f"{at}.reason", "is required")
    elif len(reason) > MAX_REASON:
        errors.add(f"{at}.reason", f"at most {MAX_REASON} characters, got {len(reason)}")
    elif _CONTROL.search(reason):
        errors.add(f"{at}.reason", "must not contain control characters")
    expires_on = _opt_str(index, record, "expires_on", errors)
    expires_days = _days(index, record.get("expires_days"), errors)
    if expires_on is not None and expires_days is not None:
        errors.add(f"{at}.expires_on", "give at most one of expires_on and expires_days")
    elif expires_on is not None:
        _check_date(f"{at}.expires_on", expires_on, errors, now=now, tz_name=tz_name)
    if len(errors.items) + errors.more > before or currency is None or reason is None:
        return None
    return ImportRow(
        number=index,
        amount=amount,
        currency=currency,
        reason=reason,
        customer_id=customer_id,
        email=email,
        phone=phone,
        expires_on=expires_on,
        expires_days=expires_days,
    )


def _identifiers(index: int, record: dict[str, Any], errors: _Errors) -> tuple[str | None, str | None, str | None]:
    at = f"rows[{index}]"
    customer_id = _opt_str(index, record, "customer_id", errors)
    email = _opt_str(index, record, "email", errors)
    phone = _opt_str(index, record, "phone", errors)
    if customer_id is not None and not _CUSTOMER_ID.fullmatch(customer_id):
        errors.add(f"{at}.customer_id", "must be 1-128 letters, digits or ._:@+- (starting with a letter or digit)")
    if email is not None and (len(email) > 254 or not _EMAIL.fullmatch(email)):
        errors.add(f"{at}.email", "is not an email address")
    if phone is not None and not _PHONE.fullmatch(phone):
        errors.add(f"{at}.phone", "must be E.164, such as +14155550100")
    if customer_id is None and email is None and phone is None:
        errors.add(at, "needs at least one of customer_id, email, phone")
    return customer_id, email, phone


def _amount(index: int, record: dict[str, Any], errors: _Errors) -> tuple[int, str | None]:
    """Signed minor units (never zero) and the currency, from "5.00" + currency or money."""
    at = f"rows[{index}]"
    value = record.get("amount")
    currency = _opt_str(index, record, "currency", errors)
    if isinstance(value, dict):  # JSON rows may carry money as {"amount", "currency"}
        if set(value) != {"amount", "currency"} or currency not in (None, value["currency"]):
            errors.add(f"{at}.amount", 'must be {"amount": "5.00", "currency": "USD"}')
            return 0, None
        currency = value["currency"] if isinstance(value["currency"], str) else None
        value = value["amount"]
    if currency is None or not _CURRENCY.fullmatch(currency):
        errors.add(f"{at}.currency", "must be an ISO 4217 code such as USD")
        return 0, None
    if value is None or value == "":
        errors.add(f"{at}.amount", "is required")
        return 0, None
    try:
        return parse_minor(value, currency, field=f"{at}.amount", allow_negative=True), currency
    except InvalidInput as error:
        for item in error.errors:
            field = item.field if item.field.startswith(at) else f"{at}.{item.field}"
            errors.add(field, item.message.replace("must be greater than zero", "must not be zero"))
        return 0, None


def _days(index: int, value: Any, errors: _Errors) -> int | None:
    if value is None or value == "":
        return None
    field = f"rows[{index}].expires_days"
    if isinstance(value, bool) or not isinstance(value, int | str):
        errors.add(field, "must be a positive whole number of days")
        return None
    text = str(value)
    if not _DAYS.fullmatch(text) or int(text) > MAX_EXPIRY_DAYS:
        errors.add(field, f"must be a whole number of days from 1 to {MAX_EXPIRY_DAYS}")
        return None
    return int(text)


def _check_date(field: str, text: str, errors: _Errors, *, now: int, tz_name: str) -> None:
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        errors.add(field, "must be a date YYYY-MM-DD")
        return
    if day > LATEST_DAY:
        errors.add(field, f"must be no later than {LATEST_DAY.isoformat()}")
        return
    if end_of_local_day(day, tz_name) <= now:
        errors.add(field, f"{text} has already ended in {tz_name}")
    elif day > datetime.fromtimestamp(now, zone(tz_name)).date() + timedelta(days=MAX_EXPIRY_DAYS):
        # The bound expires_days has. Without one, 9999-12-31 was accepted and, in a timezone
        # behind UTC, ends in year 10000: an instant no wallet or history could show again.
        errors.add(field, f"at most {MAX_EXPIRY_DAYS} days ahead; leave it empty for credit that never expires")
