"""Merchant settings API."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.utilities.typing import LambdaContext

from store_credit import settings_service
from store_credit.http_problems import caller, json_result, new_resolver, requires, resolve
from store_credit.idempotency import fingerprint, require_key
from store_credit.models import SettingsOut, SettingsUpdate
from store_credit.observability import logger, metrics

app = new_resolver()


@app.get("/v1/settings")
@requires("settings")
def show_settings() -> SettingsOut:
    return SettingsOut.model_validate(settings_service.show_settings(caller(app)))


@app.put(
    "/v1/settings",
    responses={
        200: {"description": "Settings after the update", "content": {"application/json": {"model": SettingsOut}}}
    },
)
@requires("settings")
def update_settings(
    body: SettingsUpdate, idempotency_key: Annotated[str | None, Header(alias="idempotency-key")] = None
) -> Response[SettingsOut]:
    key = require_key(idempotency_key)
    request_hash = fingerprint("update_settings", {}, app.current_event.json_body)
    return json_result(settings_service.update_settings(caller(app), body, key, request_hash))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
