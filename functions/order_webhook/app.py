"""Order webhook: HMAC-signed order events (paid, cancelled, refunded, updated, failed).

Outside the API-key authorizer: the merchant is the path's, proven by ``X-Signature`` made with
that merchant's webhook secret. The raw body is what was signed, so it is read before any parse.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from aws_lambda_powertools.utilities.typing import LambdaContext

from store_credit import order_service
from store_credit.http_problems import json_result, new_resolver
from store_credit.models import OrderEventOut
from store_credit.observability import logger, metrics

app = new_resolver()

MerchantId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="The merchant the secret belongs to")]
Signature = Annotated[
    str | None, Header(alias="x-signature", description='t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">')
]


@app.post(
    "/v1/webhooks/orders/<merchant_id>",
    responses={
        200: {"description": "Applied (or replayed)", "content": {"application/json": {"model": OrderEventOut}}}
    },
)
def order_event(merchant_id: MerchantId, x_signature: Signature = None) -> Response[OrderEventOut]:
    current = app.current_event
    raw = base64.b64decode(current.body or "") if current.is_base64_encoded else (current.body or "").encode()
    return json_result(order_service.receive(merchant_id, raw, x_signature))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Not behind the JSON-only guard of the API routes: the signature is checked over the raw
    # bytes whatever their declared type, so an unsigned request is a 401 and nothing else.
    return app.resolve(event, context)
