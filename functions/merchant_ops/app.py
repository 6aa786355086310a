"""Privacy export and erasure; the liability report (built in a later release)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.typing import LambdaContext

from store_credit import privacy_service
from store_credit.http_problems import caller, new_resolver, problem, resolve
from store_credit.models import CustomerExport, ErasureOut
from store_credit.observability import logger, metrics

app = new_resolver()

CustomerId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$")]


@app.get("/v1/customers/<customer_id>/export")
def export_customer(customer_id: CustomerId) -> CustomerExport:
    return CustomerExport.model_validate(privacy_service.export_customer(caller(app, "credits:read"), customer_id))


@app.delete("/v1/customers/<customer_id>/personal-data")
def erase_personal_data(customer_id: CustomerId) -> ErasureOut:
    return ErasureOut.model_validate(privacy_service.erase_personal_data(caller(app, "credits:write"), customer_id))


@app.get("/v1/reports/liability", include_in_schema=False)  # not in the OpenAPI until it exists
def liability_report():  # type: ignore[no-untyped-def]
    return problem(501, "not-implemented", "Not implemented yet", "the liability report is not available yet")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
