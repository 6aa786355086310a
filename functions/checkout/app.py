"""Apply store credit at checkout (hold or capture) and release it."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from aws_lambda_powertools.utilities.typing import LambdaContext

from store_credit import checkout_service, codes_service
from store_credit.http_problems import caller, json_result, new_resolver, requires, resolve
from store_credit.idempotency import fingerprint, require_key
from store_credit.models import ApplyRequest, CheckoutOut, CodeOut, CodesOut, CreateCodesRequest, ReleaseOut
from store_credit.observability import logger, metrics

app = new_resolver()

CheckoutId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
IdempotencyKey = Annotated[str | None, Header(alias="idempotency-key", description="Required")]


@app.post(
    "/v1/checkout/apply",
    description=(
        "The checkout_id is the idempotency key (no Idempotency-Key header needed). The same request again "
        "while its hold is live answers the first quote (Idempotent-Replayed: true) and writes nothing; "
        "after hold.expires_at it is quoted and held again with the credit available now (applied "
        "zero and hold null if none is left). A changed cart replaces the hold. A capture (capture: "
        "true) sent again is always its first answer; a captured checkout, or one whose order was cancelled, "
        "is final (409)."
    ),
    responses={
        200: {"description": "The quote, with its hold", "content": {"application/json": {"model": CheckoutOut}}}
    },
)
@requires("checkout")
def apply_credit(body: ApplyRequest) -> Response[CheckoutOut]:
    # The checkout id is the idempotency key: same request → same quote while its hold is live;
    # after the hold's time, or with a changed cart → a new quote and hold.
    request_hash = fingerprint("apply_credit", {}, app.current_event.json_body)
    return json_result(checkout_service.apply(caller(app), body, request_hash))


@app.delete(
    "/v1/checkout/<checkout_id>",
    responses={200: {"description": "Hold released", "content": {"application/json": {"model": ReleaseOut}}}},
)
@requires("checkout")
def release_hold(checkout_id: CheckoutId) -> Response[ReleaseOut]:
    return json_result(checkout_service.release(caller(app), checkout_id))


@app.post(
    "/v1/codes", responses={201: {"description": "Codes created", "content": {"application/json": {"model": CodesOut}}}}
)
@requires("credits:write")
def create_codes(body: CreateCodesRequest, idempotency_key: IdempotencyKey = None) -> Response[CodesOut]:
    key = require_key(idempotency_key)
    request_hash = fingerprint("create_codes", {}, app.current_event.json_body)
    return json_result(codes_service.create_codes(caller(app), body, key, request_hash))


@app.get("/v1/codes/<code>")
@requires("credits:read")
def show_code(code: Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{16,48}$")]) -> CodeOut:
    return CodeOut.model_validate(codes_service.show_code(caller(app), code))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
