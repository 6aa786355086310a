"""Publishing to the service's EventBridge bus (the only module that calls EventBridge)."""

from __future__ import annotations

import json
import os
from typing import Any

_client: Any = None


def events_client() -> Any:
    global _client
    if _client is None:
        from store_credit import aws

        _client = aws.client("events")
    return _client


def reset_client() -> None:
    global _client
    _client = None


class PublishFailed(Exception):
    """EventBridge refused an entry; the stream record is retried."""


def publish(event: dict[str, Any]) -> None:
    entry = {**event, "Detail": json.dumps(event["Detail"]), "EventBusName": os.environ["EVENT_BUS_NAME"]}
    response = events_client().put_events(Entries=[entry])
    if response.get("FailedEntryCount"):
        raise PublishFailed(str(response["Entries"][0].get("ErrorCode")))
