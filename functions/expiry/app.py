"""Scheduled expiry (EventBridge Scheduler, every few minutes): "now" is the event's time."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from store_credit.expiry_service import now_from_event, run_expiry
from store_credit.observability import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    summary = run_expiry(now_from_event(event), context.get_remaining_time_in_millis)
    logger.info("expiry run", extra=summary)
    return summary
