"""Fault injection on the service's own DynamoDB client through botocore's event hooks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError


def client_error(code: str, message: str = "injected", **extra: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}, **extra}, "injected")


def transaction_canceled(*reasons: str) -> ClientError:
    return client_error(
        "TransactionCanceledException",
        "Transaction cancelled",
        CancellationReasons=[{"Code": r} for r in reasons],
    )


@contextmanager
def on_call(
    operation: str, *, before: list[Exception] | None = None, after: list[Exception] | None = None
) -> Iterator[list[str]]:
    """Raise the given errors on successive calls of ``operation``: ``before`` the request is
    sent (nothing written) or ``after`` it succeeded (written, but the answer is lost)."""
    from store_credit import wallet_store

    events = wallet_store.dynamodb().meta.events
    pending_before = list(before or [])
    pending_after = list(after or [])
    calls: list[str] = []

    def before_call(**_: Any) -> None:
        calls.append(operation)
        if pending_before:
            raise pending_before.pop(0)

    def after_call(**_: Any) -> None:
        if pending_after:
            raise pending_after.pop(0)

    events.register(f"before-call.dynamodb.{operation}", before_call, unique_id=f"fault-before-{operation}")
    events.register(f"after-call.dynamodb.{operation}", after_call, unique_id=f"fault-after-{operation}")
    try:
        yield calls
    finally:
        events.unregister(f"before-call.dynamodb.{operation}", unique_id=f"fault-before-{operation}")
        events.unregister(f"after-call.dynamodb.{operation}", unique_id=f"fault-after-{operation}")


@contextmanager
def count_calls() -> Iterator[list[str]]:
    """Every DynamoDB API call the service makes (one entry per round trip)."""
    from store_credit import wallet_store

    events = wallet_store.dynamodb().meta.events
    seen: list[str] = []

    def record(model: Any, **_: Any) -> None:
        seen.append(model.name)

    events.register("before-call.dynamodb", record, unique_id="count-calls")
    try:
        yield seen
    finally:
        events.unregister("before-call.dynamodb", unique_id="count-calls")


@contextmanager
def recorded_params(operation: str) -> Iterator[list[dict[str, Any]]]:
    """The parameters of every ``operation`` call the service makes inside the block, as the
    service wrote them (``ConsistentRead``, ``IndexName``, …), before botocore serializes them."""
    from store_credit import wallet_store

    events = wallet_store.dynamodb().meta.events
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(params)

    events.register(f"provide-client-params.dynamodb.{operation}", record, unique_id=f"record-{operation}")
    try:
        yield calls
    finally:
        events.unregister(f"provide-client-params.dynamodb.{operation}", unique_id=f"record-{operation}")
