"""Consumed capacity of the service's DynamoDB calls, added up the way DynamoDB bills it.

The benches ask for ``ReturnConsumedCapacity`` on every call (botocore event hooks) and sum
what MiniStack computes. Where MiniStack does not bill like DynamoDB, the sum applies
DynamoDB's rule instead and ``Usage.estimated`` says so:

- BatchGetItem: MiniStack returns no capacity; DynamoDB bills every key asked for.
- Query: MiniStack bills a page a flat 0.5 (or 1) unit; DynamoDB bills the items read,
  summed, per started 4 KB (a page of 100 index entries is several KB).
- TransactWriteItems: MiniStack's ``WriteCapacityUnits`` leaves out the secondary-index writes
  that its ``CapacityUnits`` includes; ``CapacityUnits`` is the documented total, and billed.

(GetItem: MiniStack bills a flat unit whatever the size, DynamoDB's bill for items under 4 KB,
which the benches' items are.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


@dataclass
class Usage:
    calls: list[str] = field(default_factory=list)
    read_units: float = 0.0
    write_units: float = 0.0  # index writes included
    query_read_units: float = 0.0  # the part of read_units spent on Query pages
    index_write_units: Counter[str] = field(default_factory=Counter)  # by index name
    estimated: bool = False
    request: dict[str, Any] = field(default_factory=dict)  # parameters of the call in flight


def attribute_size(value: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for an attribute value (its item-size rules)."""
    ((kind, raw),) = value.items()
    if kind == "M":  # 3 bytes for the map, 1 per element
        return 3 + sum(len(name.encode()) + attribute_size(member) + 1 for name, member in raw.items())
    if kind == "L":
        return 3 + sum(attribute_size(member) + 1 for member in raw)
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: member}) for member in raw)
    if kind == "N":  # "about" one byte per two significant digits, plus one (MiniStack's finer rule
        # aligns the digit pairs on the decimal point and adds one for a sign: a byte or two apart)
        digits = raw.lstrip("-").replace(".", "").strip("0")
        return (len(digits) + 1) // 2 + 1
    if kind in ("S", "B"):
        return len(raw.encode() if kind == "S" else raw)
    return 1  # BOOL, NULL


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def query_units(items: Iterable[dict[str, Any]], consistent: bool) -> float:
    """A Query page: the sizes of the items it read, together, per started 4 KB (at least one);
    an eventually consistent read (the only kind a GSI has) costs half."""
    blocks = max(1, -(-sum(item_size(item) for item in items) // 4096))
    return blocks * (1.0 if consistent else 0.5)


@contextmanager
def metered(client: Any = None) -> Iterator[Usage]:
    """Ask DynamoDB for consumed capacity on every call of ``client`` (default: the service's
    client), and add it up."""
    if client is None:
        from store_credit import wallet_store

        client = wallet_store.dynamodb()
    events = client.meta.events
    usage = Usage()

    def ask(params: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params["ReturnConsumedCapacity"] = "INDEXES"  # the total, and each index's share
        usage.request = params

    def add(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        usage.calls.append(model.name)
        request = usage.request
        if model.name == "Query" and "ProjectionExpression" not in request:
            # DynamoDB bills what a Query reads, filtered out or not; the service's Queries have no
            # filter, so that is what it returns. (A projection would hide it: MiniStack's figure
            # stands then, right for the one such Query, a Limit=1 existence check.)
            units = query_units(parsed["Items"], bool(request.get("ConsistentRead")))
            usage.read_units += units
            usage.query_read_units += units
            usage.estimated = True
            return
        consumed = parsed.get("ConsumedCapacity") or []
        if model.name == "BatchGetItem" and not consumed:
            # Each key is read on its own: 1 RCU per started 4 KB (consistent), at least one
            # even when the item is missing; unprocessed keys are billed when retried.
            for table, asked in request["RequestItems"].items():
                found = parsed["Responses"].get(table, [])
                unprocessed = len((parsed.get("UnprocessedKeys") or {}).get(table, {}).get("Keys", []))
                blocks = sum(max(1, -(-item_size(item) // 4096)) for item in found)
                blocks += len(asked["Keys"]) - len(found) - unprocessed
                usage.read_units += blocks * (1.0 if asked.get("ConsistentRead") else 0.5)
            usage.estimated = True
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            total = entry.get("CapacityUnits")
            if total is None:
                total = entry.get("ReadCapacityUnits", 0.0) + entry.get("WriteCapacityUnits", 0.0)
            # A write's total is writes, but for the reads it reports (a transaction replayed
            # with the same token is billed as a read of what it wrote).
            read = total if model.name not in WRITES else entry.get("ReadCapacityUnits", 0.0)
            usage.read_units += read
            usage.write_units += total - read  # index writes included
            if model.name in WRITES:
                for index, arm in (entry.get("GlobalSecondaryIndexes") or {}).items():
                    usage.index_write_units[index] += arm.get("CapacityUnits", 0.0)

    events.register("before-parameter-build.dynamodb", ask, unique_id="bench-ask")
    events.register("after-call.dynamodb", add, unique_id="bench-add")
    try:
        yield usage
    finally:
        events.unregister("before-parameter-build.dynamodb", unique_id="bench-ask")
        events.unregister("after-call.dynamodb", unique_id="bench-add")
