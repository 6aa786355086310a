"""Privacy export and erasure; the liability report."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from store_credit import privacy_service, reports_service
from store_credit.http_problems import caller, new_resolver, requires, resolve
from store_credit.models import CustomerExport, ErasureOut, LiabilityReport
from store_credit.observability import logger, metrics

app = new_resolver()

CustomerId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$")]


@app.get("/v1/customers/<customer_id>/export")
@requires("credits:read")
def export_customer(customer_id: CustomerId) -> CustomerExport:
    return CustomerExport.model_validate(privacy_service.export_customer(caller(app), customer_id))


@app.delete("/v1/customers/<customer_id>/personal-data")
@requires("credits:write")
def erase_personal_data(customer_id: CustomerId) -> ErasureOut:
    return ErasureOut.model_validate(privacy_service.erase_personal_data(caller(app), customer_id))


@app.get("/v1/reports/liability")
@requires("credits:read")
def liability_report(
    currency: Annotated[str, Query(pattern=r"^[A-Z]{3}$")],
    first_day: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    last_day: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> LiabilityReport:
    report = reports_service.liability(caller(app), currency, first_day, last_day)
    return LiabilityReport.model_validate(report)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
