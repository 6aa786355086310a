"""`make run` as a checkout engineer meets it: start, read the banner, call it over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.ministack import free_port
from tests.harness.template import ROOT

EMULATOR_URL: dict[str, str] = {}


@pytest.fixture(scope="module")
def local_stack() -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'store_credit'}"}
    env.pop("AWS_ENDPOINT_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.harness.local_stack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    banner = process.stdout.readline()
    try:
        assert f"http://127.0.0.1:{port}" in banner, banner
        EMULATOR_URL[f"http://127.0.0.1:{port}"] = banner.split("MiniStack at ")[1].split(")")[0]
        for line in iter(process.stdout.readline, ""):
            banner += line
            if "webhook secret" in line:
                break
        assert "sk_test_demo" in banner and "whsec_demo" in banner
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=15)


def call(method: str, url: str, body: Any = None, key: str | None = "sk_test_demo", **headers: str) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_issue_debit_and_read_with_the_demo_key(local_stack: str) -> None:
    credit = {"amount": {"amount": "25.00", "currency": "USD"}, "reason": "Welcome credit", "expires": {"days": 30}}
    assert call("POST", f"{local_stack}/v1/customers/ann/credits", credit, Idempotency_Key="k1")[0] == 201
    status, debit = call(
        "POST",
        f"{local_stack}/v1/customers/ann/debits",
        {"amount": {"amount": "5.00", "currency": "USD"}, "reason": "Correction"},
        Idempotency_Key="k2",
    )
    assert status == 201
    assert debit["wallet"]["available"] == {"amount": "20.00", "currency": "USD"}
    status, wallet = call("GET", f"{local_stack}/v1/customers/ann/wallet?currency=USD")
    assert status == 200 and len(wallet["lots"]) == 1
    status, history = call("GET", f"{local_stack}/v1/customers/ann/transactions")
    assert [entry["type"] for entry in history["items"]] == ["debit", "credit"]
    assert call("GET", f"{local_stack}/v1/customers/ann/transactions", key=None)[0] == 401


def test_local_merchants_are_isolated_from_the_demo(local_stack: str) -> None:
    status, created = call("POST", f"{local_stack}/local/merchants", {"merchant_id": "shop2"}, key=None)
    assert status == 201
    assert created["api_key"].startswith("sk_test_") and created["webhook_secret"].startswith("whsec_")
    assert call("POST", f"{local_stack}/local/merchants", {"merchant_id": "shop2"}, key=None)[0] == 409
    assert call("GET", f"{local_stack}/v1/customers/ann/wallet?currency=USD", key=created["api_key"])[0] == 404


def test_schedules_can_be_invoked_with_a_chosen_time(local_stack: str) -> None:
    status, summary = call("POST", f"{local_stack}/local/schedules/expiry", {"time": "2027-01-01T00:00:00Z"}, key=None)
    assert status == 200 and summary["job"] == "expiry"
    status, summary = call("POST", f"{local_stack}/local/schedules/renewal", None, key=None)
    assert status == 200 and summary["job"] == "renewal"


def test_ledger_entries_become_events_on_the_local_bus(local_stack: str) -> None:
    import boto3

    # Given a queue subscribed to the local bus (the banner names the emulator)
    emulator = EMULATOR_URL[local_stack]
    aws = {
        "endpoint_url": emulator,
        "region_name": "us-east-1",
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
    }
    sqs, events = boto3.client("sqs", **aws), boto3.client("events", **aws)
    queue = sqs.create_queue(QueueName="watch")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="watch", EventBusName="store-credit-local", EventPattern='{"source": ["store-credit"]}')
    events.put_targets(Rule="watch", EventBusName="store-credit-local", Targets=[{"Id": "q", "Arn": arn}])

    # When credit is issued
    credit = {"amount": {"amount": "3.00", "currency": "USD"}, "reason": "Event check"}
    assert call("POST", f"{local_stack}/v1/customers/bob/credits", credit, Idempotency_Key="ev1")[0] == 201

    # Then the stream pump publishes credit.issued for it within a few seconds
    deadline, seen = time.monotonic() + 10, []
    while time.monotonic() < deadline and not any(e["detail"]["customer_id"] == "bob" for e in seen):
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
        seen += [json.loads(m["Body"]) for m in messages]
    bob = [e for e in seen if e["detail"]["customer_id"] == "bob"]
    assert [e["detail-type"] for e in bob] == ["credit.issued"]
    assert bob[0]["detail"]["amount"] == {"amount": "3.00", "currency": "USD"}
