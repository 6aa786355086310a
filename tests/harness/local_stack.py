"""`make run`: the service on http://127.0.0.1:3000 with no AWS account and no Docker.

The same functions, through the same routes as template.yaml (see ``gateway``), on MiniStack
(DynamoDB, DynamoDB Streams, SQS, EventBridge) started from its own virtualenv. It also does
what Lambda's event source mappings would: ledger stream → LedgerEventsFunction, import queue
→ ImportConsumerFunction. ``/local/*`` routes exist only here, never in template.yaml.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "TABLE_NAME": "store-credit-local",
    "EVENT_BUS_NAME": "store-credit-local",
    "POWERTOOLS_SERVICE_NAME": "store-credit",
    "POWERTOOLS_METRICS_NAMESPACE": "StoreCredit",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "SENDER_EMAIL": "store-credit@example.com",
}
DEMO = {"merchant_id": "demo", "api_key": "sk_test_demo", "webhook_secret": "whsec_demo"}


def create_resources() -> None:
    import boto3

    from tests.harness import template

    dynamodb = boto3.client("dynamodb")
    table = os.environ["TABLE_NAME"]
    if table not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(**template.table_definition(table))
        dynamodb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"AttributeName": template.ttl_attribute(), "Enabled": True}
        )
    events = boto3.client("events")
    if os.environ["EVENT_BUS_NAME"] not in {b["Name"] for b in events.list_event_buses()["EventBuses"]}:
        events.create_event_bus(Name=os.environ["EVENT_BUS_NAME"])
    sqs = boto3.client("sqs")
    queues = template.resources("AWS::SQS::Queue")
    dlq = sqs.create_queue(QueueName="store-credit-imports-dlq-local")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    import_queue = queues["ImportQueue"]["Properties"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(import_queue["RedrivePolicy"]["maxReceiveCount"])}
    os.environ["IMPORT_QUEUE_URL"] = sqs.create_queue(
        QueueName="store-credit-imports-local",
        Attributes={"VisibilityTimeout": str(import_queue["VisibilityTimeout"]), "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]


def seed_demo() -> None:
    from store_credit import wallet_store
    from store_credit.settings_service import create_merchant

    if wallet_store.load_settings(DEMO["merchant_id"]) is None:
        create_merchant(DEMO["merchant_id"], api_key=DEMO["api_key"], webhook_secret=DEMO["webhook_secret"])


def scheduled_event(job: str, when: str | None) -> dict[str, Any]:
    from tests.harness.template import ROOT

    event = json.loads((ROOT / "events" / f"schedule_{job}.json").read_text())
    event["time"] = when or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    event["id"] = f"local-{time.time_ns()}"
    return event


def _aware_iso_time(when: object) -> bool:
    """None (now), or ISO 8601 text with an offset, as EventBridge sends (a naive time would be
    read in this machine's timezone)."""
    if when is None:
        return True
    if not isinstance(when, str):
        return False
    from datetime import datetime

    try:
        return datetime.fromisoformat(when.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


class SqsPump(threading.Thread):
    """Lambda's SQS event source mapping for the import queue, with partial batch failures."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__(name="sqs-pump", daemon=True)
        self.stop = stop

    def run(self) -> None:
        import boto3

        from tests.harness import template
        from tests.harness.gateway import invoke
        from tests.harness.pumps import sqs_records

        sqs = boto3.client("sqs")
        code_dir = template.function_dir("ImportConsumerFunction")
        while not self.stop.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=os.environ["IMPORT_QUEUE_URL"],
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                ).get("Messages", [])
                if not messages:
                    continue
                records = sqs_records(messages, "arn:aws:sqs:us-east-1:000000000000:store-credit-imports-local")
                result = invoke(code_dir, {"Records": records}) or {}
                failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
                for m in messages:
                    if m["MessageId"] not in failed:
                        sqs.delete_message(QueueUrl=os.environ["IMPORT_QUEUE_URL"], ReceiptHandle=m["ReceiptHandle"])
            except Exception as error:
                print(f"sqs pump: {error}", file=sys.stderr)
                time.sleep(1)


class StreamThread(threading.Thread):
    def __init__(self, stop: threading.Event) -> None:
        super().__init__(name="stream-pump", daemon=True)
        self.stop = stop

    def run(self) -> None:
        from tests.harness.pumps import StreamPump

        pump = StreamPump()
        while not self.stop.is_set():
            try:
                if pump.pump() == 0:
                    time.sleep(0.3)
            except Exception as error:
                print(f"stream pump: {error}", file=sys.stderr)
                time.sleep(1)


def make_handler(gateway: Any) -> type[BaseHTTPRequestHandler]:
    from tests.harness import template
    from tests.harness.gateway import invoke

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"{self.command} {self.path} → {args[1] if len(args) > 1 else ''}\n")

        def _send(self, status: int, headers: dict[str, str], body: str) -> None:
            data = body.encode()
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in {"content-length", "connection"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _json(self, status: int, body: Any) -> None:
            self._send(status, {"content-type": "application/json"}, json.dumps(body))

        def _body(self) -> bytes | None:
            # Bytes: the gateway passes text through and base64-encodes binary (a gzip upload).
            length = int(self.headers.get("content-length") or 0)
            return self.rfile.read(length) if length else None

        def _local(self, body: bytes | None) -> None:
            from store_credit.errors import DomainError
            from store_credit.settings_service import create_merchant

            try:
                payload = json.loads(body) if body else {}
            except json.JSONDecodeError:
                return self._json(400, {"message": "body is not JSON"})
            if self.command == "POST" and self.path == "/local/merchants":
                try:
                    created = create_merchant(str(payload.get("merchant_id", "")), key_prefix="sk_test")
                except DomainError as error:
                    return self._json(error.status if error.status != 400 else 409, {"message": error.detail})
                return self._json(201, created)
            if self.command == "POST" and self.path in {"/local/schedules/expiry", "/local/schedules/renewal"}:
                when = payload.get("time") if isinstance(payload, dict) else None
                if not isinstance(payload, dict) or not _aware_iso_time(when):
                    # A job given a time it cannot read would raise and drop the connection.
                    return self._json(400, {"message": 'body must be {"time": "<ISO 8601 with offset>"} or empty'})
                job = self.path.rsplit("/", 1)[-1]
                function = {"expiry": "ExpiryFunction", "renewal": "RenewalFunction"}[job]
                result = invoke(template.function_dir(function), scheduled_event(job, when))
                return self._json(200, result)
            return self._json(404, {"message": "no such local route"})

        def _handle(self) -> None:
            body = self._body()
            if self.path.startswith("/local/"):
                return self._local(body)
            response = gateway.request(self.command, self.path, headers=dict(self.headers.items()), body=body)
            self._send(response.status, response.headers, response.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    return Handler


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    from tests.harness.ministack import start_ministack

    port = int(os.environ.get("PORT", "3000"))
    # A terminated stack (test teardown, `timeout`, systemd) stops its emulator too, not only Ctrl-C.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    emulator = start_ministack(int(os.environ["EMULATOR_PORT"]) if os.environ.get("EMULATOR_PORT") else None)
    os.environ.update({**LOCAL_ENV, "AWS_ENDPOINT_URL": emulator.url})
    stop = threading.Event()
    try:
        from tests.harness.gateway import Gateway

        create_resources()
        seed_demo()
        server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(Gateway()))
        StreamThread(stop).start()
        SqsPump(stop).start()
        url = f"http://127.0.0.1:{server.server_port}"
        print(
            f"store credit is running at {url}  (emulator: MiniStack at {emulator.url})\n"
            f"  demo merchant:   {DEMO['merchant_id']}\n"
            f"  API key:         {DEMO['api_key']}   (all scopes)\n"
            f"  webhook secret:  {DEMO['webhook_secret']}\n"
            f"  try: curl -s {url}/v1/customers/cus_1/credits -H 'Authorization: Bearer {DEMO['api_key']}' "
            "-H 'Idempotency-Key: demo-1' -H 'Content-Type: application/json' "
            '-d \'{"amount": {"amount": "25.00", "currency": "USD"}, "reason": "Welcome credit"}\'',
            flush=True,
        )
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        emulator.stop()


if __name__ == "__main__":
    main()
