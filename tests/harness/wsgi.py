"""The gateway as a WSGI app, serving the committed OpenAPI document too: what schemathesis
calls in the fuzzing tests, with no socket in between."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tests.harness.gateway import Gateway
from tests.harness.openapi import OUTPUT

HTTP_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}


def gateway_app(gateway: Gateway) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/openapi.json":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [OUTPUT.read_bytes()]
        query = environ.get("QUERY_STRING", "")
        headers = {
            key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode("utf-8", "replace") if length else None
        url = f"{path}?{query}" if query else path
        response = gateway.request(environ["REQUEST_METHOD"], url, headers=headers, body=body)
        start_response(
            f"{response.status} {HTTP_REASONS.get(response.status, 'Status')}",
            [(k, v) for k, v in response.headers.items() if k != "content-length"],
        )
        return [response.body.encode()]

    return app
