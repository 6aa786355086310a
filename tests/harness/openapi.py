"""Build the service's OpenAPI document from the handlers' own resolvers (the code is the
source), add what the gateway and the problem handlers contribute, and write it to
``shared/openapi.json``. ``tests/test_openapi.py`` fails when the committed copy drifts."""

from __future__ import annotations

import json
from typing import Any

from tests.harness import template
from tests.harness.gateway import load_handler_module

OUTPUT = template.ROOT / "shared" / "openapi.json"

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail", "errors"],
    "properties": {
        "type": {"type": "string", "examples": ["https://store-credit.dev/problems/insufficient-credit"]},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
GATEWAY_ERROR = {"type": "object", "properties": {"message": {"type": "string"}}}

ERRORS = {
    "400": "Malformed JSON, or the Idempotency-Key header is missing",
    "403": "The API key lacks the route's scope (problem+json), or the key is not valid (gateway)",
    "404": "No such customer for this merchant",
    "409": "Not enough credit (insufficient-credit), no room for another lot in the wallet (wallet-full),"
    " or an Idempotency-Key reused with another body",
    "415": "The body is not application/json",
    "422": "A field is not valid; `errors` names each one",
    "500": "Internal error",
    "503": "The wallet is busy or DynamoDB throttled; retry with the same Idempotency-Key",
}


def build_openapi() -> dict[str, Any]:
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Store credit API",
            "version": "1.0.0",
            "description": (
                "Money is {amount: decimal string, currency: ISO 4217}. Writes take an Idempotency-Key. "
                "Errors are application/problem+json. The merchant comes from the API key."
            ),
        },
        "servers": [{"url": "http://127.0.0.1:3000", "description": "make run"}],
        "paths": {},
        "components": {
            "schemas": {"Problem": PROBLEM, "GatewayError": GATEWAY_ERROR},
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "Merchant API key"}},
        },
        "security": [{"apiKey": []}],
    }
    seen_dirs = []
    for route in template.http_routes():
        if route.code_dir in seen_dirs:
            continue
        seen_dirs.append(route.code_dir)
        module = load_handler_module(route.code_dir, instance=97)
        app = getattr(module, "app", None)
        if app is None:
            continue
        part = json.loads(app.get_openapi_json_schema(title="part", version="0"))
        document["paths"].update(part.get("paths", {}))
        # A route that reads its body itself (CSV, gzip) documents it here: {(method, path): requestBody}
        for (method, path), request_body in getattr(module, "openapi_request_bodies", dict)().items():
            document["paths"][path][method]["requestBody"] = request_body
        for name, schema in part.get("components", {}).get("schemas", {}).items():
            if name not in {"HTTPValidationError", "ValidationError", "ResponseValidationError"}:
                document["components"]["schemas"][name] = schema
    for path_item in document["paths"].values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for code, description in ERRORS.items():
                responses[code] = {
                    "description": _bad_request(operation) if code == "400" else description,
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                }
            responses["401"] = {
                "description": "No Authorization header (answered by the gateway)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GatewayError"}}},
            }
            for code in ("403", "404"):  # the gateway answers these itself for bad keys / no route
                responses[code]["content"]["application/json"] = {
                    "schema": {"$ref": "#/components/schemas/GatewayError"}
                }
    _document_order_webhook(document)
    return document


def _bad_request(operation: dict[str, Any]) -> str:
    """What a 400 means for this operation: only a write keyed by Idempotency-Key can lack it."""
    keyed = any(p.get("name", "").lower() == "idempotency-key" for p in operation.get("parameters", []))
    if keyed:
        return ERRORS["400"]
    if "requestBody" in operation:
        return "Malformed JSON"
    return "Malformed request"


WEBHOOK_PATH = "/v1/webhooks/orders/{merchant_id}"


def _document_order_webhook(document: dict[str, Any]) -> None:
    """The webhook verifies its signature over the raw body before parsing it, so its handler
    cannot declare the body for Powertools to validate; its schema is added here instead."""
    from store_credit.models import OrderEvent

    operation = document["paths"].get(WEBHOOK_PATH, {}).get("post")
    if operation is None:
        return
    schema = OrderEvent.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, part in schema.pop("$defs", {}).items():
        document["components"]["schemas"][name] = part
    document["components"]["schemas"]["OrderEvent"] = schema
    operation["security"] = []  # no API key: the X-Signature HMAC authenticates the sender
    operation["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OrderEvent"}}},
    }
    responses = operation["responses"]
    responses["401"] = {
        "description": "X-Signature missing, older than 5 minutes, or not made with the merchant's webhook secret",
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    responses["409"]["description"] = "The event id was used with another body, or another order took the checkout"
    responses.pop("403", None)


def render() -> str:
    return json.dumps(build_openapi(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT}")
