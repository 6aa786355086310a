"""DynamoDB stream (new ledger entries and checkout holds, by the template's filter) →
EventBridge events, and the liability counters (each entry counted exactly once)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from store_credit import event_bus
from store_credit.ledger_events import count_liability, hold_event, ledger_event
from store_credit.observability import logger
from store_credit.wallet_store import entry_from_item

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
zones: dict[str, str] = {}  # merchant → timezone, read once per invocation


def publish_entry(record: DynamoDBRecord) -> None:
    image = record.raw_event["dynamodb"]["NewImage"]
    if image["SK"]["S"] == "HOLD":
        event = hold_event(image)
    else:
        entry = entry_from_item(image)
        count_liability(image["merchant_id"]["S"], entry, zones)
        event = ledger_event(image["merchant_id"]["S"], image["customer_id"]["S"], entry)
    if event is not None:
        event_bus.publish(event)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    zones.clear()  # a timezone changed in settings applies from the next batch
    return process_partial_response(event=event, record_handler=publish_entry, processor=processor, context=context)
