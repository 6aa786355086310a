"""`make bench` (cold start): what a new container pays before it can answer.

In fresh interpreters, each figure the best of RUNS (10) measured in turn with its baselines,
so a busy machine slows every side:

- import: the handler module plus its first DynamoDB client, from sources and then with the
  layer's bytecode precompiled as its Makefile build ships it (Lambda's disk is read-only:
  without shipped .pyc every cold start compiles again), against a bare ``import boto3`` plus
  one client (the goal's measure) and against the packages every HTTP handler must import;
- first answer: import (with .pyc) plus serving one real request over MiniStack, against
  ``import boto3``, one client and one consistent GetItem. Models are built when a request
  first needs them (pydantic ``defer_build``), so this is the honest end-to-end figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from tests.harness.shipped import compiled_copy
from tests.harness.shipped import handler_path as shipped_path
from tests.harness.template import ROOT

RUNS = int(os.environ.get("BENCH_RUNS", "10"))
TIMER = "import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
HTTP_FLOOR = (
    "import botocore.session; botocore.session.get_session().create_client('dynamodb'); "
    "from aws_lambda_powertools import Logger, Metrics; import pydantic; "
    "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver; "
    "APIGatewayHttpResolver(enable_validation=True)"
)
FIRST_CLIENT = "from store_credit import wallet_store; wallet_store.dynamodb()"
IMPORT_ONLY = [
    "authorizer",
    "credits",
    "settings",
    "checkout",
    "renewal",
    "expiry",
    "ledger_events",
    "order_webhook",
    "imports",
    "import_consumer",
]
# In the fresh interpreter: read the event, import the handler, answer once, print the times.
FIRST_ANSWER = """
import json, sys, time
t = time.perf_counter()
import app
imported = time.perf_counter()
class Context:
    function_name = "bench"; memory_limit_in_mb = 512; aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    def get_remaining_time_in_millis(self): return 300_000
answer = app.lambda_handler(json.load(open(sys.argv[1])), Context())
done = time.perf_counter()
status = answer.get("statusCode", 200) if isinstance(answer, dict) and "statusCode" in answer else 200
print(json.dumps({"import": imported - t, "answer": done - t, "status": status}))
"""
BASELINE_ANSWER = """
import json, os, time
t = time.perf_counter()
import boto3
client = boto3.client("dynamodb")
client.get_item(TableName=os.environ["TABLE_NAME"], Key={"PK": {"S": "M#bench"}, "SK": {"S": "SETTINGS"}},
                ConsistentRead=True)
print(json.dumps({"answer": time.perf_counter() - t}))
"""


def run_python(code: str, env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return out.stdout.strip().splitlines()[-1]


def handler_path(name: str, root: Path | None = None) -> str:
    """The layer and one function, from the repository or from a compiled copy of both."""
    if root is None:
        return os.pathsep.join([str(ROOT / "layers" / "store_credit"), str(ROOT / "functions" / name)])
    return shipped_path(root, name)


def seconds(code: str, env: dict[str, str]) -> float:
    return float(run_python(code, env))


def paired_best(baseline: Callable[[], float], handler: Callable[[], float]) -> tuple[float, float]:
    pairs = [(baseline(), handler()) for _ in range(RUNS)]
    return min(p[0] for p in pairs), min(p[1] for p in pairs)


def import_figures(built: Path) -> list[tuple[str, float, float, float, float]]:
    """Per function: (name, × baseline from sources, × baseline with .pyc, × the packages' floor
    with .pyc). Baseline, floor and handler are measured in turn, RUNS times, best of each, so
    the three share the machine's moods (this one's vary by ±30 % from minute to minute)."""
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "1"}
    base = TIMER.format(code="import boto3; boto3.client('dynamodb')")
    floor = TIMER.format(code=HTTP_FLOOR)
    handler = TIMER.format(code=f"import app; {FIRST_CLIENT}")
    rows = []
    for name in IMPORT_ONLY:
        source_env = {**env, "PYTHONPATH": handler_path(name)}
        pyc_env = {**env, "PYTHONPATH": handler_path(name, built)}
        runs = [
            (seconds(base, env), seconds(floor, env), seconds(handler, source_env), seconds(handler, pyc_env))
            for _ in range(RUNS)
        ]
        baseline, packages, source, compiled = (min(run[i] for run in runs) for i in range(4))
        rows.append((name, source / baseline, compiled / baseline, compiled / packages, packages / baseline))
    return rows


def first_answer_events(merchant: Any) -> dict[str, Callable[[], dict[str, Any]]]:
    """A fresh, real request per run for each function (new idempotency keys and checkouts)."""
    from store_credit.webhook_signatures import sign
    from tests.harness.gateway import Gateway
    from tests.harness.local_stack import scheduled_event

    gateway = Gateway()
    auth = {"authorization": f"Bearer {merchant.api_key}", "content-type": "application/json"}

    def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
        prepared = gateway.prepare(method, url, headers={**auth, **(headers or {})}, body=body)
        assert isinstance(prepared, tuple), prepared
        return prepared[1]

    def issue() -> dict[str, Any]:
        body = {"amount": {"amount": "5.00", "currency": "USD"}, "reason": "bench"}
        return http("POST", "/v1/customers/c1/credits", body, {"idempotency-key": uuid.uuid4().hex})

    def apply() -> dict[str, Any]:
        item = {"id": "1", "product_id": "p1", "quantity": 1, "unit_price": "20.00", "tax_rate": "0"}
        cart = {"currency": "USD", "items": [item]}
        return http("POST", "/v1/checkout/apply", {"checkout_id": uuid.uuid4().hex, "customer_id": "c1", "cart": cart})

    def order_paid() -> dict[str, Any]:
        order = {"id": uuid.uuid4().hex, "customer_id": "c1", "currency": "USD", "total": "20.00", "items": []}
        raw = json.dumps({"id": uuid.uuid4().hex, "type": "order.paid", "order": order}).encode()
        signature = sign(merchant.webhook_secret, int(time.time()), raw)
        headers = {"content-type": "application/json", "x-signature": signature}
        prepared = gateway.prepare("POST", f"/v1/webhooks/orders/{merchant.merchant_id}", headers=headers, body=raw)
        assert isinstance(prepared, tuple), prepared
        return prepared[1]

    def authorize() -> dict[str, Any]:
        route = next(r for r in gateway.routes if r.match("POST", "/v1/checkout/apply") is not None)
        return gateway.authorizer_event(route, http("POST", "/v1/checkout/apply", {}))

    return {
        "authorizer": authorize,
        "credits": issue,
        "checkout": apply,
        "settings": lambda: http("GET", "/v1/settings"),
        "order_webhook": order_paid,
        "imports": lambda: http(
            "POST",
            "/v1/imports",
            [{"customer_id": "c1", "amount": "1.00", "currency": "USD", "reason": "bench"}],
            {"idempotency-key": uuid.uuid4().hex},
        ),
        "expiry": lambda: scheduled_event("expiry", None),
        "renewal": lambda: scheduled_event("renewal", None),
    }


def first_answer(
    event_file: Path, make_event: Callable[[], dict[str, Any]], env: dict[str, str], statuses: list[int]
) -> float:
    event_file.write_text(json.dumps(make_event()))
    result = json.loads(run_python(FIRST_ANSWER, env, str(event_file)))
    statuses.append(int(result["status"]))
    return float(result["answer"])


def first_answer_figures(built: Path) -> list[tuple[str, float, float, int]]:
    """(function, first answer ms, × baseline, status) per function, over MiniStack."""
    import boto3

    from tests.harness.api_client import Api, create_stack_resources, make_merchant, reset_clients
    from tests.harness.gateway import Gateway
    from tests.harness.local_stack import LOCAL_ENV
    from tests.harness.ministack import start_ministack

    emulator = start_ministack()
    env = {
        **os.environ,
        **LOCAL_ENV,
        "TABLE_NAME": "bench-cold",
        "EVENT_BUS_NAME": "bench-cold",
        "AWS_ENDPOINT_URL": emulator.url,
        "POWERTOOLS_TRACE_DISABLED": "1",
    }
    os.environ.update(env)
    rows = []
    try:
        reset_clients()
        create_stack_resources(boto3.client)
        merchant = make_merchant("bench")
        events = first_answer_events(merchant)
        Api(Gateway(), merchant.api_key).issue("c1", "500.00")  # a wallet to apply from
        env["IMPORT_QUEUE_URL"] = os.environ["IMPORT_QUEUE_URL"]
        with tempfile.TemporaryDirectory() as scratch:
            for name, make_event in events.items():
                handler_env = {**env, "PYTHONPATH": handler_path(name, built)}
                statuses: list[int] = []
                answer = partial(first_answer, Path(scratch) / f"{name}.json", make_event, handler_env, statuses)
                baseline, first = paired_best(lambda: json.loads(run_python(BASELINE_ANSWER, env))["answer"], answer)
                rows.append((name, first * 1000, first / baseline, statuses[-1]))
    finally:
        emulator.stop()
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as built:
        compiled_root = compiled_copy(Path(built))
        imports = import_figures(compiled_root)
        answers = first_answer_figures(compiled_root)
    print(f"\nCold start (fresh interpreters, best of {RUNS} each, measured in turn)\n")
    print(f"{'function':16} {'× boto3+client':>15} {'with .pyc':>10} {'× packages':>11} {'packages ×':>11}")
    for name, source, compiled, over_floor, floor in imports:
        print(f"{name:16} {source:>15.2f} {compiled:>10.2f} {over_floor:>11.2f} {floor:>11.2f}")
    print(
        "\n× boto3+client: the handler's import and first client against `import boto3` + one client, from\n"
        "sources, then with the layer's .pyc as its build ships them. × packages: the same (.pyc) against the\n"
        "packages an HTTP handler imports before any code of this project (botocore + client + Powertools'\n"
        "validating HTTP resolver, Logger, Metrics and pydantic), whose own cost is the last column."
    )
    print("\nFirst answer (import with .pyc + one real request over MiniStack) against boto3 + client + GetItem\n")
    print(f"{'function':14} {'ms':>6} {'× baseline':>11} {'status':>7}")
    for name, ms, ratio, status in answers:
        print(f"{name:14} {ms:>6.0f} {ratio:>11.2f} {status:>7}")


if __name__ == "__main__":
    main()
