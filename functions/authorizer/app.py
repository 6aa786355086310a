"""HTTP API Lambda authorizer (payload 2.0, simple responses): bearer API key → merchant + scopes.

API Gateway caches the answer per Authorization header (see template), so DynamoDB sees one
GetItem per key per cache period, not one per request.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from store_credit.auth import authenticate
from store_credit.observability import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    headers = event.get("headers") or {}
    found = authenticate(headers.get("authorization"))
    if found is None:
        logger.info("api key refused")  # never log the key itself
        return {"isAuthorized": False}
    return {"isAuthorized": True, "context": found.authorizer_context()}
