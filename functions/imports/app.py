"""Bulk import API: validate a whole file and queue its rows; show an import's progress."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from store_credit import imports_service
from store_credit.http_problems import caller, json_result, new_resolver, requires
from store_credit.idempotency import require_key
from store_credit.models import ImportAccepted, ImportStatus, PlainDigits, import_request_body
from store_credit.observability import logger, metrics

app = new_resolver()

IdempotencyKey = Annotated[str | None, Header(alias="idempotency-key", description="Required on writes")]


@app.post(
    "/v1/imports",
    description=(
        "Body: text/csv (header customer_id,email,phone,amount,currency,reason,expires_on,expires_days), "
        'a JSON list of rows, or a group {"customer_ids", "amount", "reason"}. Up to 100,000 rows; '
        "send Content-Encoding: gzip for large files. The whole input is validated first."
    ),
    responses={202: {"description": "Queued", "content": {"application/json": {"model": ImportAccepted}}}},
)
@requires("imports")
def start_import(idempotency_key: IdempotencyKey = None) -> Response[ImportAccepted]:
    key = require_key(idempotency_key)
    event = app.current_event
    result = imports_service.start_import(
        caller(app),
        body=event.body,
        base64_encoded=event.is_base64_encoded,
        content_type=event.headers.get("content-type"),
        content_encoding=event.headers.get("content-encoding"),
        idempotency_key=key,
    )
    return json_result(result)


@app.get("/v1/imports/<import_id>")
@requires("imports")
def show_import(
    import_id: Annotated[str, Path(max_length=64)],
    limit: Annotated[
        int | None, Query(description="Failed rows per page (default 100)"), Field(ge=1, le=1000), PlainDigits
    ] = None,
    cursor: Annotated[str | None, Query(max_length=16)] = None,
) -> ImportStatus:
    return ImportStatus.model_validate(imports_service.show_import(caller(app), import_id, limit, cursor))


def openapi_request_bodies() -> dict[tuple[str, str], dict[str, Any]]:
    return {("post", "/v1/imports"): import_request_body()}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Not http_problems.resolve: this route takes CSV (and gzip) too; import_rows checks the type.
    return app.resolve(event, context)
