"""Read the table directly to check the ledger's invariants (tests only; Scan is fine here)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3


def _client() -> Any:
    return _client_for(os.environ.get("AWS_ENDPOINT_URL"))


@cache
def _client_for(endpoint_url: str | None) -> Any:
    # One client per emulator: making one costs ~10 ms, and the state machine audits every step.
    return boto3.client("dynamodb", endpoint_url=endpoint_url)


@dataclass
class WalletAudit:
    balance: int
    held: int
    sum_of_lots: int
    sum_of_ledger: int
    entries: int
    owed_but_free: int = 0  # credit an order is owed that sits unheld in its lot

    def assert_consistent(self) -> None:
        assert self.balance == self.sum_of_lots == self.sum_of_ledger, self
        assert self.owed_but_free == 0, self


def audit_wallet(
    merchant_id: str, customer_id: str, currency: str, items: list[dict[str, Any]] | None = None
) -> WalletAudit:
    """The wallet against its lots and its ledger, read from the table (or from ``items``, one
    ``all_items()`` snapshot, when several checks share it)."""
    pk = {"S": f"M#{merchant_id}#C#{customer_id}"}
    if items is None:
        client = _client()
        table = os.environ["TABLE_NAME"]
        found = client.get_item(TableName=table, Key={"PK": pk, "SK": {"S": f"W#{currency}"}}, ConsistentRead=True)
        return _audit(found.get("Item"), _ledger(client, table, pk), currency)
    mine = [item for item in items if item["PK"] == pk]
    wallet = next((item for item in mine if item["SK"]["S"] == f"W#{currency}"), None)
    return _audit(wallet, [item for item in mine if item["SK"]["S"].startswith("L#")], currency)


def _ledger(client: Any, table: str, pk: dict[str, str]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    params: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :l)",
        "ExpressionAttributeValues": {":pk": pk, ":l": {"S": "L#"}},
        "ConsistentRead": True,
    }
    while True:
        page = client.query(**params)
        entries += page["Items"]
        if "LastEvaluatedKey" not in page:
            return entries
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _audit(wallet: dict[str, Any] | None, ledger: list[dict[str, Any]], currency: str) -> WalletAudit:
    # A customer can exist with no wallet yet (e.g. a card-paid order only): an empty wallet.
    wallet = wallet or {"balance": {"N": "0"}, "held": {"N": "0"}, "lots": {"M": {}}}
    entries = [entry for entry in ledger if entry["currency"]["S"] == currency]
    return WalletAudit(
        balance=int(wallet["balance"]["N"]),
        held=int(wallet["held"]["N"]),
        sum_of_lots=sum(int(lot["M"]["r"]["N"]) for lot in wallet["lots"]["M"].values()),
        sum_of_ledger=sum(int(e["amount"]["N"]) for e in entries),
        entries=len(entries),
        owed_but_free=_owed_but_free(wallet),
    )


def _owed_but_free(wallet: dict[str, Any]) -> int:
    """Credit a cancelled or refunded order is owed from a lot, yet spendable: every write that
    frees credit (a return, a release) must take it back in the same write."""
    lots = wallet["lots"]["M"]
    free = 0
    for lot_id, owed in wallet.get("owed_back", {}).get("M", {}).items():
        lot = lots.get(lot_id, {}).get("M")
        if lot is not None:
            unheld = int(lot["r"]["N"]) - int(lot.get("h", {"N": "0"})["N"])
            free += min(int(owed["M"]["a"]["N"]), unheld)
    return free


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


def assert_statistics_match_orders(items: list[dict[str, Any]] | None = None) -> None:
    """Each buyer's statistics are exactly the sum of what their orders count for, and no order
    took back more than it gave: statistics never drift from the orders behind them."""
    from store_credit import wallet_store

    items = all_items() if items is None else items
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


def owed_back(merchant_id: str, customer_id: str, currency: str) -> int:
    """Credit the wallet still owes to cancelled orders and could not pay: what stayed spent."""
    found = _client().get_item(
        TableName=os.environ["TABLE_NAME"],
        Key={"PK": {"S": f"M#{merchant_id}#C#{customer_id}"}, "SK": {"S": f"W#{currency}"}},
        ConsistentRead=True,
    )
    owed = found.get("Item", {}).get("owed_back", {}).get("M", {})
    return sum(int(record["M"]["a"]["N"]) for record in owed.values())
