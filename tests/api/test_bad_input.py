"""Every violation of a field is a 4xx problem+json naming the field, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness.api_client import Api
from tests.harness.audit import all_items

VALID: dict[str, Any] = {"amount": {"amount": "10.00", "currency": "USD"}, "reason": "goodwill"}


CSV = {"content-type": "text/csv"}


def with_(**changes: Any) -> dict[str, Any]:
    return {**VALID, **changes}


ISSUE_VIOLATIONS = [
    ("float amount", with_(amount={"amount": 10.5, "currency": "USD"}), "amount.amount"),
    ("integer amount", with_(amount={"amount": 10, "currency": "USD"}), "amount.amount"),
    ("too many decimals", with_(amount={"amount": "10.001", "currency": "USD"}), "amount"),
    ("decimals on JPY", with_(amount={"amount": "10.5", "currency": "JPY"}), "amount"),
    ("zero", with_(amount={"amount": "0.00", "currency": "USD"}), "amount.amount"),
    ("negative", with_(amount={"amount": "-1.00", "currency": "USD"}), "amount.amount"),
    ("absurd size", with_(amount={"amount": "99999999999999999", "currency": "USD"}), "amount"),
    ("unknown currency", with_(amount={"amount": "1.00", "currency": "ABC"}), "amount"),
    ("lower-case currency", with_(amount={"amount": "1.00", "currency": "usd"}), "amount.currency"),
    ("amount as a string", with_(amount="10.00"), "amount"),
    ("missing amount", {"reason": "x"}, "amount"),
    ("missing reason", {"amount": VALID["amount"]}, "reason"),
    ("empty reason", with_(reason=""), "reason"),
    ("reason over 50", with_(reason="x" * 51), "reason"),
    ("blank reason", with_(reason="   "), "reason"),
    ("reason with a NUL", with_(reason="a\u0000b"), "reason"),
    ("reason with a newline", with_(reason="line\nbreak"), "reason"),
    ("reason with a C1 control", with_(reason="next\u0085line"), "reason"),
    ("two expiry forms", with_(expires={"days": 3, "never": True}), "expires"),
    ("no expiry form", with_(expires={}), "expires"),
    ("days zero", with_(expires={"days": 0}), "expires.days"),
    ("days as string", with_(expires={"days": "30"}), "expires.days"),
    ("never false", with_(expires={"never": False}), "expires.never"),
    ("date in the past", with_(expires={"on": "2020-01-01"}), "expires.on"),
    ("not a date", with_(expires={"on": "31/12/2030"}), "expires.on"),
    ("naive valid_from", with_(valid_from="2030-01-01T00:00:00"), "valid_from"),
    ("valid_from after expiry", with_(valid_from="2099-01-01T00:00:00Z", expires={"days": 1}), "valid_from"),
    ("unknown source", with_(source="lottery"), "source"),
    ("bad email", with_(email="not-an-email"), "email"),
    ("bad phone", with_(phone="0912 345 678"), "phone"),
    ("merchant in the body", with_(merchant_id="other"), "merchant_id"),
    ("unknown field", with_(colour="red"), "colour"),
    ("restrictions not a list", with_(restrictions={"product_ids": "p1"}), "restrictions.product_ids"),
]


@pytest.mark.parametrize(("case", "body", "field"), ISSUE_VIOLATIONS, ids=[c[0] for c in ISSUE_VIOLATIONS])
def test_issue_credit_refuses_bad_input_and_writes_nothing(api: Api, case: str, body: Any, field: str) -> None:
    before = len(all_items())
    response = api.post("/v1/customers/cus_1/credits", body)
    assert response.status in {400, 422}, response.body
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert set(problem) == {"type", "title", "status", "detail", "errors"}
    assert problem["status"] == response.status
    assert any(e["field"].startswith(field) for e in problem["errors"]), problem
    assert len(all_items()) == before


DEBIT_VIOLATIONS = [
    ("float", {"amount": {"amount": 1.5, "currency": "USD"}, "reason": "r"}, "amount.amount"),
    ("zero", {"amount": {"amount": "0", "currency": "USD"}, "reason": "r"}, "amount.amount"),
    ("negative", {"amount": {"amount": "-2.00", "currency": "USD"}, "reason": "r"}, "amount.amount"),
    ("no reason", {"amount": {"amount": "2.00", "currency": "USD"}}, "reason"),
    ("blank reason", {"amount": {"amount": "2.00", "currency": "USD"}, "reason": "\u3000"}, "reason"),
]


@pytest.mark.parametrize(("case", "body", "field"), DEBIT_VIOLATIONS, ids=[c[0] for c in DEBIT_VIOLATIONS])
def test_debit_refuses_bad_input_and_writes_nothing(api: Api, case: str, body: Any, field: str) -> None:
    api.issue("cus_1", "10.00")
    before = len(all_items())
    response = api.post("/v1/customers/cus_1/debits", body)
    assert response.status == 422
    assert any(e["field"].startswith(field) for e in response.json()["errors"])
    assert len(all_items()) == before


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/v1/customers/cus_1/wallet", "currency"),
        ("/v1/customers/cus_1/wallet?currency=usd", "currency"),
        ("/v1/customers/cus_1/wallet?currency=ABC", "currency"),
        ("/v1/customers/cus_1/transactions?limit=0", "limit"),
        ("/v1/customers/cus_1/transactions?limit=101", "limit"),
        ("/v1/customers/cus_1/transactions?limit=ten", "limit"),
        # A query integer is plain ASCII digits: Python's int() (and pydantic's lax mode) would
        # also read 5_0 as 50, +5 and " 5" as 5, 5.0 as 5.
        ("/v1/customers/cus_1/transactions?limit=5_0", "limit"),
        ("/v1/customers/cus_1/transactions?limit=%2B5", "limit"),
        ("/v1/customers/cus_1/transactions?limit=%205", "limit"),
        ("/v1/customers/cus_1/transactions?limit=5%20", "limit"),
        ("/v1/customers/cus_1/transactions?limit=5.0", "limit"),
        ("/v1/customers/cus_1/transactions?limit=-0", "limit"),
        ("/v1/customers/cus_1/transactions?limit=", "limit"),
        ("/v1/imports/imp_01M81V89044R6ZT55DXVTPK6JT?limit=1_0", "limit"),
        ("/v1/customers/bad%23id/wallet?currency=USD", "customer_id"),
        ("/v1/reports/liability?currency=USD&from=20260101", "from"),
        ("/v1/reports/liability?currency=USD&to=2026-W01", "to"),
    ],
)
def test_reads_refuse_bad_parameters(api: Api, url: str, field: str) -> None:
    # Given a merchant's key; When a read carries a malformed parameter
    response = api.get(url)
    # Then it is a 422 problem naming that parameter
    assert response.status == 422, response.body
    assert response.json()["errors"][0]["field"] == field


def test_malformed_json_is_400(api: Api) -> None:
    response = api.post("/v1/customers/cus_1/credits", "{not json")
    assert response.status == 400
    assert response.json()["type"].endswith("malformed-json")


def test_an_overlong_idempotency_key_is_refused(api: Api) -> None:
    response = api.post("/v1/customers/cus_1/credits", VALID, key="k" * 256)
    assert response.status == 422
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


SETTINGS_VIOLATIONS = [
    ({"timezone": "Mars/Olympus"}, "timezone"),
    # A folder of the tz database, and a name longer than a file name may be: not zones either.
    ({"timezone": "America"}, "timezone"),
    ({"timezone": "Europe/" + "x" * 300}, "timezone"),
    ({"hold_ttl_minutes": 0}, "hold_ttl_minutes"),
    ({"hold_ttl_minutes": "60"}, "hold_ttl_minutes"),
    ({"apply_to_shipping": "yes"}, "apply_to_shipping"),
    ({"redemption_limits": [{"min_order": "100.00"}]}, "redemption_limits.0"),
    (
        {
            "redemption_limits": [
                {"min_order": "100.00", "max_fixed": "10.00"},
                {"min_order": "50.00", "max_fixed": "5.00"},
            ]
        },
        "redemption_limits",
    ),
    ({"redemption_limits": [{"min_order": None, "max_percent": "5"}] * 6}, "redemption_limits"),
    ({"earning_rules": [{"type": "lottery"}]}, "earning_rules.0"),
    ({"earning_rules": [{"type": "referral", "fixed": "5.00", "percent": "10"}]}, "earning_rules.0"),
    ({"webhook_secret": "short"}, "webhook_secret"),
    ({"timezone": "right/UTC"}, "timezone"),
    ({"timezone": "posixrules"}, "timezone"),
    ({"timezone": "Factory"}, "timezone"),
    ({"merchant_id": "x"}, "merchant_id"),
]


@pytest.mark.parametrize(("body", "field"), SETTINGS_VIOLATIONS)
def test_settings_refuse_bad_input_and_keep_the_old_value(api: Api, body: Any, field: str) -> None:
    before = api.get("/v1/settings").json()
    response = api.put("/v1/settings", body)
    assert response.status == 422, response.body
    assert any(e["field"].startswith(field) for e in response.json()["errors"]), response.json()
    assert api.get("/v1/settings").json() == before


UNPARSEABLE_JSON = [
    ("nested deeper than the parser recurses", '{"reason": ' + "[" * 5000 + "]" * 5000 + "}"),
    ("an integer of more digits than Python converts", '{"reason": "x", "note": ' + "9" * 5000 + "}"),
]


@pytest.mark.parametrize(("case", "raw"), UNPARSEABLE_JSON, ids=[c[0] for c in UNPARSEABLE_JSON])
@pytest.mark.parametrize("url", ["/v1/customers/cus_1/credits", "/v1/checkout/apply", "/v1/settings"])
def test_json_the_parser_gives_up_on_is_400_and_writes_nothing(api: Api, url: str, case: str, raw: str) -> None:
    # Given a body that is JSON by the grammar but beyond what json.loads accepts
    before = len(all_items())
    method = "PUT" if url == "/v1/settings" else "POST"
    # When it is sent to a JSON route
    response = api.write(method, url, raw)
    # Then it is a malformed-JSON problem, never a 500, and nothing is written
    assert response.status == 400, response.body
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("malformed-json")
    assert len(all_items()) == before


@pytest.mark.parametrize(("case", "raw"), UNPARSEABLE_JSON, ids=[c[0] for c in UNPARSEABLE_JSON])
def test_an_import_the_parser_gives_up_on_is_422_and_queues_nothing(api: Api, case: str, raw: str) -> None:
    # Given a JSON import that json.loads cannot take
    before = len(all_items())
    # When it is uploaded
    response = api.post("/v1/imports", "[" + raw + "]")
    # Then the body is refused as not JSON, like any other malformed import
    assert response.status == 422, response.body
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"field": "body", "message": "is not valid JSON"}]
    assert len(all_items()) == before


@pytest.mark.parametrize("content_type", ["Application/JSON", "APPLICATION/JSON; charset=UTF-8"])
def test_a_media_type_in_capitals_is_json_all_the_same(api: Api, content_type: str) -> None:
    # Given a JSON body declared with a media type in other letter case (RFC 9110: case-insensitive)
    # When credit is issued with it
    response = api.post("/v1/customers/cus_1/credits", VALID, headers={"content-type": content_type})
    # Then it is read as JSON, as "application/json" would be
    assert response.status == 201, response.body
    assert api.wallet("cus_1").json()["available"]["amount"] == "10.00"


# Dates at the edge of what Python can show: stored, they would make every later read of the
# wallet a 500 once shown in a timezone that pushes them past year 9999 or before year 1.
UNSHOWABLE_DATES = [
    ("valid_from in year 10000 UTC", "/v1/customers/cus_1/credits", with_(valid_from="9999-12-31T23:59:59-12:00")),
    ("valid_from in year 0 UTC", "/v1/customers/cus_1/credits", with_(valid_from="0001-01-01T00:00:00+14:00")),
    ("valid_from in year 1", "/v1/customers/cus_1/credits", with_(valid_from="0001-01-01T00:00:00Z")),
    ("expiry on the last day of 9999", "/v1/customers/cus_1/credits", with_(expires={"on": "9999-12-31"})),
    ("a code valid from year 10000", "/v1/codes", {**VALID, "valid_from": "9999-12-31T23:59:59-12:00"}),
    ("a code expiring in 9999", "/v1/codes", {**VALID, "expires": {"on": "9999-12-31"}}),
    ("a default expiry in 9999", "/v1/settings", {"default_expiry": {"on": "9999-12-31"}}),
]


@pytest.mark.parametrize(("case", "url", "body"), UNSHOWABLE_DATES, ids=[c[0] for c in UNSHOWABLE_DATES])
def test_dates_no_timezone_can_show_are_refused(api: Api, case: str, url: str, body: Any) -> None:
    # Given a merchant whose timezone is behind UTC
    assert api.put("/v1/settings", {"timezone": "America/New_York"}).status == 200
    before = len(all_items())
    # When a date near year 1 or year 9999 is sent
    response = api.write("PUT" if url == "/v1/settings" else "POST", url, body)
    # Then it is refused, naming the field, and nothing is written
    assert response.status == 422, response.body
    fields = [e["field"] for e in response.json()["errors"]]
    assert any(f.split(".")[0] in {"valid_from", "expires", "default_expiry"} for f in fields), fields
    assert len(all_items()) == before


def test_an_import_expiring_in_year_9999_is_refused(api: Api) -> None:
    # Given a merchant in a timezone behind UTC
    assert api.put("/v1/settings", {"timezone": "America/New_York"}).status == 200
    # When an import row expires on the last day of 9999 (after year 9999 in UTC)
    header = "customer_id,email,phone,amount,currency,reason,expires_on,expires_days"
    response = api.post("/v1/imports", f"{header}\ncus_1,,,5.00,USD,Migration,9999-12-31,\n", headers=CSV)
    # Then the file is refused before anything is queued
    assert response.status == 422, response.body
    assert [e["field"] for e in response.json()["errors"]] == ["rows[0].expires_on"]


def test_credit_issued_in_range_stays_readable_in_every_timezone(api: Api) -> None:
    # Given credit valid from the earliest and expiring on the latest day the API accepts
    api.issue("cus_1", "5.00", valid_from="1970-01-01T00:00:00Z", expires={"never": True})
    api.issue("cus_1", "5.00", expires={"on": "9998-12-31"})
    # When the merchant moves to the timezones furthest from UTC
    for zone in ("Pacific/Kiritimati", "Etc/GMT+12"):
        assert api.put("/v1/settings", {"timezone": zone}).status == 200
        # Then the wallet and its history still read
        assert api.wallet("cus_1").status == 200
        assert api.get("/v1/customers/cus_1/transactions").status == 200


NOT_ISO_DATES = [
    # "20300101" reads as 20,300,101 seconds after 1970 (1970-08-23): credit meant to start in
    # 2030 would be spendable at once.
    ("valid_from as compact digits", with_(valid_from="20300101"), "valid_from"),
    ("valid_from as a JSON number", with_(valid_from=1893456000), "valid_from"),
    ("expiry date as a JSON number", with_(expires={"on": 2000000000 // 86400 * 86400}), "expires.on"),
    ("expiry date as a date-time", with_(expires={"on": "2030-01-01T00:00:00Z"}), "expires.on"),
]


@pytest.mark.parametrize(("case", "body", "field"), NOT_ISO_DATES, ids=[c[0] for c in NOT_ISO_DATES])
def test_dates_must_be_iso_8601_strings(api: Api, case: str, body: Any, field: str) -> None:
    # Given a date or instant sent as something other than the ISO 8601 text the contract names
    before = len(all_items())
    # When credit is issued with it
    response = api.post("/v1/customers/cus_1/credits", body)
    # Then it is refused, naming the field, and nothing is written
    assert response.status == 422, response.body
    assert any(e["field"].startswith(field) for e in response.json()["errors"]), response.json()
    assert len(all_items()) == before
