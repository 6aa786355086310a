"""The one place where exceptions become HTTP responses: RFC 9457 problem+json."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError, ResponseValidationError
from aws_lambda_powertools.event_handler.types import EventHandlerInstance
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from store_credit.auth import SCOPES, Caller
from store_credit.errors import NOT_JSON, DomainError, FieldError, field_errors
from store_credit.idempotency import ApiResult
from store_credit.observability import logger

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://store-credit.dev/problems/"


def problem(status: int, slug: str, title: str, detail: str, errors: list[FieldError] | None = None) -> Response:
    body = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "errors": [{"field": e.field, "message": e.message} for e in errors or []],
    }
    return Response(status_code=status, content_type=PROBLEM_JSON, body=json.dumps(body))


def validation_errors(error: RequestValidationError) -> list[FieldError]:
    return field_errors(error.errors())


def json_result(result: ApiResult) -> Response:
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return Response(status_code=result.status, content_type="application/json", body=result.body, headers=headers)


F = TypeVar("F", bound=Callable[..., Any])
_SCOPE = "required_scope"
_REFUSED_BODY = "_refused_body"


def requires(scope: str) -> Callable[[F], F]:
    """Marks a route with the scope its API key must carry. The scope is checked before the
    request is validated (``_ScopeThenValidate``): a key that may not use a route learns nothing
    of its rules, a body that breaks them is its ``403`` too, not a ``422``."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def mark(route: F) -> F:
        setattr(route, _SCOPE, scope)
        return route

    return mark


def caller(app: APIGatewayHttpResolver) -> Caller:
    """The merchant and scopes the Lambda authorizer attached, already checked against the scope
    the route declared with ``requires``. A route that declared none has no caller: a 500, never
    an unchecked key."""
    checked = app.context.get("caller")
    if not isinstance(checked, Caller):
        raise RuntimeError("this route declares no scope (@requires)")
    return checked


def _authorized(app: EventHandlerInstance, scope: str) -> Caller:
    event = cast(APIGatewayProxyEventV2, app.current_event)
    return Caller.from_authorizer_context(event.request_context.authorizer.get_lambda).require(scope)


class _ScopeThenValidate(OpenAPIRequestValidationMiddleware):
    """Powertools validates the request before any middleware of ours runs, so the scope check
    takes the place of its request validation and runs it afterwards. A ``DomainError`` raised
    here (401, 403) goes through the resolver's exception handlers like any other."""

    def handler(self, app: EventHandlerInstance, next_middleware: NextMiddleware) -> Response:
        route = app.context.get("_route")
        scope = getattr(getattr(route, "func", None), _SCOPE, None)
        if scope is not None:
            app.append_context(caller=_authorized(app, scope))
        refused = app.context.get(_REFUSED_BODY)
        if isinstance(refused, Response):  # ``resolve``'s answer to a body it will not parse
            return refused
        return super().handler(app, next_middleware)


def resolve(app: APIGatewayHttpResolver, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``app.resolve`` behind one guard: bodies are JSON. Anything else (a form, a multipart
    upload without its boundary) is a clear 415 before Powertools tries to parse it, never a 500.
    The refusal is answered after the route's scope is checked (``_ScopeThenValidate``): a key
    without the scope gets its 403 whatever the body, as for any other rule of the request."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    refused: Response | None = None
    if event.get("body") and content_type != "application/json":
        refused = problem(415, "unsupported-media-type", "Unsupported media type", "send the body as application/json")
    elif event.get("body") and not _json_parser_accepts(event):
        refused = problem(400, "malformed-json", "The body is not valid JSON", f"body: {NOT_JSON}", [NOT_JSON_BODY])
    if "content-type" in headers and content_type == "application/json":
        # Media types are case-insensitive (RFC 9110), but Powertools matches "application/json"
        # case-sensitively and answers anything else with its own 415, not problem+json.
        event = {**event, "headers": {**headers, "content-type": "application/json"}}
    if refused is None:
        return app.resolve(event, context)
    # Powertools never sees the body it cannot parse; the context goes with this request (it
    # clears it after every resolve, and so does this finally should resolve fail before that).
    app.append_context(**{_REFUSED_BODY: refused})
    try:
        return app.resolve({**event, "body": None, "isBase64Encoded": False}, context)
    finally:
        app.clear_context()


NOT_JSON_BODY = FieldError("body", NOT_JSON)


def _json_parser_accepts(event: dict[str, Any]) -> bool:
    """False for JSON that ``json.loads`` gives up on with something other than a
    ``JSONDecodeError`` (nesting deeper than its recursion limit, an integer of more than 4,300
    digits): Powertools parses the body too but only turns a ``JSONDecodeError`` into a 400,
    so these would escape as a 500. Plainly malformed JSON is left to Powertools' own 400."""
    body = event["body"]
    try:
        if event.get("isBase64Encoded"):
            body = base64.b64decode(body).decode()
        json.loads(body)
    except json.JSONDecodeError:
        return True
    except (RecursionError, ValueError):
        return False
    return True


def new_resolver() -> APIGatewayHttpResolver:
    # A response that fails its schema is our bug, never the caller's: 500, not 422.
    app = APIGatewayHttpResolver(enable_validation=True, response_validation_error_http_code=500)
    # Authorization before validation (see ``requires``). Powertools keeps the request
    # validation middleware it puts first in every route's stack here.
    if not isinstance(getattr(app, "_request_validation_middleware", None), OpenAPIRequestValidationMiddleware):
        raise RuntimeError("Powertools no longer keeps _request_validation_middleware: scopes would run late")
    app._request_validation_middleware = _ScopeThenValidate()

    @app.exception_handler(DomainError)
    def _domain_error(error: DomainError) -> Response:
        logger.info("request refused", extra={"problem": error.slug, "status": error.status})
        response = problem(error.status, error.slug, error.title, error.detail, error.errors)
        if error.status == 503:
            response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response:
        fields = validation_errors(error)
        detail = "; ".join(f"{f.field}: {f.message}" for f in fields[:5])
        if any(f.field == "body" and f.message == NOT_JSON for f in fields):
            return problem(400, "malformed-json", "The body is not valid JSON", detail, fields)
        return problem(422, "invalid-input", "The request is not valid", detail, fields)

    @app.exception_handler(ResponseValidationError)
    def _invalid_response(error: ResponseValidationError) -> Response:
        logger.error("response failed its schema", extra={"errors": str(error.errors())[:2000]})
        return problem(500, "internal-error", "Internal error", "the service produced an invalid response")

    @app.not_found
    def _no_route(_: Exception) -> Response:
        return problem(404, "not-found", "Not found", "no such route")

    return app


def not_implemented(feature: str) -> dict[str, Any]:
    """An API Gateway proxy response for a route whose function is not built yet: an honest 501."""
    response = problem(501, "not-implemented", "Not implemented yet", f"{feature} is not available in this release")
    return {
        "statusCode": response.status_code,
        "headers": {"Content-Type": PROBLEM_JSON},
        "body": response.body,
    }
