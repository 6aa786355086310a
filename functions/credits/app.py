"""Credits API: issue, deduct, wallet and ledger of a customer (HTTP API, payload 2.0)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from store_credit import wallet_service
from store_credit.http_problems import caller, json_result, new_resolver, requires, resolve
from store_credit.idempotency import fingerprint, require_key
from store_credit.models import (
    DebitRequest,
    IssueCreditRequest,
    PlainDigits,
    TransactionPage,
    WalletChangeOut,
    WalletOut,
)
from store_credit.observability import logger, metrics

app = new_resolver()

CustomerId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$", description="Your customer id")]
IdempotencyKey = Annotated[str | None, Header(alias="idempotency-key", description="Required on writes")]


@app.post(
    "/v1/customers/<customer_id>/credits",
    responses={201: {"description": "Credit issued", "content": {"application/json": {"model": WalletChangeOut}}}},
)
@requires("credits:write")
def issue_credit(
    customer_id: CustomerId, body: IssueCreditRequest, idempotency_key: IdempotencyKey = None
) -> Response[WalletChangeOut]:
    key = require_key(idempotency_key)
    request_hash = fingerprint("issue_credit", {"customer_id": customer_id}, app.current_event.json_body)
    result = wallet_service.issue(caller(app), customer_id, body, key, request_hash)
    return json_result(result)


@app.post(
    "/v1/customers/<customer_id>/debits",
    responses={201: {"description": "Credit deducted", "content": {"application/json": {"model": WalletChangeOut}}}},
)
@requires("credits:write")
def deduct_credit(
    customer_id: CustomerId, body: DebitRequest, idempotency_key: IdempotencyKey = None
) -> Response[WalletChangeOut]:
    key = require_key(idempotency_key)
    request_hash = fingerprint("deduct_credit", {"customer_id": customer_id}, app.current_event.json_body)
    result = wallet_service.deduct(caller(app), customer_id, body, key, request_hash)
    return json_result(result)


@app.get("/v1/customers/<customer_id>/wallet")
@requires("credits:read")
def show_wallet(customer_id: CustomerId, currency: Annotated[str, Query(pattern=r"^[A-Z]{3}$")]) -> WalletOut:
    return WalletOut.model_validate(wallet_service.show_wallet(caller(app), customer_id, currency))


@app.get("/v1/customers/<customer_id>/transactions")
@requires("credits:read")
def list_transactions(
    customer_id: CustomerId,
    limit: Annotated[int | None, Query(), Field(ge=1, le=100), PlainDigits] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> TransactionPage:
    page = wallet_service.list_transactions(caller(app), customer_id, limit, cursor)
    return TransactionPage.model_validate(page)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
