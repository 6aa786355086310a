"""The authorizer and scopes: the merchant comes from the API key, never from the request."""

from __future__ import annotations

import hashlib

import pytest

from tests.harness.api_client import Api, Merchant, make_merchant
from tests.harness.audit import all_items
from tests.harness.gateway import HttpResponse

ROUTES = [
    ("POST", "/v1/customers/cus_1/credits", "credits:write"),
    ("POST", "/v1/customers/cus_1/debits", "credits:write"),
    ("GET", "/v1/customers/cus_1/wallet?currency=USD", "credits:read"),
    ("GET", "/v1/customers/cus_1/transactions", "credits:read"),
    ("GET", "/v1/settings", "settings"),
    ("PUT", "/v1/settings", "settings"),
    ("POST", "/v1/checkout/apply", "checkout"),
    ("DELETE", "/v1/checkout/chk_1", "checkout"),
    ("POST", "/v1/codes", "credits:write"),
    ("GET", "/v1/codes/ABCDEFGHIJKLMNOP", "credits:read"),
    ("PUT", "/v1/customers/cus_1/renewal", "credits:write"),
    ("DELETE", "/v1/customers/cus_1/renewal", "credits:write"),
]
CHECKOUT = {
    "checkout_id": "chk_1",
    "customer_id": "cus_1",
    "cart": {"currency": "USD", "items": [{"id": "x", "quantity": 1, "unit_price": "10.00"}]},
}
PLAN = {"amount": {"amount": "5.00", "currency": "USD"}, "mode": "grant", "period": "monthly"}


def body_for(method: str, url: str) -> object:
    if url.endswith("/apply"):
        return CHECKOUT
    if url.endswith("/renewal") and method == "PUT":
        return PLAN
    if url.endswith("/codes"):
        return {"amount": {"amount": "5.00", "currency": "USD"}}
    if method == "POST":
        return BODY
    return {} if method == "PUT" else None


BODY = {"amount": {"amount": "1.00", "currency": "USD"}, "reason": "r"}


@pytest.mark.parametrize(("method", "url", "scope"), ROUTES)
def test_no_key_is_401_and_a_wrong_key_is_403(
    gateway: object, merchant: Merchant, method: str, url: str, scope: str
) -> None:
    body = body_for(method, url)
    assert Api(gateway, None).write(method, url, body).status == 401
    assert Api(gateway, "sk_test_not_a_key").write(method, url, body).status == 403
    assert Api(gateway, merchant.api_key[:-1]).write(method, url, body).status == 403


@pytest.mark.parametrize(("method", "url", "scope"), ROUTES)
def test_a_key_without_the_routes_scope_is_403_problem(
    gateway: object, aws: None, method: str, url: str, scope: str
) -> None:
    from store_credit.auth import SCOPES

    other_scopes = tuple(s for s in SCOPES if s != scope)
    limited = make_merchant("limited", scopes=other_scopes)
    body = body_for(method, url)
    response = Api(gateway, limited.api_key).write(method, url, body)
    assert response.status == 403
    assert response.json()["type"].endswith("forbidden")


# Every HTTP route with a request its validation can refuse: a body that breaks its model, a
# query or path parameter out of pattern, a missing Idempotency-Key.
INVALID_REQUESTS = [
    ("POST", "/v1/customers/cus_1/credits", "credits:write", {"amount": 1.5}, "auto"),
    ("POST", "/v1/customers/cus_1/debits", "credits:write", {"amount": 1.5}, "auto"),
    ("POST", "/v1/customers/cus_1/credits", "credits:write", BODY, None),
    ("POST", "/v1/customers/bad%23id/credits", "credits:write", BODY, "auto"),
    ("GET", "/v1/customers/cus_1/wallet?currency=usd", "credits:read", None, None),
    ("GET", "/v1/customers/cus_1/transactions?limit=0", "credits:read", None, None),
    ("PUT", "/v1/settings", "settings", {"timezone": 7}, "auto"),
    ("POST", "/v1/checkout/apply", "checkout", {"checkout_id": "chk_1"}, None),
    ("DELETE", "/v1/checkout/bad%23id", "checkout", None, None),
    ("POST", "/v1/codes", "credits:write", {"amount": "5"}, "auto"),
    ("GET", "/v1/codes/short", "credits:read", None, None),
    ("PUT", "/v1/customers/cus_1/renewal", "credits:write", {"mode": "nope"}, "auto"),
    ("DELETE", "/v1/customers/cus_1/renewal?currency=usd", "credits:write", None, None),
    ("POST", "/v1/imports", "imports", "not,a,csv", None),
    ("GET", "/v1/imports/imp_1?limit=0", "imports", None, None),
    ("GET", "/v1/customers/bad%23id/export", "credits:read", None, None),
    ("GET", "/v1/reports/liability?currency=usd", "credits:read", None, None),
]


@pytest.mark.parametrize("case", INVALID_REQUESTS, ids=lambda case: f"{case[0]} {case[1]}")
def test_a_key_without_the_routes_scope_learns_nothing_of_its_validation(
    gateway: object, aws: None, case: tuple[str, str, str, object, str | None]
) -> None:
    from store_credit.auth import SCOPES

    method, url, scope, body, key = case

    # Given a key with every scope but the route's, and a request the route would refuse as invalid
    limited = make_merchant("limited", scopes=tuple(s for s in SCOPES if s != scope))
    full = make_merchant("full")
    assert Api(gateway, full.api_key).write(method, url, body, key=key).status in (400, 422)
    # When the limited key sends it
    response = Api(gateway, limited.api_key).write(method, url, body, key=key)
    # Then it is the 403 of the missing scope, not the 400/422 that would describe the route's rules
    assert response.status == 403, response.body
    assert response.json()["type"].endswith("forbidden")


def test_another_merchants_customer_is_simply_not_found(gateway: object, api: Api, merchant: Merchant) -> None:
    # Given merchant A's customer with credit
    api.issue("cus_1", "10.00")
    rival = Api(gateway, make_merchant("rival").api_key)

    # Then merchant B cannot see, list or spend it
    assert rival.wallet("cus_1").status == 404
    assert rival.get("/v1/customers/cus_1/transactions").status == 404
    assert rival.debit("cus_1", "1.00").status == 404
    # nor hold it at checkout, nor release or capture A's checkout, nor change A's renewal
    assert Api(gateway, merchant.api_key).post("/v1/checkout/apply", CHECKOUT, key=None).status == 200
    assert rival.write("DELETE", "/v1/checkout/chk_1", None, key=None).status == 404
    rival_apply = rival.post("/v1/checkout/apply", {**CHECKOUT, "capture": True}, key=None)
    assert rival_apply.status == 200 and rival_apply.json()["applied"]["amount"] == "0.00"
    assert api.wallet("cus_1").json()["held"]["amount"] == "10.00"
    assert api.put("/v1/customers/cus_1/renewal", PLAN).status == 200
    assert rival.write("DELETE", "/v1/customers/cus_1/renewal", None, key=None).status == 404
    # and B issuing to "cus_1" creates B's own customer, leaving A's untouched
    assert rival.issue("cus_1", "2.00").status == 201
    assert api.wallet("cus_1").json()["balance"]["amount"] == "10.00"
    assert rival.wallet("cus_1").json()["available"]["amount"] == "2.00"


def test_a_cursor_from_another_merchants_ledger_finds_no_customer_of_ours(gateway: object, api: Api) -> None:
    # Given merchant A's customer with three entries, and a cursor into A's ledger
    for amount in ("1.00", "2.00", "3.00"):
        api.issue("cus_1", amount)
    cursor = api.get("/v1/customers/cus_1/transactions?limit=1").json()["next_cursor"]
    rival = Api(gateway, make_merchant("rival").api_key)

    # When merchant B lists "cus_1", which B does not have, with A's cursor
    listed = rival.get(f"/v1/customers/cus_1/transactions?limit=1&cursor={cursor}")

    # Then it is not found, as without a cursor: not an empty page of a customer B seems to have
    assert listed.status == 404
    assert listed.json()["type"].endswith("not-found")


def test_idempotency_keys_are_per_merchant(gateway: object, api: Api) -> None:
    rival = Api(gateway, make_merchant("rival").api_key)
    assert api.post("/v1/customers/cus_1/credits", BODY, key="shared-key").status == 201
    assert rival.post("/v1/customers/cus_1/credits", {**BODY, "reason": "other"}, key="shared-key").status == 201


def test_api_keys_are_stored_only_as_digests(api: Api, merchant: Merchant) -> None:
    stored = [item for item in all_items() if item["PK"]["S"].startswith("APIKEY#")]
    assert stored
    digest = hashlib.sha256(merchant.api_key.encode()).hexdigest()
    assert stored[0]["PK"]["S"] == f"APIKEY#{digest}"
    assert merchant.api_key not in repr(all_items())


def test_the_authorizer_sees_the_bearer_scheme_case_insensitively(gateway: object, merchant: Merchant) -> None:
    response = gateway.request(  # type: ignore[attr-defined]
        "GET", "/v1/settings", headers={"Authorization": f"bearer {merchant.api_key}"}
    )
    assert response.status == 200


def test_a_key_with_characters_no_key_has_is_403_not_500(gateway: object, merchant: Merchant) -> None:
    # Given Authorization headers whose token holds what no issued key holds: a lone UTF-16
    # surrogate (as a JSON event can carry it, "\ud800"), a NUL, a letter beyond ASCII
    for token in ("\ud800", f"{merchant.api_key}\x00", f"{merchant.api_key}é"):
        # When a route is called with it
        response = gateway.request(  # type: ignore[attr-defined]
            "GET", "/v1/settings", headers={"Authorization": f"Bearer {token}"}
        )
        # Then the authorizer refuses it like any unknown key (403), never failing (500)
        assert response.status == 403, (token, response.body)


def test_logs_carry_no_key_email_or_phone(api: Api, merchant: Merchant, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from store_credit.observability import logger

    logger.setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG):
            api.issue("cus_1", "1.00", email="ann@example.com", phone="+886912345678")
            api.debit("cus_1", "5.00")  # refused: logs a problem line
            Api(api.gateway, "sk_test_wrong").wallet("cus_1")
    finally:
        logger.setLevel(logging.WARNING)
    text = repr([r.__dict__ for r in caplog.records if r.name == "store-credit"])  # our logs, not botocore debug
    assert "request refused" in text and "api key refused" in text
    for secret in (merchant.api_key, "sk_test_wrong", "ann@example.com", "+886912345678"):
        assert secret not in text


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("content_type", "body", "refused"),
    [
        ("text/plain", "amount=1", 415),
        ("application/x-www-form-urlencoded", "amount=1", 415),
        (None, _nested(100_000), 400),
    ],
    ids=["text", "form", "json-too-deep"],
)
def test_a_key_without_the_routes_scope_gets_its_403_before_the_body_is_looked_at(
    gateway: object, aws: None, content_type: str | None, body: str, refused: int
) -> None:
    # Given a key with every scope but settings, and a body the JSON routes refuse (not JSON,
    # or JSON too deep to parse), as they do for a key with the scope
    limited = make_merchant("limited", scopes=("credits:write", "credits:read", "checkout", "imports"))
    full = make_merchant("full")

    def send(api_key: str) -> HttpResponse:
        headers = {"authorization": f"Bearer {api_key}", "idempotency-key": "k1"}
        if content_type:
            headers["content-type"] = content_type
        return gateway.request("PUT", "/v1/settings", headers=headers, body=body)  # type: ignore[attr-defined,no-any-return]

    answer = send(full.api_key)
    assert answer.status == refused and answer.headers["content-type"] == "application/problem+json"
    # When the limited key sends it to a settings route
    response = send(limited.api_key)
    # Then it is the 403 of the missing scope, not the 415/400 of the body
    assert response.status == 403, response.body
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("forbidden")


def test_concurrent_requests_of_two_merchants_each_run_as_their_own(gateway: object, api: Api) -> None:
    from concurrent.futures import ThreadPoolExecutor

    # Given merchants A and B, each with a customer "cus_1" and a balance of its own
    rival = Api(gateway, make_merchant("rival").api_key)
    assert api.issue("cus_1", "10.00").status == 201
    assert rival.issue("cus_1", "2.00").status == 201
    limited = Api(gateway, make_merchant("limited", scopes=("settings",)).api_key)

    # When their reads, and those of a key without the read scope, run at once (the local
    # gateway invokes concurrent requests on containers of their own, in threads)
    def read(i: int) -> tuple[str, int, str | None]:
        who, client = [("A", api), ("B", rival), ("limited", limited)][i % 3]
        response = client.wallet("cus_1")
        return who, response.status, (response.json().get("available") or {}).get("amount")

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(read, range(60)))

    # Then each is answered as its own merchant, and the limited key never as anyone's
    expected = {"A": (200, "10.00"), "B": (200, "2.00"), "limited": (403, None)}
    assert all((status, amount) == expected[who] for who, status, amount in answers), answers
