"""An API Gateway HTTP API (payload 2.0) in process, routed from template.yaml.

It does what the real gateway does for this service: match the route, run the Lambda
authorizer (simple responses) unless the route opts out, put its context under
``requestContext.authorizer.lambda`` and invoke the route's function with a v2 event.
Tests and the local stack both use it, so code and template cannot drift apart.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.harness import template

LAYER = template.ROOT / "layers" / "store_credit"
if str(LAYER) not in sys.path:
    sys.path.insert(0, str(LAYER))


@dataclass
class FakeLambdaContext:
    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000  # the scheduled jobs' timeout in template.yaml


def load_handler_module(code_dir: Path, instance: int = 0) -> ModuleType:
    """Import ``<code_dir>/app.py`` under a unique name (every function's module is ``app``)."""
    name = f"lambda_{code_dir.name}_app_{instance}"
    spec = importlib.util.spec_from_file_location(name, code_dir / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_thread_state = threading.local()


class _PerThread:
    """A class attribute whose value is per thread."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        try:
            return getattr(_thread_state, self.name)
        except AttributeError:
            raise AttributeError(self.name) from None

    def __set__(self, instance: Any, value: Any) -> None:
        setattr(_thread_state, self.name, value)


def isolate_powertools_request_state() -> None:
    """Powertools keeps the event being resolved on the ``BaseRouter`` class: one per process,
    which is right in Lambda (one event per process at a time) and wrong here, where concurrent
    invocations are threads of one process — a debit could read a checkout's body. Keep those
    attributes per thread instead (idempotent)."""
    from abc import ABCMeta

    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

    if type(BaseRouter).__name__ == "PerThreadRouterState":
        return
    per_thread = ("current_event", "lambda_context")

    class PerThreadRouterState(ABCMeta):
        def __setattr__(cls, name: str, value: Any) -> None:
            if name in per_thread:  # Powertools assigns BaseRouter.current_event = … per event
                setattr(_thread_state, name, value)
            else:
                super().__setattr__(name, value)

    for name in per_thread:
        type.__setattr__(BaseRouter, name, _PerThread(name))
    BaseRouter.__class__ = PerThreadRouterState


class Containers:
    """Lambda's execution model: one event at a time per container, more containers for
    concurrent events. Each container is its own import of the handler module, so per-request
    state (Powertools' ``current_event``) is never shared between concurrent invocations."""

    def __init__(self) -> None:
        self._idle: dict[Path, list[ModuleType]] = {}
        self._count: dict[Path, int] = {}
        self._lock = threading.Lock()

    def _acquire(self, code_dir: Path) -> ModuleType:
        with self._lock:
            idle = self._idle.setdefault(code_dir, [])
            if idle:
                return idle.pop()
            instance = self._count.get(code_dir, 0)
            self._count[code_dir] = instance + 1
            return load_handler_module(code_dir, instance)

    def _release(self, code_dir: Path, module: ModuleType) -> None:
        with self._lock:
            self._idle[code_dir].append(module)

    def invoke(self, code_dir: Path, event: dict[str, Any]) -> Any:
        module = self._acquire(code_dir)
        try:
            return module.lambda_handler(event, FakeLambdaContext(code_dir.name))
        finally:
            self._release(code_dir, module)


containers = Containers()


def invoke(code_dir: Path, event: dict[str, Any]) -> Any:
    return containers.invoke(code_dir, event)


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Gateway:
    def __init__(self, *, cache_authorizer: bool = False) -> None:
        """``cache_authorizer``: keep each Authorization header's answer for the template's
        ``ReauthorizeEvery``, as API Gateway does. Off by default, so tests that revoke or
        rotate keys, or count the authorizer's reads, see every request authorized afresh."""
        isolate_powertools_request_state()
        self.routes = template.http_routes()
        self.authorizer_dir = template.function_dir(template.authorizer_function())
        self.authorizer_cache_seconds = template.authorizer_cache_seconds() if cache_authorizer else 0
        self._authorized: dict[str, tuple[float, dict[str, Any]]] = {}

    def prepare(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | str | dict[str, Any] | list[Any] | None = None,
    ) -> tuple[Path, dict[str, Any]] | HttpResponse:
        """The function and the v2 event the gateway would invoke it with (after the authorizer),
        or the gateway's own answer when it would not invoke anything."""
        parts = urlsplit(url)
        path, raw_query = parts.path, parts.query
        lower_headers = {k.lower(): v for k, v in (headers or {}).items()}
        if isinstance(body, dict | list):
            body = json.dumps(body)
            lower_headers.setdefault("content-type", "application/json")
        base64_encoded = False
        if isinstance(body, bytes):
            try:
                raw_body: str | None = body.decode()
            except UnicodeDecodeError:  # binary (a gzip upload): API Gateway passes it base64-encoded
                raw_body, base64_encoded = base64.b64encode(body).decode(), True
        else:
            raw_body = body
        for route in self.routes:
            params = route.match(method.upper(), path)
            if params is None:
                continue
            event = self._event(route, path, raw_query, headers=lower_headers, body=raw_body, params=params)
            event["isBase64Encoded"] = base64_encoded
            if route.authorized:
                refused = self._authorize(route, event)
                if refused is not None:
                    return refused
            return route.code_dir, event
        return HttpResponse(404, {"content-type": "application/json"}, json.dumps({"message": "Not Found"}))

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | str | dict[str, Any] | list[Any] | None = None,
    ) -> HttpResponse:
        prepared = self.prepare(method, url, headers=headers, body=body)
        if isinstance(prepared, HttpResponse):
            return prepared
        code_dir, event = prepared
        try:
            result = invoke(code_dir, event)
        except Exception:  # as API Gateway does when the function fails; the trace goes to stderr
            traceback.print_exc()
            return HttpResponse(
                500, {"content-type": "application/json"}, json.dumps({"message": "Internal Server Error"})
            )
        return self._response(result)

    def _event(
        self,
        route: template.Route,
        path: str,
        raw_query: str,
        *,
        headers: dict[str, str],
        body: str | None,
        params: dict[str, str],
    ) -> dict[str, Any]:
        query: dict[str, str] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value  # as API Gateway joins repeats
        now = time.time()
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.route_key,
            "rawPath": path,
            "rawQueryString": raw_query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "domainName": "127.0.0.1",
                "domainPrefix": "127",
                "http": {
                    "method": route.method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": uuid.uuid4().hex,
                "routeKey": route.route_key,
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": False,
        }
        if query:
            event["queryStringParameters"] = query
        if params:
            event["pathParameters"] = params
        if body is not None:
            event["body"] = body
        return event

    @staticmethod
    def authorizer_event(route: template.Route, event: dict[str, Any]) -> dict[str, Any]:
        """The Lambda authorizer's REQUEST event (payload 2.0, identity from Authorization)."""
        return {
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": f"arn:aws:execute-api:us-east-1:123456789012:local/$default/{route.method}{route.path}",
            "identitySource": [event["headers"].get("authorization")],
            **{k: v for k, v in event.items() if k != "body"},
        }

    def _authorize(self, route: template.Route, event: dict[str, Any]) -> HttpResponse | None:
        identity = event["headers"].get("authorization")
        if not identity:
            return HttpResponse(401, {"content-type": "application/json"}, json.dumps({"message": "Unauthorized"}))
        cached = self._authorized.get(identity)
        if cached is not None and cached[0] > time.monotonic():
            answer = cached[1]
        else:
            try:
                answer = invoke(self.authorizer_dir, self.authorizer_event(route, event))
            except Exception:  # an authorizer that fails is a 500 at API Gateway (and is not cached)
                traceback.print_exc()
                return HttpResponse(
                    500, {"content-type": "application/json"}, json.dumps({"message": "Internal Server Error"})
                )
            if self.authorizer_cache_seconds:
                self._authorized[identity] = (time.monotonic() + self.authorizer_cache_seconds, answer)
        if not answer.get("isAuthorized"):
            return HttpResponse(403, {"content-type": "application/json"}, json.dumps({"message": "Forbidden"}))
        event["requestContext"]["authorizer"] = {"lambda": answer.get("context", {})}
        return None

    @staticmethod
    def _response(result: dict[str, Any]) -> HttpResponse:
        body = result.get("body") or ""
        if result.get("isBase64Encoded"):
            body = base64.b64decode(body).decode()
        headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers[key.lower()] = ", ".join(values)
        return HttpResponse(int(result.get("statusCode", 200)), headers, body)
