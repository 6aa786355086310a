"""Sending import rows to the SQS import queue (the only module that calls SQS).

SendMessageBatch takes 10 messages a request; each message carries a block of rows, so
100,000 rows are 4,000 messages and 400 requests, sent by a few threads at once (botocore
clients are thread-safe) to stay far inside API Gateway's 29 seconds.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from store_credit.errors import DomainError

BATCH = 10  # SendMessageBatch's limit
SENDERS = 8
ATTEMPTS = 5

_client: Any = None


def sqs() -> Any:
    global _client
    if _client is None:
        from store_credit import aws

        _client = aws.client("sqs", retries={"mode": "standard", "max_attempts": 4}, max_pool_connections=SENDERS)
    return _client


def reset_client() -> None:
    global _client
    _client = None


class QueueUnavailable(DomainError):
    """SQS refused messages after retries: the import is stored; retrying with the same
    Idempotency-Key queues the rest (rows already queued are applied once all the same)."""

    status = 503
    slug = "queue-unavailable"
    title = "The import queue is unavailable; retry with the same Idempotency-Key"


def _send_batch(bodies: list[str]) -> int:
    """One batch of up to 10 messages, resending what SQS reports failed. Returns requests made."""
    from botocore.exceptions import BotoCoreError, ClientError

    pending = {str(i): body for i, body in enumerate(bodies)}
    requests = 0
    for attempt in range(ATTEMPTS):
        try:
            requests += 1
            response = sqs().send_message_batch(
                QueueUrl=os.environ["IMPORT_QUEUE_URL"],
                Entries=[{"Id": key, "MessageBody": body} for key, body in pending.items()],
            )
        except (BotoCoreError, ClientError) as error:
            if attempt == ATTEMPTS - 1:
                raise QueueUnavailable(detail=f"SQS: {error}") from error
            time.sleep(0.05 * 2**attempt)
            continue
        for ok in response.get("Successful", []):
            pending.pop(ok["Id"], None)
        if not pending:
            return requests
        time.sleep(0.05 * 2**attempt)
    raise QueueUnavailable(detail=f"SQS refused {len(pending)} messages")


def send_all(bodies: list[str]) -> int:
    """Send every message (at least once). Returns the SendMessageBatch requests made."""
    batches = [bodies[i : i + BATCH] for i in range(0, len(bodies), BATCH)]
    if len(batches) <= 1:
        return sum(_send_batch(batch) for batch in batches)
    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        return sum(pool.map(_send_batch, batches))
