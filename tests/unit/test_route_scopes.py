"""Route scopes (``http_problems.requires``) on a resolver of their own: each route checks its
own scope, whatever the decorator order, and a caller never outlives the request it was
checked for (a Lambda container resolves one request after another on the same app)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel

from store_credit.errors import DomainError
from store_credit.http_problems import caller, new_resolver, requires
from tests.harness.gateway import FakeLambdaContext, load_handler_module
from tests.harness.template import ROOT


class Thing(BaseModel):
    name: str


def build() -> APIGatewayHttpResolver:
    app = new_resolver()

    @app.get("/things/<thing_id>")
    @requires("credits:read")
    def show(thing_id: str) -> dict[str, str]:
        return {"merchant": caller(app).merchant_id, "thing": thing_id}

    @app.put("/things/<thing_id>")  # the same path, another method, another scope
    @requires("credits:write")
    def change(thing_id: str, body: Thing) -> dict[str, str]:
        return {"merchant": caller(app).merchant_id, "thing": thing_id}

    @requires("settings")  # above the route decorator: app.get hands back the very function
    @app.get("/above")
    def above() -> dict[str, str]:
        return {"merchant": caller(app).merchant_id}

    @app.get("/boom")
    @requires("credits:read")
    def boom() -> dict[str, str]:
        raise KeyError("the domain code failed")

    @app.get("/refused")
    @requires("credits:read")
    def refused() -> dict[str, str]:
        raise DomainError("refused by the domain")

    @app.get("/unscoped")  # no @requires: no caller, whoever called before
    def unscoped() -> dict[str, str]:
        return {"merchant": caller(app).merchant_id}

    return app


def event(method: str, path: str, merchant: str | None, scopes: str = "", body: Any = None) -> dict[str, Any]:
    authorizer = {"lambda": {"merchant_id": merchant, "scopes": scopes, "key_id": "k"}} if merchant else {}
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "authorizer": authorizer,
            "requestId": "r",
            "routeKey": f"{method} {path}",
            "stage": "$default",
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def call(app: APIGatewayHttpResolver, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    answer = app.resolve(event(*args, **kwargs), FakeLambdaContext("scopes"))
    return answer["statusCode"], json.loads(answer["body"] or "null")


@pytest.fixture
def app() -> Iterator[APIGatewayHttpResolver]:
    resolver = build()
    yield resolver
    assert "caller" not in resolver.context


def test_the_same_path_with_another_method_checks_its_own_scope(app: APIGatewayHttpResolver) -> None:
    # Given a key that may read but not write
    # When it reads and then writes the same path
    read = call(app, "GET", "/things/t1", "m_a", "credits:read")
    write = call(app, "PUT", "/things/t1", "m_a", "credits:read", body={"name": "x"})
    # Then the read is its own, the write is the write scope's 403 (before its body is validated)
    assert read == (200, {"merchant": "m_a", "thing": "t1"})
    assert write[0] == 403 and write[1]["type"].endswith("forbidden")
    assert call(app, "PUT", "/things/t1", "m_a", "credits:read", body={})[0] == 403
    assert call(app, "PUT", "/things/t1", "m_a", "credits:write", body={})[0] == 422
    assert call(app, "PUT", "/things/t1", "m_a", "credits:write", body={"name": "x"})[0] == 200


def test_requires_above_the_route_decorator_still_checks_the_scope(app: APIGatewayHttpResolver) -> None:
    # Given a route whose @requires sits above @app.get (test_architecture asks for below)
    # When keys with and without its scope call it
    # Then the scope is checked all the same
    assert call(app, "GET", "/above", "m_a", "credits:read")[0] == 403
    assert call(app, "GET", "/above", "m_a", "settings") == (200, {"merchant": "m_a"})


def test_no_authorizer_context_is_401_problem(app: APIGatewayHttpResolver) -> None:
    status, body = call(app, "GET", "/things/t1", None)
    assert status == 401 and body["type"].endswith("unauthorized")


@pytest.mark.parametrize(
    "before",
    [
        ("GET", "/things/t1", "m_a", "credits:read credits:write settings"),  # answered
        ("PUT", "/things/t1", "m_a", "credits:read credits:write", {"bad": 1}),  # 422
        ("PUT", "/things/t1", "m_a", "credits:read", {"name": "x"}),  # 403
        ("GET", "/refused", "m_a", "credits:read"),  # answered by an exception handler
        ("GET", "/nowhere", "m_a", "credits:read"),  # 404
        ("OPTIONS", "/things/t1", "m_a", "credits:read"),  # a preflight (no CORS here: 404)
        ("DELETE", "/things/t1", "m_a", "credits:read"),  # no such method (404)
    ],
    ids=["answered", "invalid", "forbidden", "domain-error", "not-found", "preflight", "other-method"],
)
def test_a_caller_never_outlives_its_request(app: APIGatewayHttpResolver, before: tuple[Any, ...]) -> None:
    # Given merchant A's request, however it ended, on the container's app
    method, path, merchant, scopes, *body = before
    call(app, method, path, merchant, scopes, body=body[0] if body else None)
    assert "caller" not in app.context
    # When merchant B's key without the scope, or no authorizer context, or a route that
    # declares no scope comes next on the same app
    # Then none of them runs as A
    assert call(app, "GET", "/things/t1", "m_b", "settings")[0] == 403
    assert call(app, "GET", "/things/t1", None)[0] == 401
    with pytest.raises(RuntimeError, match="declares no scope"):
        app.resolve(event("GET", "/unscoped", "m_b", "credits:read"), FakeLambdaContext("scopes"))
    assert call(app, "GET", "/things/t2", "m_b", "credits:read") == (200, {"merchant": "m_b", "thing": "t2"})


def test_a_caller_never_outlives_a_request_that_raised(app: APIGatewayHttpResolver) -> None:
    # Given merchant A's request whose domain code raised (Lambda reports the error; the
    # container lives on)
    with pytest.raises(KeyError):
        app.resolve(event("GET", "/boom", "m_a", "credits:read"), FakeLambdaContext("scopes"))
    # Then nothing of A is left for the next request
    assert "caller" not in app.context
    with pytest.raises(RuntimeError, match="declares no scope"):
        app.resolve(event("GET", "/unscoped", "m_b", "settings"), FakeLambdaContext("scopes"))


def _keeps_metadata(route: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(route)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return route(*args, **kwargs)

    return wrapper


def _drops_metadata(route: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper() -> Any:  # no functools.wraps: the marker stays on the wrapped function
        return route()

    return wrapper


def test_a_wrapper_between_the_route_and_its_scope_keeps_it_or_fails_closed() -> None:
    app = new_resolver()

    @app.get("/kept")
    @_keeps_metadata
    @requires("settings")
    def kept() -> dict[str, str]:
        return {"merchant": caller(app).merchant_id}

    @app.get("/dropped")
    @_drops_metadata
    @requires("settings")
    def dropped() -> dict[str, str]:
        return {"merchant": caller(app).merchant_id}

    # Given a wrapper that keeps the function's attributes (functools.wraps): the scope holds
    assert call(app, "GET", "/kept", "m_a", "credits:read")[0] == 403
    assert call(app, "GET", "/kept", "m_a", "settings") == (200, {"merchant": "m_a"})
    # Given one that drops them: no checked caller, so never the domain code with any key
    for scopes in ("credits:read", "settings"):
        with pytest.raises(RuntimeError, match="declares no scope"):
            app.resolve(event("GET", "/dropped", "m_a", scopes), FakeLambdaContext("scopes"))


HTTP_FUNCTIONS = ["checkout", "credits", "imports", "merchant_ops", "renewal", "settings"]


@pytest.mark.parametrize("function", HTTP_FUNCTIONS)
def test_every_route_of_the_shipped_handlers_carries_its_scope(function: str) -> None:
    # Given a shipped HTTP handler, as Powertools registered its routes (whatever wraps them)
    module = load_handler_module(Path(ROOT / "functions" / function), instance=9_000)
    resolver: APIGatewayHttpResolver = module.app
    routes = resolver._static_routes + resolver._dynamic_routes
    assert routes
    for route in routes:
        # Then the function Powertools calls declares its scope, and is validated (the scope
        # check runs in the validation middleware's place)
        assert getattr(route.func, "required_scope", None), f"{function}: {route.method} {route.path}"
        assert route.enable_validation is not False, f"{function}: {route.method} {route.path}"


def test_the_order_webhook_declares_no_scope() -> None:
    # The webhook has no API key: its merchant is proven by the HMAC signature in the function
    module = load_handler_module(Path(ROOT / "functions" / "order_webhook"), instance=9_000)
    routes = module.app._static_routes + module.app._dynamic_routes
    assert [getattr(route.func, "required_scope", None) for route in routes] == [None]
