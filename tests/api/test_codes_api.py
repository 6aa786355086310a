"""Store-credit codes: made at random, each a wallet of its own, spent at checkout by code."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest

from tests.harness.api_client import Api, Merchant, make_merchant
from tests.harness.audit import all_items, audit_wallet


def make_codes(api: Api, amount: str = "25.00", key: str = "auto", **fields: Any) -> Any:
    return api.post("/v1/codes", {"amount": {"amount": amount, "currency": "USD"}, **fields}, key=key)


def apply_code(api: Api, code: str, price: str = "40.00", checkout_id: str = "chk_c", **fields: Any) -> Any:
    body = {
        "checkout_id": checkout_id,
        "code": code,
        "cart": {"currency": "USD", "items": [{"id": "a", "quantity": 1, "unit_price": price}]},
        **fields,
    }
    return api.post("/v1/checkout/apply", body, key=None)


def test_codes_are_random_case_sensitive_and_carry_prefix_and_suffix(api: Api) -> None:
    response = make_codes(api, count=5, prefix="GIFT-", suffix="-X")
    assert response.status == 201
    codes = [c["code"] for c in response.json()["codes"]]
    assert len(set(codes)) == 5
    for code in codes:
        assert re.fullmatch(r"GIFT-[A-Za-z0-9]{16}-X", code)
    shown = api.get(f"/v1/codes/{codes[0]}").json()
    assert shown["balance"] == {"amount": "25.00", "currency": "USD"}
    swapped = codes[0].swapcase()
    assert api.get(f"/v1/codes/{swapped}").status == 404


def test_creating_codes_is_idempotent(api: Api) -> None:
    first = make_codes(api, count=3, key="batch-1")
    again = make_codes(api, count=3, key="batch-1")
    assert again.json() == first.json()
    assert make_codes(api, count=4, key="batch-1").status == 409


def test_a_code_pays_at_checkout_and_keeps_the_rest(api: Api, merchant: Any) -> None:
    code = make_codes(api, "25.00").json()["codes"][0]["code"]
    quote = apply_code(api, code, "40.00", capture=True).json()
    assert quote["applied"]["amount"] == "25.00"
    assert quote["code"] == code and quote["customer_id"] is None
    assert api.get(f"/v1/codes/{code}").json()["balance"]["amount"] == "0.00"
    audit_wallet(merchant.merchant_id, f"~{code}", "USD").assert_consistent()


def test_a_wrong_code_and_another_merchants_code_look_the_same(api: Api, gateway: Any) -> None:
    rival = Api(gateway, make_merchant("rival").api_key)
    rivals_code = make_codes(rival).json()["codes"][0]["code"]
    assert apply_code(api, rivals_code).status == 404
    assert apply_code(api, "A" * 16).status == 404
    assert api.get(f"/v1/codes/{rivals_code}").status == 404
    assert api.get("/v1/codes/" + "A" * 16).status == 404


def test_a_code_restricted_to_an_email_needs_that_email(api: Api) -> None:
    code = make_codes(api, allowed_email="ann@example.com").json()["codes"][0]["code"]
    assert apply_code(api, code).status == 422
    assert apply_code(api, code, email="bob@example.com").status == 422
    assert apply_code(api, code, email="Ann@example.com").status == 422  # exact, as the contract says
    assert apply_code(api, code, email="ann@example.com").status == 200
    assert api.get(f"/v1/codes/{code}").json()["restricted_to_email"] is True


def test_a_code_restricted_to_an_email_stores_no_email(api: Api) -> None:
    # Given a code for ann's email: erasing ann's data must not have to find it
    make_codes(api, allowed_email="ann@example.com", key="code-for-ann")
    # Then no stored item (code wallet, ledger entry, idempotency record) carries the email
    assert not [item for item in all_items() if "ann@example.com" in json.dumps(item)]


def test_codes_stored_with_the_plain_email_keep_their_restriction(api: Api, merchant: Merchant) -> None:
    from store_credit import wallet_store
    from store_credit.codes import holder_of

    # Given a code as an earlier release stored it, with the email itself
    code = make_codes(api, allowed_email="ann@example.com").json()["codes"][0]["code"]
    key = wallet_store.wallet_key(merchant.merchant_id, holder_of(code), "USD")
    item = wallet_store.dynamodb().get_item(TableName=os.environ["TABLE_NAME"], Key=key)["Item"]
    item.pop("email_lock")
    item["allowed_email"] = {"S": "ann@example.com"}
    wallet_store.dynamodb().put_item(TableName=os.environ["TABLE_NAME"], Item=item)
    # Then it still needs that email, and the write that spends it replaces the email by its digest
    assert apply_code(api, code, email="bob@example.com").status == 422
    assert apply_code(api, code, email="ann@example.com", capture=True).status == 200
    stored = wallet_store.dynamodb().get_item(TableName=os.environ["TABLE_NAME"], Key=key)["Item"]
    assert "allowed_email" not in stored and "email_lock" in stored


def test_a_code_not_yet_valid_applies_nothing(api: Api) -> None:
    code = make_codes(api, valid_from="2099-01-01T00:00:00+00:00").json()["codes"][0]["code"]
    assert apply_code(api, code).json()["applied"]["amount"] == "0.00"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"count": 0}, "count"),
        ({"count": 41}, "count"),
        ({"prefix": "has space"}, "prefix"),
        ({"suffix": "x" * 17}, "suffix"),
        ({"allowed_email": "nope"}, "allowed_email"),
        ({"expires": {"on": "2001-01-01"}}, "expires.on"),
    ],
)
def test_bad_code_requests_are_422(api: Api, fields: dict[str, Any], field: str) -> None:
    response = make_codes(api, **fields)
    assert response.status == 422, response.body
    assert any(e["field"].startswith(field) for e in response.json()["errors"])


def test_codes_need_their_scopes(gateway: Any, aws: None) -> None:
    reader = Api(gateway, make_merchant("reader", scopes=("credits:read",)).api_key)
    assert make_codes(reader).status == 403
