"""Read the table directly to check the ledger's invariants (tests only; Scan is fine here)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import boto3


def _client() -> Any:
    return boto3.client("dynamodb", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))


@dataclass
class WalletAudit:
    balance: int
    held: int
    sum_of_lots: int
    sum_of_ledger: int
    entries: int

    def assert_consistent(self) -> None:
        assert self.balance == self.sum_of_lots == self.sum_of_ledger, self


def audit_wallet(merchant_id: str, customer_id: str, currency: str) -> WalletAudit:
    client = _client()
    table = os.environ["TABLE_NAME"]
    pk = {"S": f"M#{merchant_id}#C#{customer_id}"}
    found = client.get_item(TableName=table, Key={"PK": pk, "SK": {"S": f"W#{currency}"}}, ConsistentRead=True)
    # A customer can exist with no wallet yet (e.g. a card-paid order only): an empty wallet.
    wallet = found.get("Item") or {"balance": {"N": "0"}, "held": {"N": "0"}, "lots": {"M": {}}}
    entries: list[dict[str, Any]] = []
    params: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :l)",
        "ExpressionAttributeValues": {":pk": pk, ":l": {"S": "L#"}},
        "ConsistentRead": True,
    }
    while True:
        page = client.query(**params)
        entries += [e for e in page["Items"] if e["currency"]["S"] == currency]
        if "LastEvaluatedKey" not in page:
            break
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return WalletAudit(
        balance=int(wallet["balance"]["N"]),
        held=int(wallet["held"]["N"]),
        sum_of_lots=sum(int(lot["M"]["r"]["N"]) for lot in wallet["lots"]["M"].values()),
        sum_of_ledger=sum(int(e["amount"]["N"]) for e in entries),
        entries=len(entries),
    )


def all_items() -> list[dict[str, Any]]:
    client = _client()
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"TableName": os.environ["TABLE_NAME"], "ConsistentRead": True}
    while True:
        page = client.scan(**params)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def assert_statistics_match_orders() -> None:
    """Each buyer's statistics are exactly the sum of what their orders count for, and no order
    took back more than it gave: statistics never drift from the orders behind them."""
    from store_credit import wallet_store

    items = all_items()
    counted: dict[str, list[int]] = {}
    for item in items:
        if item["SK"]["S"] != "ORDER":
            continue
        order = wallet_store.order_from_item(item)
        key = f"{order.customer_id}/{order.currency}"
        orders, spent = counted.get(key, [0, 0])
        counted[key] = [orders + int(order.counted_order), spent + order.counted_spent]
        assert order.counted_spent <= order.paid_total, order
        assert all(0 <= credit.taken <= credit.amount for credit in order.issued), order
    for item in items:
        if item["SK"]["S"].startswith("STATS#"):
            customer = item["PK"]["S"].split("#C#", 1)[1]
            key = f"{customer}/{item['SK']['S'].removeprefix('STATS#')}"
            stats = [int(item["orders"]["N"]), int(item["spent"]["N"])]
            assert stats == counted.get(key, [0, 0]), (key, stats, counted.get(key))
