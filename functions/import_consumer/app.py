"""Import-row consumer (SQS, partial batch failures): each row applied exactly once.

A message that fails (throttling, contention, the table unreachable, out of time) goes back
to SQS and is delivered again; its rows already done are skipped by their markers. A message
that can never apply fails every time and SQS dead-letters it after maxReceiveCount.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from store_credit import imports_service
from store_credit.observability import logger, metrics

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
_context: list[LambdaContext] = []


def record_handler(record: SQSRecord) -> dict[str, int]:
    remaining = _context[0].get_remaining_time_in_millis if _context else None
    summary = imports_service.apply_message(record.body, remaining)
    logger.info("import rows", extra={"message_id": record.message_id, **summary})
    return summary


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _context[:] = [context]
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
