"""Renewal: the plan routes (HTTP API) and the hourly schedule, in one function."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from store_credit import renewal_service
from store_credit.expiry_service import now_from_event
from store_credit.http_problems import caller, json_result, new_resolver, requires, resolve
from store_credit.idempotency import fingerprint, require_key
from store_credit.models import RenewalPlanOut, RenewalPlanRequest, RenewalPlansDeleted
from store_credit.observability import logger, metrics

app = new_resolver()

CustomerId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$")]


@app.put(
    "/v1/customers/<customer_id>/renewal",
    responses={200: {"description": "The plan", "content": {"application/json": {"model": RenewalPlanOut}}}},
)
@requires("credits:write")
def put_plan(
    customer_id: CustomerId,
    body: RenewalPlanRequest,
    idempotency_key: Annotated[str | None, Header(alias="idempotency-key")] = None,
) -> Response[RenewalPlanOut]:
    key = require_key(idempotency_key)
    request_hash = fingerprint("put_renewal", {"customer_id": customer_id}, app.current_event.json_body)
    return json_result(renewal_service.put_plan(caller(app), customer_id, body, key, request_hash))


@app.delete("/v1/customers/<customer_id>/renewal")
@requires("credits:write")
def delete_plan(
    customer_id: CustomerId, currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None
) -> RenewalPlansDeleted:
    deleted = renewal_service.delete_plan(caller(app), customer_id, currency)
    return RenewalPlansDeleted.model_validate(deleted)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "requestContext" in event:
        return resolve(app, event, context)
    summary = renewal_service.run_renewal(now_from_event(event), context.get_remaining_time_in_millis)
    logger.info("renewal run", extra=summary)
    return summary
