"""What Lambda's event source mappings do, for the local stack and the tests: read the
table's stream (applying the template's FilterCriteria) and the import queue, and invoke
the functions the template wires to them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3

from tests.harness import template
from tests.harness.gateway import invoke


def matches(pattern: Any, value: Any) -> bool:
    """EventBridge-style content filtering: the subset Lambda filter criteria use here
    (nested keys, lists of allowed values, ``{"prefix": …}``)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(k in value and matches(p, value[k]) for k, p in pattern.items())
    if isinstance(pattern, list):
        for option in pattern:
            if isinstance(option, dict) and "prefix" in option:
                if isinstance(value, str) and value.startswith(option["prefix"]):
                    return True
            elif option == value:
                return True
        return False
    return bool(pattern == value)


def _event_props(function: str, event_type: str) -> dict[str, Any]:
    events = template.resources("AWS::Serverless::Function")[function]["Properties"]["Events"]
    return next(e["Properties"] for e in events.values() if e["Type"] == event_type)


@dataclass
class StreamPump:
    """Polls every shard of the table's stream and hands filtered records to the function."""

    function: str = "LedgerEventsFunction"
    iterators: dict[str, str] = field(default_factory=dict)
    delivered: int = 0

    def __post_init__(self) -> None:
        props = _event_props(self.function, "DynamoDB")
        self.patterns = [json.loads(f["Pattern"]) for f in props.get("FilterCriteria", {}).get("Filters", [])]
        self.batch_size = int(props.get("BatchSize", 100))
        self.code_dir = template.function_dir(self.function)

    def _stream_arn(self, client: Any) -> str:
        import os

        streams = client.list_streams(TableName=os.environ["TABLE_NAME"])["Streams"]
        return str(streams[0]["StreamArn"])

    def pump(self) -> int:
        """One pass over all shards; returns the records delivered."""
        client = boto3.client("dynamodbstreams")
        arn = self._stream_arn(client)
        for shard in client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            if shard_id not in self.iterators:
                self.iterators[shard_id] = client.get_shard_iterator(
                    StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
        delivered = 0
        for shard_id, iterator in list(self.iterators.items()):
            if not iterator:
                continue
            page = client.get_records(ShardIterator=iterator, Limit=1000)
            records = [self._lambda_record(r, arn) for r in page["Records"]]
            records = [r for r in records if not self.patterns or any(matches(p, r) for p in self.patterns)]
            for start in range(0, len(records), self.batch_size):
                batch = records[start : start + self.batch_size]
                result = invoke(self.code_dir, {"Records": batch})
                failed = (result or {}).get("batchItemFailures") or []
                if failed:
                    raise RuntimeError(f"{self.function} failed records: {failed}")
                delivered += len(batch)
            self.iterators[shard_id] = page.get("NextShardIterator", "")
        self.delivered += delivered
        return delivered

    @staticmethod
    def _lambda_record(record: dict[str, Any], arn: str) -> dict[str, Any]:
        dynamodb = {k: v for k, v in record["dynamodb"].items() if k != "ApproximateCreationDateTime"}
        created = record["dynamodb"].get("ApproximateCreationDateTime")
        if created is not None:
            dynamodb["ApproximateCreationDateTime"] = created.timestamp() if hasattr(created, "timestamp") else created
        return {
            "eventID": record["eventID"],
            "eventName": record["eventName"],
            "eventVersion": record.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": record.get("awsRegion", "us-east-1"),
            "dynamodb": dynamodb,
            "eventSourceARN": arn,
        }


def sqs_records(messages: list[dict[str, Any]], queue_arn: str = "arn:aws:sqs:us-east-1:123456789012:imports") -> Any:
    """SQS messages as Lambda's event source mapping hands them to the function."""
    return [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": "us-east-1",
        }
        for m in messages
    ]


@dataclass
class QueuePump:
    """Lambda's SQS event source mapping for the import queue, on demand: receive a batch,
    invoke the consumer, delete what it did not report failed. Failed messages are made visible
    again at once (instead of after the visibility timeout) so tests need not wait."""

    function: str = "ImportConsumerFunction"
    invocations: int = 0
    failures: int = 0

    def __post_init__(self) -> None:
        props = _event_props(self.function, "SQS")
        self.batch_size = min(10, int(props.get("BatchSize", 10)))  # ReceiveMessage takes at most 10
        self.code_dir = template.function_dir(self.function)

    def receive(self, client: Any = None) -> list[dict[str, Any]]:
        import os

        sqs = client or boto3.client("sqs")
        response = sqs.receive_message(
            QueueUrl=os.environ["IMPORT_QUEUE_URL"], MaxNumberOfMessages=self.batch_size, AttributeNames=["All"]
        )
        return list(response.get("Messages", []))

    def deliver(self, messages: list[dict[str, Any]], client: Any = None) -> set[str]:
        """Invoke the consumer with these messages; acknowledge the successes. Returns failed ids."""
        import os

        sqs = client or boto3.client("sqs")
        result = invoke(self.code_dir, {"Records": sqs_records(messages)}) or {}
        self.invocations += 1
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        self.failures += len(failed)
        for m in messages:
            if m["MessageId"] in failed:
                sqs.change_message_visibility(
                    QueueUrl=os.environ["IMPORT_QUEUE_URL"], ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                sqs.delete_message(QueueUrl=os.environ["IMPORT_QUEUE_URL"], ReceiptHandle=m["ReceiptHandle"])
        return failed

    def drain(self, *, max_empty_receives: int = 2) -> int:
        """Deliver until the queue is empty. Returns the messages delivered (including retries)."""
        sqs = boto3.client("sqs")
        delivered = empty = 0
        while empty < max_empty_receives:
            messages = self.receive(sqs)
            if not messages:
                empty += 1
                continue
            empty = 0
            self.deliver(messages, sqs)
            delivered += len(messages)
        return delivered
