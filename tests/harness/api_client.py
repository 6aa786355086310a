"""Test helpers with no side effects at import: stack resources, merchants, an API client."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


def create_stack_resources(client_factory: Any) -> None:
    """The table (from template.yaml), the event bus: what the handlers expect to exist."""
    from tests.harness import template

    table = os.environ["TABLE_NAME"]
    dynamodb = client_factory("dynamodb")
    dynamodb.create_table(**template.table_definition(table))
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"AttributeName": template.ttl_attribute(), "Enabled": True}
    )
    client_factory("events").create_event_bus(Name=os.environ["EVENT_BUS_NAME"])
    create_import_queue(client_factory("sqs"), f"{table}-imports")


def create_import_queue(sqs: Any, name: str) -> str:
    """The import queue and its DLQ with the template's redrive policy; sets IMPORT_QUEUE_URL."""
    import json

    from tests.harness import template

    props = template.resources("AWS::SQS::Queue")["ImportQueue"]["Properties"]
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(props["RedrivePolicy"]["maxReceiveCount"])}
    url = sqs.create_queue(
        QueueName=name,
        Attributes={"VisibilityTimeout": str(props["VisibilityTimeout"]), "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    os.environ["IMPORT_QUEUE_URL"] = str(url)
    os.environ["IMPORT_DLQ_URL"] = str(dlq)
    return str(url)


def reset_clients() -> None:
    from store_credit import event_bus, import_queue, mailer, wallet_store

    wallet_store.reset_client()
    import_queue.reset_client()
    event_bus.reset_client()
    mailer.reset_client()


@dataclass
class Merchant:
    merchant_id: str
    api_key: str
    webhook_secret: str


def make_merchant(merchant_id: str, **kwargs: Any) -> Merchant:
    from store_credit.settings_service import create_merchant

    created = create_merchant(merchant_id, key_prefix="sk_test", **kwargs)
    return Merchant(merchant_id, created["api_key"], created["webhook_secret"])


@contextmanager
def moto_shop(merchant_id: str) -> Iterator[tuple[Api, OrderWebhook, Merchant]]:
    """A moto account of its own with the template's resources and one merchant: for a fuzzer
    that keeps one shop across its examples (a module-scoped fixture)."""
    import boto3
    from moto import mock_aws

    from tests.harness.gateway import Gateway

    with mock_aws():
        reset_clients()
        create_stack_resources(lambda service: boto3.client(service, region_name="us-east-1"))
        merchant = make_merchant(merchant_id)
        gateway = Gateway()
        yield Api(gateway, merchant.api_key), OrderWebhook(gateway, merchant), merchant
    reset_clients()


class Api:
    """Calls through the template's routes with a merchant's API key."""

    def __init__(self, gateway: Any, api_key: str | None) -> None:
        self.gateway = gateway
        self.api_key = api_key

    def _headers(self, idempotency_key: str | None, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        if idempotency_key:
            headers["idempotency-key"] = idempotency_key
        return {**headers, **(extra or {})}

    def get(self, url: str, headers: dict[str, str] | None = None) -> Any:
        return self.gateway.request("GET", url, headers=self._headers(None, headers))

    def write(
        self, method: str, url: str, body: Any, *, key: str | None = "auto", headers: dict[str, str] | None = None
    ) -> Any:
        idempotency_key = str(uuid.uuid4()) if key == "auto" else key
        return self.gateway.request(method, url, headers=self._headers(idempotency_key, headers), body=body)

    def post(self, url: str, body: Any, **kwargs: Any) -> Any:
        return self.write("POST", url, body, **kwargs)

    def put(self, url: str, body: Any, **kwargs: Any) -> Any:
        return self.write("PUT", url, body, **kwargs)

    def issue(self, customer: str, amount: str, currency: str = "USD", **fields: Any) -> Any:
        body = {
            "amount": {"amount": amount, "currency": currency},
            "reason": fields.pop("reason", "goodwill"),
            **fields,
        }
        return self.post(f"/v1/customers/{customer}/credits", body)

    def fill_wallet(self, customer: str, currency: str = "USD", **extra: Any) -> None:
        """Issue lots until the wallet's item has no room for even the smallest (409 wallet-full):
        large restricted lots first, then smaller ones, then plain ones, so it takes few requests."""
        for count in (100, 10, 1, 0):
            restrictions = {
                "product_ids": [f"p{i:03d}" + "x" * 124 for i in range(count)],
                "categories": [f"c{i:03d}" + "y" * 124 for i in range(count)],
            }
            fields = {"restrictions": restrictions, **extra} if count else dict(extra)
            while (response := self.issue(customer, "1.00", currency, **fields)).status == 201:
                pass
            assert response.status == 409 and response.json()["type"].endswith("wallet-full"), response.body

    def debit(self, customer: str, amount: str, currency: str = "USD", **kwargs: Any) -> Any:
        body = {"amount": {"amount": amount, "currency": currency}, "reason": "manual deduction"}
        return self.post(f"/v1/customers/{customer}/debits", body, **kwargs)

    def wallet(self, customer: str, currency: str = "USD") -> Any:
        return self.get(f"/v1/customers/{customer}/wallet?currency={currency}")


class OrderWebhook:
    """Sends order events the way an order system does: JSON signed with the merchant's secret."""

    def __init__(self, gateway: Any, merchant: Merchant) -> None:
        self.gateway = gateway
        self.merchant = merchant

    def event(self, event_type: str, order: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        return {"id": event_id or f"evt_{uuid.uuid4().hex[:12]}", "type": event_type, "order": order}

    def post(
        self,
        body: dict[str, Any] | bytes,
        *,
        secret: str | None = None,
        timestamp: int | None = None,
        signature: str | None = "sign",
        merchant_id: str | None = None,
    ) -> Any:
        import time

        from store_credit.webhook_signatures import sign

        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        if signature == "sign":
            stamp = int(time.time()) if timestamp is None else timestamp
            headers["x-signature"] = sign(secret or self.merchant.webhook_secret, stamp, raw)
        elif signature is not None:
            headers["x-signature"] = signature
        url = f"/v1/webhooks/orders/{merchant_id or self.merchant.merchant_id}"
        return self.gateway.request("POST", url, headers=headers, body=raw)

    def send(self, event_type: str, order: dict[str, Any], event_id: str | None = None, **kwargs: Any) -> Any:
        return self.post(self.event(event_type, order, event_id), **kwargs)
