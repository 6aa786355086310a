"""Every trigger has a sample event in events/, and each one runs against its function."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.harness import template
from tests.harness.api_client import make_merchant
from tests.harness.gateway import invoke

EVENTS = template.ROOT / "events"
ALL = sorted(EVENTS.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def function_for(event: dict[str, Any]) -> str:
    if event.get("type") == "REQUEST":
        return template.authorizer_function()
    if "routeKey" in event:
        route = next(r for r in template.http_routes() if r.route_key == event["routeKey"])
        return route.function
    if str(event.get("detail-type", "")).startswith("credit."):
        return "NotifierFunction"
    if event.get("detail-type") == "Scheduled Event":
        job = event["resources"][0].rsplit("-", 1)[-1]
        return {"expiry": "ExpiryFunction", "renewal": "RenewalFunction"}[job]
    source = event["Records"][0]["eventSource"]
    return {"aws:sqs": "ImportConsumerFunction", "aws:dynamodb": "LedgerEventsFunction"}[source]


def test_every_trigger_in_the_template_has_a_sample() -> None:
    covered = {function_for(load(path)) for path in ALL}
    triggers = set(template.functions_with_event("HttpApi")) | set(template.functions_with_event("ScheduleV2"))
    triggers |= set(template.functions_with_event("SQS")) | set(template.functions_with_event("DynamoDB"))
    triggers |= set(template.functions_with_event("EventBridgeRule"))
    triggers.add(template.authorizer_function())
    assert triggers <= covered
    routes = {load(path).get("routeKey") for path in ALL}
    for route in template.http_routes():
        if route.function in {"CreditsFunction", "SettingsFunction", "CheckoutFunction"}:
            assert route.route_key in routes, route.route_key


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_sample_event_runs_against_its_function(aws: None, path: Path) -> None:
    make_merchant("demo", api_key="sk_test_demo", webhook_secret="whsec_demo")
    event = load(path)
    if event.get("routeKey", "").startswith("POST /v1/webhooks/"):
        # Signed with the demo secret; a signature is good for 5 minutes, so sign it again now.
        import time

        from store_credit.webhook_signatures import sign

        event["headers"]["x-signature"] = sign("whsec_demo", int(time.time()), event["body"].encode())
    result = invoke(template.function_dir(function_for(event)), event)
    if event.get("routeKey", "").startswith("POST /v1/webhooks/"):
        assert result["statusCode"] == 200, result
    if "routeKey" in event and event.get("type") != "REQUEST":
        assert result["statusCode"] < 500 or result["statusCode"] == 501, result
    elif event.get("type") == "REQUEST":
        assert result["isAuthorized"] is True
        assert result["context"]["merchant_id"] == "demo"
    elif "Records" in event and event["Records"][0]["eventSource"] == "aws:dynamodb":
        assert result == {"batchItemFailures": []}
