"""Emails for credit.issued and credit.expiring (an EventBridge rule on the service's bus)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from store_credit.notifications import notify
from store_credit.observability import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    sent = notify(event["detail-type"], event["detail"])
    logger.info("notification", extra={"detail_type": event["detail-type"], "sent": sent is not None})
    return {"sent": sent is not None}
