"""Every field of every route, one at a time, given values that have broken parsers before.

schemathesis draws values from the schema, so it rarely sends what the schema never imagined:
digits that are not ASCII ("²" passed ``str.isdigit`` and then failed ``int``: a 500), names
the tz database has as folders ("America"), numbers too long for ``int``, control characters,
key separators. Here each field of a valid request is replaced by each such value in turn.
Whatever the answer, it is never a 5xx, an error is problem+json, and at the end every wallet
still equals the sum of its lots and of its ledger.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from tests.harness.api_client import Api, Merchant, OrderWebhook
from tests.harness.audit import all_items, audit_wallet

HOSTILE: list[Any] = [
    "",
    " ",
    "\u00b2",  # superscript two: isdigit() but not int()
    "\u0661\u0662",  # Arabic-Indic 12: int() reads it
    "\uff11\uff12",  # full-width 12
    "\U0001d7d8",  # mathematical double-struck zero
    "\u0000",
    "a\u0000b",
    "\u202eRTL",
    "\ufeffBOM",
    "x" * 5_000,
    "9" * 5_000,
    "-0",
    "1e9999",
    "NaN",
    "0x10",
    "1_000",
    "#",
    "a#b",
    "~code",
    "../..",
    "%00",
    "America",
    "right/UTC",
    "2030-02-30",
    "0001-01-01",
    "9999-12-31T23:59:59-12:00",
    "20300101",
    None,
    True,
    0,
    -1,
    10**30,
    1.5,
    [],
    {},
]


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON document a value sits, containers included."""
    if path:
        yield path
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from leaves(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from leaves(inner, (*path, index))


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    changed = copy.deepcopy(document)
    target = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


def cart() -> dict[str, Any]:
    item = {"id": "l1", "product_id": "p1", "categories": ["c1"], "quantity": 2, "unit_price": "20.00"}
    return {"currency": "USD", "items": [{**item, "tax_rate": "8"}], "shipping": "5.00", "discount_total": "1.00"}


# A valid request for every operation of the OpenAPI document: (path template, path values,
# query, body). ``test_every_operation_has_a_valid_request`` keeps the list complete.
VALID: dict[tuple[str, str], tuple[dict[str, str], dict[str, str], Any]] = {
    ("POST", "/v1/checkout/apply"): (
        {},
        {},
        {"checkout_id": "chk_h", "customer_id": "ann", "requested_amount": "5.00", "capture": False, "cart": cart()},
    ),
    ("DELETE", "/v1/checkout/{checkout_id}"): ({"checkout_id": "chk_h"}, {}, None),
    ("POST", "/v1/codes"): (
        {},
        {},
        {"amount": {"amount": "10.00", "currency": "USD"}, "count": 1, "prefix": "GC-", "expires": {"days": 30}},
    ),
    ("GET", "/v1/codes/{code}"): ({"code": "ABCDEFGHJKLMNPQR"}, {}, None),
    ("POST", "/v1/customers/{customer_id}/credits"): (
        {"customer_id": "ann"},
        {},
        {
            "amount": {"amount": "10.00", "currency": "USD"},
            "reason": "goodwill",
            "note": "n",
            "expires": {"on": "2099-01-01"},
            "valid_from": "2026-01-01T00:00:00Z",
            "source": "goodwill",
            "restrictions": {"product_ids": ["p1"], "categories": ["c1"]},
            "email": "ann@shop.example",
            "phone": "+14155550100",
        },
    ),
    ("POST", "/v1/customers/{customer_id}/debits"): (
        {"customer_id": "ann"},
        {},
        {"amount": {"amount": "1.00", "currency": "USD"}, "reason": "manual"},
    ),
    ("GET", "/v1/customers/{customer_id}/export"): ({"customer_id": "ann"}, {}, None),
    ("DELETE", "/v1/customers/{customer_id}/personal-data"): ({"customer_id": "bob"}, {}, None),
    ("DELETE", "/v1/customers/{customer_id}/renewal"): ({"customer_id": "bob"}, {"currency": "USD"}, None),
    ("PUT", "/v1/customers/{customer_id}/renewal"): (
        {"customer_id": "ann"},
        {},
        {
            "amount": {"amount": "5.00", "currency": "USD"},
            "period": "monthly",
            "mode": "top_up",
            "expires": {"days": 30},
            "reason": "allowance",
        },
    ),
    ("GET", "/v1/customers/{customer_id}/transactions"): (
        {"customer_id": "ann"},
        {"limit": "10", "cursor": "01J0000000000000000000000A"},
        None,
    ),
    ("GET", "/v1/customers/{customer_id}/wallet"): ({"customer_id": "ann"}, {"currency": "USD"}, None),
    ("POST", "/v1/imports"): (
        {},
        {},
        [
            {
                "customer_id": "ann",
                "email": "ann@shop.example",
                "phone": "+14155550100",
                "amount": "1.00",
                "currency": "USD",
                "reason": "import",
                "expires_days": 30,
            }
        ],
    ),
    ("GET", "/v1/imports/{import_id}"): (
        {"import_id": "imp_01J0000000000000000000000A"},
        {"limit": "10", "cursor": "5"},
        None,
    ),
    ("GET", "/v1/reports/liability"): ({}, {"currency": "USD", "from": "2026-01-01", "to": "2026-12-31"}, None),
    ("GET", "/v1/settings"): ({}, {}, None),
    ("PUT", "/v1/settings"): (
        {},
        {},
        {
            "timezone": "Asia/Taipei",
            "default_expiry": {"days": 365},
            "hold_ttl_minutes": 30,
            "redemption_limits": [{"min_order": "10.00", "max_percent": "50"}],
            "earning_rules": [{"type": "place_order", "per": "10.00", "credit": "1.00", "expires": {"days": 90}}],
        },
    ),
}
WEBHOOK = ("POST", "/v1/webhooks/orders/{merchant_id}")
ORDER_EVENT = {
    "id": "evt_h",
    "type": "order.refunded",
    "order": {
        "id": "ord_h",
        "checkout_id": "chk_h",
        "customer_id": "ann",
        "currency": "USD",
        "total": "40.00",
        "items": [{"id": "l1", "quantity": 1, "unit_price": "40.00", "store_credit_product": False}],
        "refund": {"amount": "1.00", "to": "store_credit"},
    },
}


def url_of(template: str, path_values: dict[str, str], query: dict[str, Any]) -> str:
    path = template
    for name, value in path_values.items():
        path = path.replace("{" + name + "}", quote(str(value), safe=""))
    return path + (("?" + urlencode({k: str(v) for k, v in query.items()})) if query else "")


def variants(path_values: dict[str, str], query: dict[str, str], body: Any) -> Iterator[tuple[str, Any, Any, Any]]:
    """(what was changed, path values, query, body) with one field hostile at a time."""
    for name in path_values:
        for value in HOSTILE:
            if isinstance(value, str) and value:  # an empty path segment is another route
                yield f"path {name}={value!r:.40}", {**path_values, name: value}, query, body
    for name in query:
        for value in HOSTILE:
            if isinstance(value, str):
                yield f"query {name}={value!r:.40}", path_values, {**query, name: value}, body
    for place in leaves(body):
        for value in HOSTILE:
            yield f"body {'.'.join(map(str, place))}={value!r:.40}", path_values, query, replaced(body, place, value)


def problem_or_success(response: Any) -> str | None:
    """Why the answer is wrong, or None."""
    if response.status >= 500:
        return f"{response.status} {response.body[:200]}"
    gateway_answer = response.body.startswith('{"message"')  # API Gateway's own 401/403/404
    problem = response.headers.get("content-type") == "application/problem+json"
    if response.status >= 400 and not gateway_answer and not problem:
        return f"{response.status} not problem+json: {response.body[:200]}"
    return None


@pytest.fixture
def seeded(api: Api, merchant: Merchant, gateway: Any) -> Api:
    assert api.issue("ann", "50.00").status == 201
    assert api.issue("bob", "5.00", email="bob@shop.example").status == 201
    hook = OrderWebhook(gateway, merchant)
    paid = {k: v for k, v in ORDER_EVENT["order"].items() if k != "refund"}  # type: ignore[union-attr]
    assert hook.send("order.paid", {**paid, "checkout_id": None}).status == 200
    return api


def assert_wallets_add_up() -> None:
    items = all_items()
    for item in items:
        if item["SK"]["S"].startswith("W#"):
            merchant_part, customer = item["PK"]["S"].removeprefix("M#").split("#C#", 1)
            audit_wallet(merchant_part, customer, item["SK"]["S"][2:], items).assert_consistent()


def test_every_operation_has_a_valid_request() -> None:
    with open("shared/openapi.json") as document:
        operations = {(m.upper(), p) for p, ops in json.load(document)["paths"].items() for m in ops}
    assert operations == {*VALID, WEBHOOK}


@pytest.mark.parametrize("operation", sorted(VALID), ids=[f"{m} {p}" for m, p in sorted(VALID)])
def test_a_hostile_value_in_any_field_is_never_a_5xx(seeded: Api, operation: tuple[str, str]) -> None:
    # Given a valid request for the operation, which the service accepts or refuses cleanly
    method, template = operation
    path_values, query, body = VALID[operation]
    first = seeded.gateway.request(
        method, url_of(template, path_values, query), headers=seeded._headers(str(uuid.uuid4()), None), body=body
    )
    assert problem_or_success(first) is None, first.body

    # When each of its fields in turn carries each hostile value
    wrong = []
    for changed, values, params, document in variants(path_values, query, body):
        headers = seeded._headers(str(uuid.uuid4()), None)
        response = seeded.gateway.request(method, url_of(template, values, params), headers=headers, body=document)
        why = problem_or_success(response)
        if why:
            wrong.append(f"{changed}: {why}")

    # Then none was a 5xx or an error of another shape, and the money still adds up
    assert not wrong, "\n".join(wrong[:20])
    assert_wallets_add_up()


def test_a_hostile_value_in_any_field_of_a_signed_order_event_is_never_a_5xx(
    seeded: Api, gateway: Any, merchant: Merchant
) -> None:
    # Given a valid, signed order event (so the payload, not the signature, is what is judged)
    hook = OrderWebhook(gateway, merchant)
    wrong = []
    # When each of its fields in turn carries each hostile value (each a new event)
    for place in leaves(ORDER_EVENT):
        for value in HOSTILE:
            event = replaced(ORDER_EVENT, place, value)
            if place != ("id",):
                event = {**event, "id": f"evt_{uuid.uuid4().hex[:12]}"}
            response = hook.post(event, timestamp=int(time.time()))
            why = problem_or_success(response)
            if why:
                wrong.append(f"{'.'.join(map(str, place))}={value!r:.40}: {why}")

    # Then none was a 5xx or an error of another shape, and the money still adds up
    assert not wrong, "\n".join(wrong[:20])
    assert_wallets_add_up()
