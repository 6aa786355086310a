"""Import input validation (pure): every bad row is reported, good rows come out in minor units."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime

import pytest

from store_credit import import_rows
from store_credit.errors import InvalidInput, UnsupportedImportType
from store_credit.import_rows import CSV_HEADER, ImportRow, decode_body, parse_import

NOW = int(datetime(2026, 11, 22, 12, tzinfo=UTC).timestamp())
HEADER = ",".join(CSV_HEADER)


def csv(*lines: str) -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode()


def fields(error: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [e.field for e in error.value.errors]


def test_rows_parse_into_signed_minor_units_per_currency() -> None:
    rows = parse_import(
        csv("a,,,12.5,USD,r,,", ",b@x.io,,-3,JPY,r,,", ",,+14155550100,1.234,KWD,r,2026-12-31,", "c,,,7,USD,r,,30"),
        "text/csv",
        now=NOW,
        tz_name="UTC",
    )
    assert [(r.number, r.amount, r.currency) for r in rows] == [
        (0, 1250, "USD"),
        (1, -3, "JPY"),
        (2, 1234, "KWD"),
        (3, 700, "USD"),
    ]
    assert rows[1].email == "b@x.io" and rows[1].customer_id is None
    assert rows[2].expires_on == "2026-12-31" and rows[3].expires_days == 30


def test_quoted_cells_a_bom_and_crlf_line_ends_are_csv_too() -> None:
    raw = ("\ufeff" + HEADER + '\r\n"a",,,"1.00",USD,"Refund, order 12",,\r\n').encode()
    [row] = parse_import(raw, "text/csv; charset=utf-8", now=NOW, tz_name="UTC")
    assert row.reason == "Refund, order 12"


def test_empty_lines_at_the_end_are_no_rows_but_one_between_rows_is_an_error() -> None:
    # Given a file ending in a blank line and a spreadsheet's rows of bare commas
    rows = parse_import(csv("a,,,1.00,USD,r,,", "", ",,,,,,,", "\r"), "text/csv", now=NOW, tz_name="UTC")
    # Then it holds the one row
    assert [r.customer_id for r in rows] == ["a"]
    # But a blank line between two rows is still reported, by its line
    with pytest.raises(InvalidInput) as error:
        parse_import(csv("a,,,1.00,USD,r,,", "", "b,,,1.00,USD,r,,"), "text/csv", now=NOW, tz_name="UTC")
    assert [e.message for e in error.value.errors] == ["line 3 is empty"]


def test_every_bad_row_is_listed_and_good_rows_do_not_hide_them() -> None:
    with pytest.raises(InvalidInput) as error:
        parse_import(
            csv("a,,,1.00,USD,ok,,", "b,,,1.001,USD,r,,", "c,,,1.00,USD,r,2026-11-21,", "d,,,1.00,USD,r,,0"),
            "text/csv",
            now=NOW,
            tz_name="UTC",
        )
    assert fields(error) == ["rows[1].amount", "rows[2].expires_on", "rows[3].expires_days"]
    assert error.value.status == 422


def test_a_day_over_is_judged_in_the_merchants_timezone() -> None:
    # 2026-11-22 has ended in Pacific/Kiritimati (UTC+14) at 12:00 UTC, but not in UTC
    raw = csv("a,,,1.00,USD,r,2026-11-22,")
    assert parse_import(raw, "text/csv", now=NOW, tz_name="UTC")
    with pytest.raises(InvalidInput):
        parse_import(raw, "text/csv", now=NOW, tz_name="Pacific/Kiritimati")


def test_errors_are_capped_with_a_count_of_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_rows, "MAX_ERRORS", 3)
    with pytest.raises(InvalidInput) as error:
        parse_import(csv(*["a,,,0,USD,r,,"] * 5), "text/csv", now=NOW, tz_name="UTC")
    assert fields(error) == ["rows[0].amount", "rows[1].amount", "rows[2].amount", "rows"]
    assert error.value.errors[-1].message.startswith("2 more errors")


def test_too_many_rows_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_rows, "MAX_ROWS", 3)
    with pytest.raises(InvalidInput) as error:
        parse_import(csv(*["a,,,1,USD,r,,"] * 4), "text/csv", now=NOW, tz_name="UTC")
    assert fields(error) == ["rows"]


def test_json_rows_and_groups() -> None:
    rows = [{"email": "a@x.io", "amount": {"amount": "2.00", "currency": "EUR"}, "reason": "r", "expires_days": 5}]
    [row] = parse_import(json.dumps(rows).encode(), "application/json", now=NOW, tz_name="UTC")
    assert (row.amount, row.currency, row.expires_days) == (200, "EUR", 5)
    group = {"customer_ids": ["a", "b"], "amount": {"amount": "-1.00", "currency": "USD"}, "reason": "g"}
    assert [r.customer_id for r in parse_import(json.dumps(group).encode(), None, now=NOW, tz_name="UTC")] == ["a", "b"]
    with pytest.raises(InvalidInput) as error:
        parse_import(
            b'{"customer_ids": ["a"], "amount": {"amount": "1.00", "currency": "USD"}}', None, now=NOW, tz_name="UTC"
        )
    assert fields(error) == ["rows[0].reason"]


@pytest.mark.parametrize("reason", ["a\u0000b", "tab\there", "del\u007f", "next\u0085line", "csi\u009b"])
def test_a_reason_with_a_control_character_is_refused_as_the_api_refuses_it(reason: str) -> None:
    # Given a row whose reason holds a C0, DEL or C1 control character (shown to customers)
    rows = [{"customer_id": "a", "amount": {"amount": "1.00", "currency": "USD"}, "reason": reason}]
    # When the import is parsed, then the row is refused at its reason
    with pytest.raises(InvalidInput) as error:
        parse_import(json.dumps(rows).encode(), "application/json", now=NOW, tz_name="UTC")
    assert fields(error) == ["rows[0].reason"]


def test_unsupported_types_and_bodies() -> None:
    with pytest.raises(UnsupportedImportType):
        parse_import(b"x", "text/plain", now=NOW, tz_name="UTC")
    with pytest.raises(InvalidInput):
        parse_import(b'{"rows": []}', "application/json", now=NOW, tz_name="UTC")
    with pytest.raises(InvalidInput):
        parse_import(b"\xff\xfe", "text/csv", now=NOW, tz_name="UTC")


def test_gzip_bodies_are_inflated_within_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    packed = base64.b64encode(gzip.compress(csv("a,,,1,USD,r,,"))).decode()
    assert decode_body(packed, base64_encoded=True, content_encoding="gzip") == csv("a,,,1,USD,r,,")
    monkeypatch.setattr(import_rows, "MAX_BYTES", 1_000)
    bomb = base64.b64encode(gzip.compress(b"0" * 1_000_000)).decode()
    with pytest.raises(InvalidInput):
        decode_body(bomb, base64_encoded=True, content_encoding="gzip")
    with pytest.raises(InvalidInput):
        decode_body("not gzip", base64_encoded=False, content_encoding="gzip")


def test_rows_survive_the_queue_message_round_trip() -> None:
    row = ImportRow(number=7, amount=-250, currency="USD", reason="r", email="a@x.io", expires_days=3)
    assert ImportRow.from_message(json.loads(json.dumps(row.to_message()))) == row
