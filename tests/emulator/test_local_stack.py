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


def test_schedules_with_a_future_time_expire_and_renew(local_stack: str) -> None:
    from datetime import UTC, datetime, timedelta

    # Given credit expiring tomorrow and a monthly grant plan
    credit = {"amount": {"amount": "4.00", "currency": "USD"}, "reason": "Short-lived", "expires": {"days": 1}}
    assert call("POST", f"{local_stack}/v1/customers/eve/credits", credit, Idempotency_Key="e1")[0] == 201
    renewal = {"amount": {"amount": "10.00", "currency": "USD"}, "mode": "grant", "period": "monthly"}
    status, plan = call("PUT", f"{local_stack}/v1/customers/eve/renewal", renewal, Idempotency_Key="r1")
    assert status == 200

    # When both schedules run at a time past the expiry and the next renewal
    future = max(datetime.now(UTC) + timedelta(days=3), datetime.fromisoformat(plan["next_renewal_at"]))
    when = {"time": (future + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    status, expiry = call("POST", f"{local_stack}/local/schedules/expiry", when, key=None)
    assert status == 200 and expiry["lots_expired"] >= 1
    status, renewed = call("POST", f"{local_stack}/local/schedules/renewal", when, key=None)
    assert status == 200 and renewed["renewed"] == 1

    # Then the wallet shows the renewal and not the expired credit
    status, wallet = call("GET", f"{local_stack}/v1/customers/eve/wallet?currency=USD")
    assert wallet["balance"]["amount"] == "10.00"
    assert call("POST", f"{local_stack}/local/schedules/renewal", None, key=None)[1]["job"] == "renewal"


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


def test_a_signed_order_webhook_the_way_the_readme_sends_it(local_stack: str) -> None:
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("the README's recipe signs with openssl")
    # Given a checkout holding 30.00 of Cleo's 50.00
    credit = {"amount": {"amount": "50.00", "currency": "USD"}, "reason": "Welcome credit"}
    assert call("POST", f"{local_stack}/v1/customers/cleo/credits", credit, Idempotency_Key="w1")[0] == 201
    cart = {"currency": "USD", "items": [{"id": "l1", "quantity": 1, "unit_price": "100.00"}]}
    apply = {"checkout_id": "chk_w", "customer_id": "cleo", "cart": cart, "requested_amount": "30.00"}
    assert call("POST", f"{local_stack}/v1/checkout/apply", apply)[0] == 200
    order = '"order": {"id": "ord_w", "checkout_id": "chk_w", "customer_id": "cleo", "currency": "USD", ' + (
        '"total": "70.00"}'
    )

    def send(body: str) -> dict[str, Any]:
        # The README's recipe: HMAC-SHA256 of "<t>.<body>" with the demo secret, by openssl.
        script = (
            "t=$(date +%s); "
            'sig=$(printf "%s.%s" "$t" "$BODY" | openssl dgst -sha256 -hmac whsec_demo | sed "s/^.* //"); '
            'curl -s "$URL/v1/webhooks/orders/demo" -H "X-Signature: t=$t,v1=$sig" '
            '-H "Content-Type: application/json" -d "$BODY"'
        )
        env = {**os.environ, "BODY": body, "URL": local_stack}
        out = subprocess.run(["bash", "-c", script], check=True, env=env, capture_output=True, text=True)
        answer: dict[str, Any] = json.loads(out.stdout)
        return answer

    # When the order system sends paid twice, then cancelled
    paid = send('{"id": "evt_w1", "type": "order.paid", ' + order + "}")
    again = send('{"id": "evt_w1", "type": "order.paid", ' + order + "}")
    cancelled = send('{"id": "evt_w2", "type": "order.cancelled", ' + order + "}")

    # Then 30.00 was captured once and came back whole
    assert paid == again and paid["captured"]["amount"] == "30.00"
    assert cancelled["returned"]["amount"] == "30.00"
    _, wallet = call("GET", f"{local_stack}/v1/customers/cleo/wallet?currency=USD")
    assert (wallet["balance"]["amount"], wallet["held"]["amount"]) == ("50.00", "0.00")
    # And an unsigned call is refused
    assert call("POST", f"{local_stack}/v1/webhooks/orders/demo", {"id": "x"}, key=None)[0] == 401


def test_a_gzip_csv_import_is_applied_by_the_local_queue_consumer(local_stack: str) -> None:
    import gzip

    # Given a customer of the demo merchant
    credit = {"amount": {"amount": "1.00", "currency": "USD"}, "reason": "Before import"}
    assert call("POST", f"{local_stack}/v1/customers/imp1/credits", credit, Idempotency_Key="i0")[0] == 201

    # When a gzip-compressed CSV of 60 rows is uploaded
    lines = ["customer_id,email,phone,amount,currency,reason,expires_on,expires_days"]
    lines += [f"imp1,,,0.50,USD,row {i},," for i in range(59)] + ["nobody,,,1.00,USD,unmatched,,"]
    request = urllib.request.Request(
        f"{local_stack}/v1/imports", data=gzip.compress("\n".join(lines).encode()), method="POST"
    )
    for name, value in {
        "Content-Type": "text/csv",
        "Content-Encoding": "gzip",
        "Authorization": "Bearer sk_test_demo",
        "Idempotency-Key": "import-1",
    }.items():
        request.add_header(name, value)
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202
        import_id = json.loads(response.read())["import_id"]

    # Then the stack's own SQS consumer applies it within seconds
    deadline, state = time.monotonic() + 30, {}
    while time.monotonic() < deadline and state.get("state") not in {"completed", "completed_with_errors"}:
        time.sleep(0.3)
        state = call("GET", f"{local_stack}/v1/imports/{import_id}")[1]
    assert (state["state"], state["rows_applied"], state["rows_failed"]) == ("completed_with_errors", 59, 1)
    assert state["errors"] == [{"row": 59, "reason": "no customer matches the row's customer_id"}]
    wallet = call("GET", f"{local_stack}/v1/customers/imp1/wallet?currency=USD")[1]
    assert wallet["available"]["amount"] == "30.50"
