"""The one module that talks to DynamoDB. It turns items into domain objects and back, and
DynamoDB's errors into domain errors.

Single-table layout (see README "Data model" for access patterns and capacity costs):

=================================  ==================  ==============================================
PK                                 SK                  item
=================================  ==================  ==============================================
``M#{merchant}#C#{customer}``      ``W#{currency}``    wallet: version, seq, balance, held, lots map
``M#{merchant}#C#{customer}``      ``L#{ulid}``        ledger entry (append-only)
``M#{merchant}#C#{customer}``      ``PROFILE``         email/phone, projected to ByEmail / ByPhone
``M#{merchant}#IDEM#{key}``        ``IDEM``            idempotency record (TTL)
``M#{merchant}``                   ``SETTINGS``        merchant settings and webhook secret
``APIKEY#{sha256(key)}``           ``APIKEY``          merchant id and scopes of an API key
=================================  ==================  ==============================================

Sparse, write-sharded ``DueIndex`` (``due_shard`` = ``DUE#{0..15}``, ``due_at`` = zero-padded
epoch seconds): only wallets with a lot expiring (or an expiry notice owed) carry the
attributes, so the expiry job reads what is due and nothing else.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from store_credit.errors import (
    CheckoutConflict,
    IdempotencyRecord,
    IdempotentReplay,
    InvalidInput,
    WalletBusy,
    WalletFull,
    WriteConflict,
)
from store_credit.lots import Lot, Restrictions
from store_credit.orders import (
    REFERRAL_PAID,
    CustomerStats,
    IssuedCredit,
    LotSnapshot,
    OrderRecord,
    SpentLot,
    StandingMilestone,
    WalletEdits,
)
from store_credit.renewal import RenewalPlan
from store_credit.wallet import (
    DUE_SHARDS,
    DueWork,
    Hold,
    LedgerEntry,
    OwedBack,
    Wallet,
    WalletChange,
    email_lock,
    liability_counter,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600

_client: DynamoDBClient | None = None


def dynamodb() -> DynamoDBClient:
    """One client per container, created on first use (not at import: keeps cold start low)."""
    global _client
    if _client is None:
        from store_credit import aws

        _client = aws.client(
            "dynamodb",
            retries={"mode": "standard", "max_attempts": 4},  # throttling backs off with jitter
            connect_timeout=2,
            read_timeout=5,
            tcp_keepalive=True,
        )
    return _client


def reset_client() -> None:
    """Forget the cached client and settings (tests point them at another emulator)."""
    global _client
    _client = None
    _settings_cache.clear()


def table_name() -> str:
    return os.environ["TABLE_NAME"]


# --- keys -------------------------------------------------------------------------------


def customer_pk(merchant_id: str, customer_id: str) -> str:
    return f"M#{merchant_id}#C#{customer_id}"


def wallet_key(merchant_id: str, customer_id: str, currency: str) -> dict[str, Any]:
    return {"PK": {"S": customer_pk(merchant_id, customer_id)}, "SK": {"S": f"W#{currency}"}}


def settings_key(merchant_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"M#{merchant_id}"}, "SK": {"S": "SETTINGS"}}


def idempotency_key_item(merchant_id: str, key: str, sort_key: str = "IDEM") -> dict[str, Any]:
    # Order events use their own sort key, so no API Idempotency-Key can ever shadow one.
    return {"PK": {"S": f"M#{merchant_id}#IDEM#{key}"}, "SK": {"S": sort_key}}


def api_key_key(key_hash: str) -> dict[str, Any]:
    return {"PK": {"S": f"APIKEY#{key_hash}"}, "SK": {"S": "APIKEY"}}


def due_shard(pk: str, kind: str = "DUE") -> str:
    return f"{kind}#{zlib.crc32(pk.encode()) % DUE_SHARDS}"


# --- item <-> domain --------------------------------------------------------------------


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _lot_to_item(lot: Lot) -> dict[str, Any]:
    # Short attribute names: the wallet item is written on every balance change and
    # write units are billed per KB, so its size is money.
    item: dict[str, Any] = {
        "o": _n(lot.original),
        "r": _n(lot.remaining),
        "i": _n(lot.issued_at),
        "s": {"S": lot.source},
    }
    if lot.held:
        item["h"] = _n(lot.held)
    if lot.expires_at is not None:
        # A lot announced as expiring ("credit.expiring") keeps its expiry negated: the mark costs
        # no byte. A mark of its own (a few bytes a lot) could not fit a wallet full of small
        # lots, and the expiry job's write, refused, would fail that run every time.
        item["e"] = _n(-lot.expires_at if lot.expiring_notified else lot.expires_at)
    if lot.valid_from is not None:
        item["v"] = _n(lot.valid_from)
    if lot.returned_seq:
        item["b"] = _n(lot.returned_seq)
    if lot.restrictions.product_ids:
        item["rp"] = {"L": [{"S": p} for p in lot.restrictions.product_ids]}
    if lot.restrictions.categories:
        item["rc"] = {"L": [{"S": c} for c in lot.restrictions.categories]}
    return {"M": item}


def _lot_from_item(lot_id: str, raw: dict[str, Any]) -> Lot:
    m = raw["M"]
    expires = int(m["e"]["N"]) if "e" in m else None
    return Lot(
        lot_id=lot_id,
        original=int(m["o"]["N"]),
        remaining=int(m["r"]["N"]),
        issued_at=int(m["i"]["N"]),
        source=m["s"]["S"],
        held=int(m["h"]["N"]) if "h" in m else 0,
        expires_at=abs(expires) if expires is not None else None,
        valid_from=int(m["v"]["N"]) if "v" in m else None,
        returned_seq=int(m["b"]["N"]) if "b" in m else 0,
        restrictions=Restrictions(
            product_ids=tuple(p["S"] for p in m.get("rp", {}).get("L", [])),
            categories=tuple(c["S"] for c in m.get("rc", {}).get("L", [])),
        ),
        # "nx": the mark as lots written before it was folded into "e" carry it
        expiring_notified=(expires is not None and expires < 0) or "nx" in m,
    )


def _hold_to_item(hold: Hold) -> dict[str, Any]:
    return {
        "M": {
            "a": _n(hold.amount),
            "l": {"M": {lot_id: _n(amount) for lot_id, amount in hold.lots}},
            "x": _n(hold.expires_at),
            "f": {"S": hold.fingerprint},
            "c": _n(hold.created_ms),
        }
    }


def _hold_from_item(checkout_id: str, raw: dict[str, Any]) -> Hold:
    m = raw["M"]
    return Hold(
        checkout_id=checkout_id,
        amount=int(m["a"]["N"]),
        lots=tuple((lot_id, int(v["N"])) for lot_id, v in m["l"]["M"].items()),
        expires_at=int(m["x"]["N"]),
        fingerprint=m["f"]["S"],
        created_ms=int(m["c"]["N"]),
    )


def wallet_to_item(wallet: Wallet, *, room: int | None = None) -> dict[str, Any]:
    """The wallet as its item. ``room``: the size it may take (new lots stop at
    ``MAX_WALLET_ITEM_BYTES``; the expiry job's marks may use the rest of DynamoDB's 400 KB)."""
    key = wallet_key(wallet.merchant_id, wallet.customer_id, wallet.currency)
    item: dict[str, Any] = {
        **key,
        "merchant_id": {"S": wallet.merchant_id},
        "customer_id": {"S": wallet.customer_id},
        "currency": {"S": wallet.currency},
        "version": _n(wallet.version),
        "seq": _n(wallet.seq),
        "last_entry_ms": _n(wallet.last_entry_ms),
        "balance": _n(wallet.balance),
        "held": _n(wallet.held),
        "lots": {"M": {lot_id: _lot_to_item(lot) for lot_id, lot in wallet.lots.items()}},
    }
    if wallet.email_lock is not None:
        item["email_lock"] = {"S": wallet.email_lock}
    if wallet.holds:
        item["holds"] = {"M": {checkout_id: _hold_to_item(h) for checkout_id, h in wallet.holds.items()}}
    owed_size = 0
    if wallet.owed_back:
        item["owed_back"] = {
            "M": {
                lot_id: {"M": {"o": {"S": owed.order_id}, "a": _n(owed.amount), "r": {"S": owed.reason}}}
                for lot_id, owed in wallet.owed_back.items()
            }
        }
        owed_size = item_size({"owed_back": item["owed_back"]})
    due_at = wallet.due_at()
    if due_at is not None:
        item["due_shard"] = {"S": due_shard(key["PK"]["S"])}
        item["due_at"] = {"S": f"{due_at:012d}"}
    size = item_size(item)
    limit = MAX_WALLET_ITEM_BYTES if room is None else room
    if size - owed_size > limit or size > limit + OWED_BACK_BYTES:
        # DynamoDB would refuse the write (ValidationException, a 500 to the caller); a write
        # that shrinks the wallet (a debit, a capture, expiry) still fits, so only growth stops.
        # Records of credit owed back have room of their own: a cancel on a full wallet must
        # still record what it is owed (refused, the order system would not retry it, and the
        # credit would come back for good when the order that spent it is cancelled).
        raise WalletFull(detail=f"the wallet would take {size:,} bytes of DynamoDB's 400 KB item")
    return item


def ensure_room(wallet: Wallet) -> None:
    """Raise WalletFull now if writing ``wallet`` would be refused for its size (to decide
    before a transaction, as for not enough credit)."""
    wallet_to_item(wallet)


# DynamoDB's limit is 400 KB (409,600 bytes); the estimate below counts a little over. Writes
# that add lots stop 10 KB short of it, so the expiry job, whose notice marks add a few bytes a
# lot to a wallet that may be full, can always settle it.
MAX_WALLET_ITEM_BYTES = 390_000
DYNAMODB_ITEM_BYTES = 400_000
# Extra room for records of credit owed back to orders, on top of either limit (about 60
# records of ~65 bytes on a wallet already full of lots): at most 404,000 estimated, still
# under DynamoDB's 409,600.
OWED_BACK_BYTES = 4_000


def item_size(value: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it (names + values; numbers by their digits), a little
    over rather than under."""
    return sum(len(name.encode()) + _value_size(attribute) for name, attribute in value.items())


def _value_size(attribute: dict[str, Any]) -> int:
    ((kind, value),) = attribute.items()
    if kind == "S":
        return len(value.encode())
    if kind == "N":
        return len(value) // 2 + 2
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + _value_size(inner) for name, inner in value.items())
    if kind == "L":
        return 3 + sum(1 + _value_size(inner) for inner in value)
    return 1  # BOOL, NULL


def wallet_from_item(item: dict[str, Any]) -> Wallet:
    return Wallet(
        merchant_id=item["merchant_id"]["S"],
        customer_id=item["customer_id"]["S"],
        currency=item["currency"]["S"],
        version=int(item["version"]["N"]),
        seq=int(item["seq"]["N"]),
        last_entry_ms=int(item["last_entry_ms"]["N"]),
        lots={lot_id: _lot_from_item(lot_id, raw) for lot_id, raw in item["lots"]["M"].items()},
        holds={cid: _hold_from_item(cid, raw) for cid, raw in item.get("holds", {}).get("M", {}).items()},
        email_lock=_email_lock_of(item),
        owed_back={
            lot_id: OwedBack(raw["M"]["o"]["S"], int(raw["M"]["a"]["N"]), raw["M"]["r"]["S"])
            for lot_id, raw in item.get("owed_back", {}).get("M", {}).items()
        },
    )


def _email_lock_of(item: dict[str, Any]) -> str | None:
    if "email_lock" in item:
        return str(item["email_lock"]["S"])
    if "allowed_email" in item:  # codes written before the digest: the next write stores it
        return email_lock(item["merchant_id"]["S"], item["allowed_email"]["S"])
    return None


def _opt_s(item: dict[str, Any], name: str, value: str | None) -> None:
    if value is not None:
        item[name] = {"S": value}


def entry_to_item(wallet: Wallet, entry: LedgerEntry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": {"S": customer_pk(wallet.merchant_id, wallet.customer_id)},
        "SK": {"S": f"L#{entry.entry_id}"},
        "merchant_id": {"S": wallet.merchant_id},
        "customer_id": {"S": wallet.customer_id},
        "entry_id": {"S": entry.entry_id},
        "seq": _n(entry.seq),
        "type": {"S": entry.type},
        "amount": _n(entry.amount),
        "balance_after": _n(entry.balance_after),
        "currency": {"S": entry.currency},
        "reason": {"S": entry.reason},
        "actor": {"S": entry.actor},
        "created_ms": _n(entry.created_ms),
        "lots": {"L": [{"M": {"lot": {"S": lot_id}, "amount": _n(amount)}} for lot_id, amount in entry.lots]},
    }
    _opt_s(item, "note", entry.note)
    _opt_s(item, "idempotency_key", entry.idempotency_key)
    _opt_s(item, "order_id", entry.order_id)
    _opt_s(item, "source", entry.source)
    if entry.expires_at is not None:
        item["expires_at"] = _n(entry.expires_at)
    if entry.valid_from is not None:
        item["valid_from"] = _n(entry.valid_from)
    if entry.notify is not None:
        item["notify"] = {"BOOL": entry.notify}
    if entry.by_source:
        item["by_source"] = {"M": {source: _n(amount) for source, amount in entry.by_source}}
    return item


def entry_from_item(item: dict[str, Any]) -> LedgerEntry:
    def opt_s(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    def opt_n(name: str) -> int | None:
        return int(item[name]["N"]) if name in item else None

    return LedgerEntry(
        entry_id=item["entry_id"]["S"],
        seq=int(item["seq"]["N"]),
        type=item["type"]["S"],
        amount=int(item["amount"]["N"]),
        balance_after=int(item["balance_after"]["N"]),
        currency=item["currency"]["S"],
        reason=item["reason"]["S"],
        actor=item["actor"]["S"],
        created_ms=int(item["created_ms"]["N"]),
        lots=tuple((lot["M"]["lot"]["S"], int(lot["M"]["amount"]["N"])) for lot in item["lots"]["L"]),
        note=opt_s("note"),
        idempotency_key=opt_s("idempotency_key"),
        order_id=opt_s("order_id"),
        source=opt_s("source"),
        expires_at=opt_n("expires_at"),
        valid_from=opt_n("valid_from"),
        notify=item["notify"]["BOOL"] if "notify" in item else None,
        by_source=tuple(sorted((k, int(v["N"])) for k, v in item.get("by_source", {}).get("M", {}).items())),
    )


# --- reads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MerchantSettingsRecord:
    document: dict[str, Any]
    version: int
    webhook_secret: str | None
    previous_webhook_secret: str | None = None  # still accepted for a day after a rotation
    rotated_at: int | None = None


def _settings_from_item(item: dict[str, Any] | None) -> MerchantSettingsRecord | None:
    if item is None:
        return None
    return MerchantSettingsRecord(
        document=json.loads(item["doc"]["S"]),
        version=int(item["version"]["N"]),
        webhook_secret=item["webhook_secret"]["S"] if "webhook_secret" in item else None,
        previous_webhook_secret=item["previous_webhook_secret"]["S"] if "previous_webhook_secret" in item else None,
        rotated_at=int(item["rotated_at"]["N"]) if "rotated_at" in item else None,
    )


def _batch_get(keys: list[dict[str, Any]], *, consistent: bool = True) -> list[dict[str, Any]]:
    """The items of up to 100 keys, absent ones left out: one BatchGetItem, then the keys DynamoDB
    left unprocessed (it does so when throttled) again after a growing pause, as AWS advises."""
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {table_name(): {"Keys": keys, "ConsistentRead": consistent}}
    for attempt in range(8):  # about 4.5 s of pauses at most, well inside any caller's timeout
        response = _call(dynamodb().batch_get_item, RequestItems=request)
        items.extend(response["Responses"].get(table_name(), []))
        request = response.get("UnprocessedKeys") or {}
        if not request:
            return items
        time.sleep(min(100 * 2**attempt, 1000) / 1000)  # 0.1 s doubling, at most 1 s
    raise WalletBusy(detail="DynamoDB is throttling this table; retry shortly")


def _get_by_sort_key(keys: list[dict[str, Any]], *, consistent: bool = True) -> dict[str, dict[str, Any]]:
    """One BatchGetItem; items by sort key, which is unique among the keys asked for here."""
    return {item["SK"]["S"]: item for item in _batch_get(keys, consistent=consistent)}


def load_settings_and_wallet(
    merchant_id: str, customer_id: str, currency: str
) -> tuple[MerchantSettingsRecord | None, Wallet | None]:
    """One round trip: the merchant's settings and the wallet, both strongly consistent."""
    keys = [settings_key(merchant_id), wallet_key(merchant_id, customer_id, currency)]
    found = _get_by_sort_key(keys)
    wallet_item = found.get(f"W#{currency}")
    return _settings_from_item(found.get("SETTINGS")), wallet_from_item(wallet_item) if wallet_item else None


# Checkout reads settings from this container's memory for up to this long: one consistent read
# of the wallet (1 RCU) instead of settings and wallet (2 RCU) on the busiest path. A settings
# change reaches every checkout within this time; other writes always read settings afresh.
SETTINGS_CACHE_SECONDS = 30
_settings_cache: dict[str, tuple[float, MerchantSettingsRecord | None]] = {}


def load_cached_settings_and_wallet(
    merchant_id: str, customer_id: str, currency: str
) -> tuple[MerchantSettingsRecord | None, Wallet | None]:
    cached = _settings_cache.get(merchant_id)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1], load_wallet(merchant_id, customer_id, currency)
    record, wallet = load_settings_and_wallet(merchant_id, customer_id, currency)
    _settings_cache[merchant_id] = (time.monotonic() + SETTINGS_CACHE_SECONDS, record)
    return record, wallet


def load_wallet(merchant_id: str, customer_id: str, currency: str) -> Wallet | None:
    return load_wallet_by_key(wallet_key(merchant_id, customer_id, currency))


def load_settings(merchant_id: str) -> MerchantSettingsRecord | None:
    response = _call(dynamodb().get_item, TableName=table_name(), Key=settings_key(merchant_id), ConsistentRead=True)
    return _settings_from_item(response.get("Item"))


def customer_exists(merchant_id: str, customer_id: str) -> bool:
    """Strongly consistent: a customer recorded a moment ago (a first credit) must be found,
    or an import row naming them fails for good and a deduct answers 404."""
    response = _call(
        dynamodb().query,
        TableName=table_name(),
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": customer_pk(merchant_id, customer_id)}},
        ProjectionExpression="PK",
        Limit=1,
        ConsistentRead=True,
    )
    return bool(response["Items"])


def list_ledger(
    merchant_id: str, customer_id: str, *, limit: int, after_entry_id: str | None
) -> tuple[list[LedgerEntry], str | None]:
    """Ledger entries newest first; returns the entry id to continue after, if any. Read
    consistently, as the wallet is: the entry of a write a moment ago is listed with it."""
    pk = customer_pk(merchant_id, customer_id)
    params: dict[str, Any] = {
        "TableName": table_name(),
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :ledger)",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":ledger": {"S": "L#"}},
        "ScanIndexForward": False,
        "Limit": limit,
        "ConsistentRead": True,
    }
    if after_entry_id is not None:
        # The cursor carries only the entry id; the partition comes from the caller's merchant,
        # so a forged cursor can never reach another merchant's data.
        params["ExclusiveStartKey"] = {"PK": {"S": pk}, "SK": {"S": f"L#{after_entry_id}"}}
    response = _call(dynamodb().query, **params)
    entries = [entry_from_item(item) for item in response["Items"]]
    last = response.get("LastEvaluatedKey")
    return entries, (last["SK"]["S"][2:] if last else None)


def get_idempotency_record(merchant_id: str, key: str, sort_key: str = "IDEM") -> IdempotencyRecord | None:
    response = _call(
        dynamodb().get_item,
        TableName=table_name(),
        Key=idempotency_key_item(merchant_id, key, sort_key),
        ConsistentRead=True,
    )
    item = response.get("Item")
    return _idempotency_from_item(item) if item else None


def _idempotency_from_item(item: dict[str, Any]) -> IdempotencyRecord:
    return IdempotencyRecord(
        request_hash=item["request_hash"]["S"], status=int(item["status"]["N"]), body=item["body"]["S"]
    )


def find_api_key(key_hash: str) -> dict[str, Any] | None:
    response = _call(dynamodb().get_item, TableName=table_name(), Key=api_key_key(key_hash))
    item = response.get("Item")
    if item is None:
        return None
    return {
        "merchant_id": item["merchant_id"]["S"],
        "scopes": [s["S"] for s in item["scopes"]["L"]],
        "key_id": item["key_id"]["S"],
        "revoked": item.get("revoked", {}).get("BOOL", False),
    }


# --- writes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IdempotentWrite:
    """The idempotency record written in the same transaction as the change it guards."""

    merchant_id: str
    key: str
    request_hash: str
    status: int
    body: str
    now: int
    sort_key: str = "IDEM"

    def put(self) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": table_name(),
                "Item": {
                    **idempotency_key_item(self.merchant_id, self.key, self.sort_key),
                    "request_hash": {"S": self.request_hash},
                    "status": _n(self.status),
                    "body": {"S": self.body},
                    "created_at": _n(self.now),
                    "expires_ttl": _n(self.now + IDEMPOTENCY_TTL_SECONDS),
                },
                "ConditionExpression": "attribute_not_exists(PK)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def token(self, guarded_version: int) -> str:
        # The request's part of a TransactWriteItems token (``_transact`` adds the items).
        import hashlib

        raw = f"{self.merchant_id}|{self.key}|{self.request_hash}|{guarded_version}"
        return hashlib.sha256(raw.encode()).hexdigest()[:36]


def _ledger_put(wallet: Wallet, entry: LedgerEntry) -> dict[str, Any]:
    """A ledger entry is written once and never replaced."""
    return {
        "Put": {
            "TableName": table_name(),
            "Item": entry_to_item(wallet, entry),
            "ConditionExpression": "attribute_not_exists(PK)",
        }
    }


def _wallet_put(before: Wallet, after: Wallet, *, room: int | None = None) -> dict[str, Any]:
    if after.version <= before.version:
        # Written under the version it was read at, a writer that read the same version would
        # still pass its condition and put its own copy over this one: a lost update.
        raise RuntimeError(f"a wallet write must move its version on (read {before.version}, wrote {after.version})")
    item = wallet_to_item(after, room=room)
    return {"Put": {"TableName": table_name(), "Item": item, **_version_condition(before)}}


def _version_condition(read: Wallet) -> dict[str, Any]:
    """The wallet is still as it was read: the same version, or still absent."""
    if read.version == 0:
        return {"ConditionExpression": "attribute_not_exists(PK)"}
    return {"ConditionExpression": "version = :expected", "ExpressionAttributeValues": {":expected": _n(read.version)}}


def _profile_update(merchant_id: str, customer_id: str, email: str | None, phone: str | None) -> dict[str, Any]:
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    sets: list[str] = []
    for attr, value, lookup_prefix in (("email", email, "E"), ("phone", phone, "P")):
        if value is None:
            continue
        sets += [f"#{attr} = :{attr}", f"#{attr}_key = :{attr}_key"]
        names[f"#{attr}"] = attr
        names[f"#{attr}_key"] = f"{attr}_key"
        values[f":{attr}"] = {"S": value}
        values[f":{attr}_key"] = {"S": f"M#{merchant_id}#{lookup_prefix}#{value}"}
    return {
        "Update": {
            "TableName": table_name(),
            "Key": {"PK": {"S": customer_pk(merchant_id, customer_id)}, "SK": {"S": "PROFILE"}},
            "UpdateExpression": "SET " + ", ".join(sets),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def commit_wallet_change(
    change: WalletChange,
    idempotency: IdempotentWrite,
    *,
    email: str | None = None,
    phone: str | None = None,
) -> None:
    """Write the wallet (conditioned on its version), its ledger entry and the idempotency
    record as one transaction. Raises ``WriteConflict`` when the wallet moved underneath,
    ``IdempotentReplay`` when the key was already used."""
    wallet = change.after
    items = [
        _wallet_put(change.before, change.after),
        _ledger_put(wallet, change.entry),
        idempotency.put(),
    ]
    if email is not None or phone is not None:
        items.append(_profile_update(wallet.merchant_id, wallet.customer_id, email, phone))
    _transact(items, token=idempotency.token(change.before.version), on_cancel=_replay_on_idempotency(idempotency, 2))


def put_settings(
    merchant_id: str,
    document: dict[str, Any],
    *,
    expected_version: int,
    webhook_secret: str | None,
    idempotency: IdempotentWrite | None,
    previous_webhook_secret: str | None = None,
    rotated_at: int | None = None,
) -> None:
    item: dict[str, Any] = {
        **settings_key(merchant_id),
        "merchant_id": {"S": merchant_id},
        "doc": {"S": json.dumps(document, sort_keys=True)},
        "version": _n(expected_version + 1),
    }
    if webhook_secret is not None:
        item["webhook_secret"] = {"S": webhook_secret}
    if previous_webhook_secret is not None and rotated_at is not None:
        item["previous_webhook_secret"] = {"S": previous_webhook_secret}
        item["rotated_at"] = _n(rotated_at)
    condition: dict[str, Any]
    if expected_version == 0:
        condition = {"ConditionExpression": "attribute_not_exists(PK)"}
    else:
        condition = {
            "ConditionExpression": "version = :expected",
            "ExpressionAttributeValues": {":expected": _n(expected_version)},
        }
    put = {"Put": {"TableName": table_name(), "Item": item, **condition}}
    try:
        if idempotency is None:
            _transact([put])
        else:
            _transact(
                [put, idempotency.put()],
                token=idempotency.token(expected_version),
                on_cancel=_replay_on_idempotency(idempotency, 1),
            )
    finally:
        _settings_cache.pop(merchant_id, None)  # this container sees its own change at once


def put_api_key(key_hash: str, *, merchant_id: str, scopes: list[str], key_id: str, now: int) -> None:
    _call(
        dynamodb().put_item,
        TableName=table_name(),
        Item={
            **api_key_key(key_hash),
            "merchant_id": {"S": merchant_id},
            "scopes": {"L": [{"S": s} for s in scopes]},
            "key_id": {"S": key_id},
            "created_at": _n(now),
        },
        ConditionExpression="attribute_not_exists(PK)",
    )


def revoke_api_key(key_hash: str) -> None:
    _call(
        dynamodb().update_item,
        TableName=table_name(),
        Key=api_key_key(key_hash),
        UpdateExpression="SET revoked = :yes",
        ExpressionAttributeValues={":yes": {"BOOL": True}},
        ConditionExpression="attribute_exists(PK)",
    )


# --- error translation -------------------------------------------------------------------


def _is_throttle(code: str) -> bool:
    return code in {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
    }


def _call(operation: Any, **params: Any) -> Any:
    from botocore.exceptions import ClientError

    try:
        return operation(**params)
    except ClientError as error:
        if _is_throttle(error.response["Error"]["Code"]):
            raise WalletBusy(detail="DynamoDB is throttling this table; retry shortly") from error
        raise


CancelHandler = Callable[[list[dict[str, Any]]], None]


def _replay_on_idempotency(idempotency: IdempotentWrite, index: int) -> CancelHandler:
    """A cancelled transaction whose idempotency record already existed answers the first result."""

    def handle(reasons: list[dict[str, Any]]) -> None:
        reason = reasons[index] if len(reasons) > index else {}
        if reason.get("Code") == "ConditionalCheckFailed":
            item = reason.get("Item")
            record = (
                _idempotency_from_item(item)
                if item
                else get_idempotency_record(idempotency.merchant_id, idempotency.key, idempotency.sort_key)
            )
            if record is not None:
                raise IdempotentReplay(record)

    return handle


def _transact(items: list[dict[str, Any]], *, token: str | None = None, on_cancel: CancelHandler | None = None) -> None:
    """Run one TransactWriteItems. ``on_cancel`` reads the cancellation reasons first (and may
    raise a domain answer); otherwise a failed condition or a conflict is ``WriteConflict``
    (read again and retry), and throttling too, once botocore's own retries are spent."""
    from botocore.exceptions import ClientError

    params: dict[str, Any] = {"TransactItems": items}
    if token is not None:
        # DynamoDB de-duplicates a call repeated with the same token for ten minutes (botocore's
        # retry after a timeout whose write went through), and answers the same token with
        # other parameters with IdempotentParameterMismatch. A retry of ours (after a conflict,
        # or a replayed request) builds new items: new entry ids, a new time, new codes. So the
        # token covers the items themselves: the same call, the same token; any change, a new one.
        import hashlib

        # Binary attributes ({"B": bytes}, such as a digest) are written out as hex.
        canonical = json.dumps(items, sort_keys=True, separators=(",", ":"), default=bytes.hex)
        params["ClientRequestToken"] = hashlib.sha256(f"{token}|{canonical}".encode()).hexdigest()[:36]
    try:
        dynamodb().transact_write_items(**params)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "TransactionCanceledException":
            reasons = error.response.get("CancellationReasons") or []
            if on_cancel is not None:
                on_cancel(reasons)
            codes = {r.get("Code") for r in reasons}
            if codes & {
                "ConditionalCheckFailed",
                "TransactionConflict",
                "ThrottlingError",
                "ProvisionedThroughputExceeded",
            }:
                raise WriteConflict() from error
            raise
        retriable = {
            "TransactionConflictException",
            "TransactionInProgressException",
            "IdempotentParameterMismatchException",
        }
        if code in retriable or _is_throttle(code):
            raise WriteConflict() from error
        raise


# --- checkout holds ------------------------------------------------------------------------

HOLD_RECORD_TTL_SECONDS = 180 * 24 * 3600  # long after any order event could still refer to it


def hold_key(merchant_id: str, checkout_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"M#{merchant_id}#CHK#{checkout_id}"}, "SK": {"S": "HOLD"}}


@dataclass(frozen=True)
class HoldRecord:
    """The checkout's own item: where its hold lives (for release and capture by checkout id),
    its state, and the answer given, to replay."""

    merchant_id: str
    checkout_id: str
    customer_id: str
    currency: str
    state: str  # open | released | captured | none (nothing applied)
    amount: int
    fingerprint: str
    response: str
    expires_at: int | None
    updated_ms: int
    captured_lots: tuple[SpentLot, ...] = ()  # when captured at apply: what to return on cancel
    order_id: str | None = None  # the order that claimed this checkout's credit


def _hold_record_item(record: HoldRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        **hold_key(record.merchant_id, record.checkout_id),
        "merchant_id": {"S": record.merchant_id},
        "checkout_id": {"S": record.checkout_id},
        "customer_id": {"S": record.customer_id},
        "currency": {"S": record.currency},
        "state": {"S": record.state},
        "amount": _n(record.amount),
        "fingerprint": {"S": record.fingerprint},
        # Compressed: the answer is ~1 KB of JSON, and items over 1 KB cost double write units.
        "response": {"B": zlib.compress(record.response.encode(), 9)},
        "updated_ms": _n(record.updated_ms),
        "expires_ttl": _n(record.updated_ms // 1000 + HOLD_RECORD_TTL_SECONDS),
    }
    if record.expires_at is not None:
        item["expires_at"] = _n(record.expires_at)
    if record.captured_lots:
        item["captured_lots"] = {"S": _spent_lots_json(record.captured_lots)}
    _opt_s(item, "order_id", record.order_id)
    return item


def hold_record_from_item(item: dict[str, Any]) -> HoldRecord:
    return HoldRecord(
        merchant_id=item["merchant_id"]["S"],
        checkout_id=item["checkout_id"]["S"],
        customer_id=item["customer_id"]["S"],
        currency=item["currency"]["S"],
        state=item["state"]["S"],
        amount=int(item["amount"]["N"]),
        fingerprint=item["fingerprint"]["S"],
        response=zlib.decompress(item["response"]["B"]).decode(),
        expires_at=int(item["expires_at"]["N"]) if "expires_at" in item else None,
        updated_ms=int(item["updated_ms"]["N"]),
        captured_lots=_spent_lots_from_json(item["captured_lots"]["S"]) if "captured_lots" in item else (),
        order_id=item["order_id"]["S"] if "order_id" in item else None,
    )


def load_hold_record(merchant_id: str, checkout_id: str) -> HoldRecord | None:
    response = _call(
        dynamodb().get_item, TableName=table_name(), Key=hold_key(merchant_id, checkout_id), ConsistentRead=True
    )
    item = response.get("Item")
    return hold_record_from_item(item) if item else None


def commit_hold(before: Wallet, after: Wallet, record: HoldRecord, entries: Sequence[LedgerEntry] = ()) -> None:
    """One transaction: the wallet (conditioned on the version read), the checkout's hold item
    (only ever for the same customer and currency), and the ledger entries when credit is spent
    (captured, or taken back for an order it was owed to).
    Raises ``WriteConflict`` (wallet moved: retry) or ``CheckoutConflict``."""
    items: list[dict[str, Any]] = [
        _wallet_put(before, after),
        {
            "Put": {
                "TableName": table_name(),
                "Item": _hold_record_item(record),
                # A checkout stays with its customer and currency, and one that is captured, or
                # that an order has claimed (cancelled while it held), is final.
                "ConditionExpression": (
                    "attribute_not_exists(PK) OR (customer_id = :c AND currency = :cur AND #state <> :captured"
                    " AND attribute_not_exists(order_id))"
                ),
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": {
                    ":c": {"S": record.customer_id},
                    ":cur": {"S": record.currency},
                    ":captured": {"S": "captured"},
                },
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
    ]
    items += [_ledger_put(after, entry) for entry in entries]

    def on_cancel(reasons: list[dict[str, Any]]) -> None:
        reason = reasons[1] if len(reasons) > 1 else {}
        if reason.get("Code") != "ConditionalCheckFailed":
            return
        refuse_hold_overwrite(hold_record_from_item(reason["Item"]) if reason.get("Item") else None, record)
        raise CheckoutConflict(detail=f"checkout {record.checkout_id!r} belongs to another customer or currency")

    _transact(items, on_cancel=on_cancel)


def refuse_hold_overwrite(old: HoldRecord | None, record: HoldRecord) -> None:
    """What the checkout item's condition in ``commit_hold`` says of writing ``record`` over
    ``old``, for an apply that writes nothing (no credit to reserve) and must answer alike: the
    same capture again is its first answer, a captured checkout is final, and a checkout stays
    with its customer and currency, and one an order claimed is final."""
    if old is None:
        return
    if old.state == "captured" and old.fingerprint == record.fingerprint:
        raise IdempotentReplay(IdempotencyRecord(old.fingerprint, 200, old.response))
    if old.state == "captured":
        raise CheckoutConflict(detail=f"checkout {record.checkout_id!r} is already captured")
    if old.order_id is not None:
        # Its order was cancelled while it held: holding again would lock the buyer's credit
        # for a checkout no order can pay any more (the cancelled order is final, and another
        # order naming this checkout is refused). A new checkout needs a new id.
        raise CheckoutConflict(detail=f"checkout {record.checkout_id!r} belongs to order {old.order_id!r}")
    if (old.customer_id, old.currency) != (record.customer_id, record.currency):
        raise CheckoutConflict(detail=f"checkout {record.checkout_id!r} belongs to another customer or currency")


# --- codes ---------------------------------------------------------------------------------


def commit_new_wallets(changes: list[WalletChange], idempotency: IdempotentWrite) -> None:
    """Create several wallets (codes) with their first ledger entry, all or none, in one
    transaction with the request's idempotency record. A code that already exists cancels it
    (``WriteConflict``: the caller draws new codes)."""

    items: list[dict[str, Any]] = []
    for change in changes:
        items.append(_wallet_put(change.before, change.after))
        items.append(_ledger_put(change.after, change.entry))
    items.append(idempotency.put())
    # Each attempt draws new codes: the token ``_transact`` derives covers them, so a retry of a
    # request that landed meets the idempotency record's replay, not IdempotentParameterMismatch.
    _transact(items, token=idempotency.token(0), on_cancel=_replay_on_idempotency(idempotency, len(items) - 1))


def holder_items(merchant_id: str, holder: str, prefix: str = "") -> list[dict[str, Any]]:
    """Every item of one holder (customer or code) whose sort key starts with ``prefix``, all pages."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {
        "TableName": table_name(),
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": customer_pk(merchant_id, holder)}},
        "ConsistentRead": True,
    }
    if prefix:  # DynamoDB refuses an empty begins_with
        params["KeyConditionExpression"] += " AND begins_with(SK, :prefix)"
        params["ExpressionAttributeValues"][":prefix"] = {"S": prefix}
    while True:
        page = _call(dynamodb().query, **params)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def holder_wallets(merchant_id: str, holder: str) -> list[Wallet]:
    """Every wallet of one holder (a customer's currencies, or a code's one wallet)."""
    return [wallet_from_item(item) for item in holder_items(merchant_id, holder, "W#")]


# --- scheduled expiry ----------------------------------------------------------------------


# --- orders (the order webhook) -----------------------------------------------------------

ORDER_EVENT_IDEMPOTENCY = "ORDER_EVENT"  # sort key of an order event's idempotency record


def order_key(merchant_id: str, order_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"M#{merchant_id}#ORD#{order_id}"}, "SK": {"S": "ORDER"}}


def stats_key(merchant_id: str, customer_id: str, currency: str) -> dict[str, Any]:
    return {"PK": {"S": customer_pk(merchant_id, customer_id)}, "SK": {"S": f"STATS#{currency}"}}


def referral_key(merchant_id: str, customer_id: str) -> dict[str, Any]:
    """The mark that a customer's referral has paid. Statistics are per currency, a referee is
    referred once: without a mark of its own, a first order in each currency paid again."""
    return {"PK": {"S": customer_pk(merchant_id, customer_id)}, "SK": {"S": "REFERRAL"}}


def _snapshot_json(lot: LotSnapshot) -> dict[str, Any]:
    return {
        "id": lot.lot_id,
        "o": lot.original,
        "i": lot.issued_at,
        "s": lot.source,
        "e": lot.expires_at,
        "v": lot.valid_from,
        "rp": list(lot.restrictions.product_ids),
        "rc": list(lot.restrictions.categories),
    }


def _snapshot_from_json(raw: dict[str, Any]) -> LotSnapshot:
    return LotSnapshot(
        lot_id=raw["id"],
        original=raw["o"],
        issued_at=raw["i"],
        source=raw["s"],
        expires_at=raw["e"],
        valid_from=raw["v"],
        restrictions=Restrictions(product_ids=tuple(raw["rp"]), categories=tuple(raw["rc"])),
    )


def _spent_lots_json(spent: tuple[SpentLot, ...]) -> str:
    rows = [{"lot": _snapshot_json(s.lot), "spent": s.spent, "returned": s.returned} for s in spent]
    return json.dumps(rows, separators=(",", ":"))


def _spent_lots_from_json(text: str) -> tuple[SpentLot, ...]:
    return tuple(SpentLot(_snapshot_from_json(r["lot"]), r["spent"], r["returned"]) for r in json.loads(text))


def order_to_item(record: OrderRecord) -> dict[str, Any]:
    doc = {
        "checkout_id": record.checkout_id,
        "holder": record.holder,
        "paid": record.paid,
        "cancelled": record.cancelled,
        "paid_total": record.paid_total,
        "captured": record.captured,
        "returned": record.returned,
        "refunded_original": record.refunded_original,
        "refunded_store_credit": record.refunded_store_credit,
        "refund_credit_waiting": record.refund_credit_waiting,
        "lowest_total": record.lowest_total,
        "issued": [[i.customer_id, i.lot_id, i.amount, i.kind, i.full, i.taken] for i in record.issued],
        "events": list(record.events),
        "counted": [record.counted_spent, record.counted_order],
    }
    return {
        **order_key(record.merchant_id, record.order_id),
        "merchant_id": {"S": record.merchant_id},
        "order_id": {"S": record.order_id},
        "customer_id": {"S": record.customer_id},
        "currency": {"S": record.currency},
        "version": _n(record.version),
        "doc": {"S": json.dumps(doc, separators=(",", ":"))},
        "spent_lots": {"S": _spent_lots_json(record.spent_lots)},
    }


def order_from_item(item: dict[str, Any]) -> OrderRecord:
    doc = json.loads(item["doc"]["S"])
    counted = doc.get("counted")
    return OrderRecord(
        merchant_id=item["merchant_id"]["S"],
        order_id=item["order_id"]["S"],
        customer_id=item["customer_id"]["S"],
        currency=item["currency"]["S"],
        version=int(item["version"]["N"]),
        checkout_id=doc["checkout_id"],
        holder=doc["holder"],
        paid=doc["paid"],
        cancelled=doc["cancelled"],
        paid_total=doc["paid_total"],
        captured=doc["captured"],
        spent_lots=_spent_lots_from_json(item["spent_lots"]["S"]),
        returned=doc["returned"],
        refunded_original=doc["refunded_original"],
        refunded_store_credit=doc["refunded_store_credit"],
        refund_credit_waiting=doc.get("refund_credit_waiting", 0),
        lowest_total=doc["lowest_total"],
        issued=tuple(_issued_from_json(row, doc.get("taken_back", False)) for row in doc["issued"]),
        events=tuple(doc["events"]),
        # Orders stored before these fields: a paid order counted its total until cancelled.
        counted_spent=counted[0] if counted else (doc["paid_total"] if doc["paid"] and not doc["cancelled"] else 0),
        counted_order=counted[1] if counted else (doc["paid"] and not doc["cancelled"]),
    )


def _issued_from_json(row: list[Any], taken_back: bool) -> IssuedCredit:
    customer_id, lot_id, amount, kind, *rest = row
    if not rest:  # stored before partial take-backs: a cancel took back what it could, once
        return IssuedCredit(customer_id, lot_id, amount, kind, taken=amount if taken_back else 0)
    return IssuedCredit(customer_id, lot_id, amount, kind, full=rest[0], taken=rest[1])


def _stats_item(stats: CustomerStats) -> dict[str, Any]:
    return {
        **stats_key(stats.merchant_id, stats.customer_id, stats.currency),
        "version": _n(stats.version),
        "orders": _n(stats.orders),
        "spent": _n(stats.spent),
        "fired": {"L": [{"S": key} for key in stats.fired]},
        "standing": {
            "L": [
                {"M": {"key": {"S": m.key}, "order": {"S": m.order_id}, "lot": {"S": m.lot_id}}} for m in stats.standing
            ]
        },
    }


def stats_from_item(merchant_id: str, customer_id: str, currency: str, item: dict[str, Any]) -> CustomerStats:
    return CustomerStats(
        merchant_id=merchant_id,
        customer_id=customer_id,
        currency=currency,
        version=int(item["version"]["N"]),
        orders=int(item["orders"]["N"]),
        spent=int(item["spent"]["N"]),
        fired=tuple(f["S"] for f in item["fired"]["L"]),
        # Stored before milestones were held while reached: those stay with the order that paid them.
        standing=tuple(
            StandingMilestone(m["M"]["key"]["S"], m["M"]["order"]["S"], m["M"]["lot"]["S"])
            for m in item.get("standing", {}).get("L", [])
        ),
    )


def paid_orders_elsewhere(merchant_id: str, customer_id: str, currency: str) -> bool:
    """Whether the customer has paid orders that stand in a currency other than ``currency``."""
    return any(
        int(item["orders"]["N"]) > 0
        for item in holder_items(merchant_id, customer_id, "STATS#")
        if item["SK"]["S"] != f"STATS#{currency}"
    )


def load_order(merchant_id: str, order_id: str) -> OrderRecord | None:
    response = _call(
        dynamodb().get_item, TableName=table_name(), Key=order_key(merchant_id, order_id), ConsistentRead=True
    )
    item = response.get("Item")
    return order_from_item(item) if item else None


def load_order_and_hold(
    merchant_id: str, order_id: str, checkout_id: str | None
) -> tuple[OrderRecord | None, HoldRecord | None]:
    """One round trip: the order's record and its checkout's hold record, for an event that must
    learn from them whose order it is before the buyer's own items can be named."""
    keys = [order_key(merchant_id, order_id)]
    if checkout_id is not None:
        keys.append(hold_key(merchant_id, checkout_id))
    found = _get_by_sort_key(keys)
    order = order_from_item(found["ORDER"]) if "ORDER" in found else None
    return order, hold_record_from_item(found["HOLD"]) if "HOLD" in found else None


def load_order_state(
    merchant_id: str,
    order_id: str,
    checkout_id: str | None,
    customer_id: str,
    currency: str,
    *,
    order_and_hold: tuple[OrderRecord | None, HoldRecord | None] | None = None,
) -> tuple[OrderRecord | None, HoldRecord | None, CustomerStats, Wallet | None]:
    """One round trip: the order's record, its checkout's hold record, the buyer's statistics and
    the buyer's wallet (the one almost every event changes). ``order_and_hold``: those two as
    ``load_order_and_hold`` just read them, not asked for again."""
    keys = [
        stats_key(merchant_id, customer_id, currency),
        wallet_key(merchant_id, customer_id, currency),
        referral_key(merchant_id, customer_id),
    ]
    if order_and_hold is None:
        keys.append(order_key(merchant_id, order_id))
        if checkout_id is not None:
            keys.append(hold_key(merchant_id, checkout_id))
    found = _get_by_sort_key(keys)
    if order_and_hold is None:
        order = order_from_item(found["ORDER"]) if "ORDER" in found else None
        hold = hold_record_from_item(found["HOLD"]) if "HOLD" in found else None
    else:
        order, hold = order_and_hold
    stats_item = found.get(f"STATS#{currency}")
    stats = (
        stats_from_item(merchant_id, customer_id, currency, stats_item)
        if stats_item
        else CustomerStats(merchant_id, customer_id, currency)
    )
    if "REFERRAL" in found and REFERRAL_PAID not in stats.fired:
        stats = replace(stats, fired=(*stats.fired, REFERRAL_PAID))  # paid in another currency
    wallet_item = found.get(f"W#{currency}")
    return order, hold, stats, wallet_from_item(wallet_item) if wallet_item else None


def _versioned_put(item: dict[str, Any], before_version: int) -> dict[str, Any]:
    if before_version == 0:
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(PK)"}
    else:
        condition = {
            "ConditionExpression": "version = :expected",
            "ExpressionAttributeValues": {":expected": _n(before_version)},
        }
    return {"Put": {"TableName": table_name(), "Item": item, **condition}}


def commit_order_event(
    *,
    wallets: list[WalletEdits],
    order_before_version: int,
    order: OrderRecord,
    stats: tuple[int, CustomerStats] | None,
    hold: HoldRecord | None,
    idempotency: IdempotentWrite,
    referral_paid: bool = False,
    other_orders: Sequence[OrderRecord] = (),
) -> None:
    """One transaction for one order event: every wallet it touches (one put each, conditioned on
    the version read, with a ledger entry per change), the order record and the buyer's stats
    (both versioned), the checkout's hold record (claimed by this order only) and the event's
    idempotency record. Too many items for one transaction is refused before any write."""
    items: list[dict[str, Any]] = [idempotency.put(), _versioned_put(order_to_item(order), order_before_version)]
    # Earlier orders of the buyer whose milestone reward this event took back (versioned as read).
    items += [_versioned_put(order_to_item(replace(o, version=o.version + 1)), o.version) for o in other_orders]
    for edits in wallets:
        if not edits.changed:
            continue
        items.append(_wallet_put(edits.before, edits.after))
        items += [_ledger_put(edits.after, entry) for entry in edits.entries]
    if stats is not None:
        items.append(_versioned_put(_stats_item(stats[1]), stats[0]))
    if hold is not None:
        items.append(
            {
                "Put": {
                    "TableName": table_name(),
                    "Item": _hold_record_item(hold),
                    "ConditionExpression": "attribute_exists(PK) AND (attribute_not_exists(order_id) OR order_id = :o)",
                    "ExpressionAttributeValues": {":o": {"S": str(hold.order_id)}},
                }
            }
        )
    if referral_paid:
        # Only one event, in any currency, may pay the buyer's referral: another that raced
        # this one finds the mark on its retry.
        mark = {**referral_key(order.merchant_id, order.customer_id), "order_id": {"S": order.order_id}}
        items.append(
            {"Put": {"TableName": table_name(), "Item": mark, "ConditionExpression": "attribute_not_exists(PK)"}}
        )
    if len(items) > 100:
        raise InvalidInput.on("order", f"this event would change {len(items)} items; at most 100 fit one write")
    # The request token must change whenever the parameters do: it covers every version read.
    versions = [order_before_version, *(w.before.version for w in wallets), stats[0] if stats else -1]
    versions += [o.version for o in other_orders]
    versions.append(int(referral_paid))
    guard = zlib.crc32(",".join(map(str, versions)).encode())
    _transact(items, token=idempotency.token(guard), on_cancel=_replay_on_idempotency(idempotency, 0))


def due_keys(
    shard: int, now: int, *, start: dict[str, Any] | None, limit: int, kind: str = "DUE"
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, int]:
    """One page of the sparse due index for a shard: keys of wallets (``DUE``) or renewal plans
    (``RENEW``) due by ``now``. Returns (keys, where to continue, items the index read)."""
    params: dict[str, Any] = {
        "TableName": table_name(),
        "IndexName": "DueIndex",
        "KeyConditionExpression": "due_shard = :shard AND due_at <= :now",
        "ExpressionAttributeValues": {":shard": {"S": f"{kind}#{shard}"}, ":now": {"S": f"{now:012d}"}},
        "Limit": limit,
    }
    if start is not None:
        params["ExclusiveStartKey"] = start
    response = _call(dynamodb().query, **params)
    keys = [{"PK": item["PK"], "SK": item["SK"]} for item in response["Items"]]
    return keys, response.get("LastEvaluatedKey"), int(response.get("ScannedCount", len(keys)))


def load_wallet_by_key(key: dict[str, Any]) -> Wallet | None:
    response = _call(dynamodb().get_item, TableName=table_name(), Key=key, ConsistentRead=True)
    item = response.get("Item")
    return wallet_from_item(item) if item else None


def commit_due(work: DueWork, now_ms: int) -> None:
    """The expiry job's change to one wallet, in one transaction: the wallet (conditioned on its
    version), a ledger entry per expired lot, and each released hold's checkout item."""
    wallet = work.after
    items: list[dict[str, Any]] = [_wallet_put(work.before, wallet, room=DYNAMODB_ITEM_BYTES)]
    for entry in work.entries:
        items.append(_ledger_put(wallet, entry))
    for hold in work.released:
        items.append(
            {
                "Update": {
                    "TableName": table_name(),
                    "Key": hold_key(wallet.merchant_id, hold.checkout_id),
                    "UpdateExpression": "SET #state = :released, updated_ms = :now, expires_at = :at",
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": {
                        ":released": {"S": "released"},
                        ":now": _n(now_ms),
                        ":at": _n(hold.expires_at),
                    },
                }
            }
        )
    _transact(items)


# --- renewal plans -------------------------------------------------------------------------


def plan_key(merchant_id: str, customer_id: str, currency: str) -> dict[str, Any]:
    return {"PK": {"S": customer_pk(merchant_id, customer_id)}, "SK": {"S": f"RENEWAL#{currency}"}}


def plan_to_item(plan: RenewalPlan) -> dict[str, Any]:
    key = plan_key(plan.merchant_id, plan.customer_id, plan.currency)
    item: dict[str, Any] = {
        **key,
        "merchant_id": {"S": plan.merchant_id},
        "customer_id": {"S": plan.customer_id},
        "currency": {"S": plan.currency},
        "amount": _n(plan.amount),
        "period": {"S": plan.period},
        "mode": {"S": plan.mode},
        "reason": {"S": plan.reason},
        "version": _n(plan.version),
        "due_shard": {"S": due_shard(key["PK"]["S"], "RENEW")},
        "due_at": {"S": f"{plan.due_at:012d}"},
    }
    if plan.expires is not None:
        item["expires"] = {"S": json.dumps(plan.expires, sort_keys=True)}
    if plan.last_period is not None:
        item["last_period"] = {"S": plan.last_period}
    return item


def plan_from_item(item: dict[str, Any]) -> RenewalPlan:
    return RenewalPlan(
        merchant_id=item["merchant_id"]["S"],
        customer_id=item["customer_id"]["S"],
        currency=item["currency"]["S"],
        amount=int(item["amount"]["N"]),
        period=item["period"]["S"],
        mode=item["mode"]["S"],
        reason=item["reason"]["S"],
        expires=json.loads(item["expires"]["S"]) if "expires" in item else None,
        last_period=item["last_period"]["S"] if "last_period" in item else None,
        due_at=int(item["due_at"]["S"]),
        version=int(item["version"]["N"]),
    )


def _plan_put(before_version: int, plan: RenewalPlan) -> dict[str, Any]:
    condition: dict[str, Any] = (
        {"ConditionExpression": "attribute_not_exists(PK)"}
        if before_version == 0
        else {"ConditionExpression": "version = :v", "ExpressionAttributeValues": {":v": _n(before_version)}}
    )
    return {"Put": {"TableName": table_name(), "Item": plan_to_item(plan), **condition}}


def load_plans(merchant_id: str, customer_id: str) -> list[RenewalPlan]:
    return [plan_from_item(item) for item in holder_items(merchant_id, customer_id, "RENEWAL#")]


def save_plan(before_version: int, plan: RenewalPlan, idempotency: IdempotentWrite) -> None:
    _transact(
        [_plan_put(before_version, plan), idempotency.put()],
        token=idempotency.token(before_version),
        on_cancel=_replay_on_idempotency(idempotency, 1),
    )


def delete_plans(plans: list[RenewalPlan]) -> None:
    for plan in plans:
        _call(
            dynamodb().delete_item,
            TableName=table_name(),
            Key=plan_key(plan.merchant_id, plan.customer_id, plan.currency),
        )


def load_renewal_state(
    key: dict[str, Any], *, with_settings: bool
) -> tuple[RenewalPlan, MerchantSettingsRecord | None, Wallet | None] | None:
    """The plan behind a due-index key, the wallet, and (when asked) the merchant's settings:
    one round trip."""
    pk = key["PK"]["S"]
    merchant_id = pk.split("#")[1]
    currency = key["SK"]["S"].removeprefix("RENEWAL#")
    keys = [key, {"PK": {"S": pk}, "SK": {"S": f"W#{currency}"}}]
    if with_settings:
        keys.append(settings_key(merchant_id))
    found = _get_by_sort_key(keys)
    if key["SK"]["S"] not in found:
        return None
    wallet_item = found.get(f"W#{currency}")
    return (
        plan_from_item(found[key["SK"]["S"]]),
        _settings_from_item(found.get("SETTINGS")),
        wallet_from_item(wallet_item) if wallet_item else None,
    )


def commit_renewal(before: RenewalPlan, after: RenewalPlan, change: WalletChange | None) -> None:
    """The plan (conditioned on its version: once per period, however many runs race) and, when
    credit is granted, the wallet and its ledger entry, in one transaction."""
    items = [_plan_put(before.version, after)]
    if change is not None:
        items.append(_wallet_put(change.before, change.after))
        items.append(_ledger_put(change.after, change.entry))
    _transact(items)


# --- privacy ---------------------------------------------------------------------------------


PERSONAL_ATTRIBUTES = ("email", "phone", "email_key", "phone_key", "note")


def erase_personal_attributes(item: dict[str, Any], now: int) -> bool:
    """Remove the personal attributes an item carries (amounts and keys stay). False: none left."""
    present = [name for name in PERSONAL_ATTRIBUTES if name in item]
    if not present:
        return False
    names = {f"#a{i}": name for i, name in enumerate(present)}
    _call(
        dynamodb().update_item,
        TableName=table_name(),
        Key={"PK": item["PK"], "SK": item["SK"]},
        UpdateExpression="REMOVE " + ", ".join(names) + " SET personal_data_erased_at = :now",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={":now": _n(now)},
    )
    return True


def scrub_idempotency_answer(merchant_id: str, key: str) -> None:
    """An idempotency record keeps the first answer, which may quote the entry's note: replays
    keep answering the same, less the erased note."""
    record = get_idempotency_record(merchant_id, key)
    if record is None:
        return
    body = json.loads(record.body)
    transaction = body.get("transaction")
    if not isinstance(transaction, dict) or transaction.get("note") is None:
        return
    transaction["note"] = None
    from botocore.exceptions import ClientError

    try:
        _call(
            dynamodb().update_item,
            TableName=table_name(),
            Key=idempotency_key_item(merchant_id, key),
            UpdateExpression="SET body = :body",
            # Only a record still there: should its TTL delete it meanwhile, an unconditional
            # update would leave a stub with no request hash (and no TTL), and every later
            # request with that key would fail on it.
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":body": {"S": json.dumps(body, separators=(",", ":"))}},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise


# --- liability aggregates (kept from the ledger stream) ----------------------------------------

LIABILITY_SHARDS = 8  # counters split so a busy merchant's ledger does not queue on one item
SEEN_TTL_SECONDS = 3 * 86_400  # longer than the stream keeps a record (24 h)


def liability_pk(merchant_id: str, currency: str) -> dict[str, str]:
    return {"S": f"M#{merchant_id}#LIAB#{currency}"}


def record_liability(merchant_id: str, entry: LedgerEntry, day: str) -> bool:
    """Add one ledger entry to the merchant's liability counters, exactly once: a marker for
    the entry goes in the same transaction. Returns False when it was counted before."""
    pk = liability_pk(merchant_id, entry.currency)
    shard = zlib.crc32(entry.entry_id.encode()) % LIABILITY_SHARDS
    items: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": table_name(),
                "Item": {
                    "PK": pk,
                    "SK": {"S": f"SEEN#{entry.entry_id}"},
                    "expires_ttl": _n(entry.created_ms // 1000 + SEEN_TTL_SECONDS),
                },
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }
    ]
    for source, amount in entry.by_source:
        items.append(
            {
                "Update": {
                    "TableName": table_name(),
                    "Key": {"PK": pk, "SK": {"S": f"SRC#{source}#{shard}"}},
                    "UpdateExpression": "ADD outstanding :a",
                    "ExpressionAttributeValues": {":a": _n(amount)},
                }
            }
        )
    counter = liability_counter(entry)
    if counter is not None:
        items.append(
            {
                "Update": {
                    "TableName": table_name(),
                    "Key": {"PK": pk, "SK": {"S": f"DAY#{day}#{shard}"}},
                    "UpdateExpression": f"ADD {counter} :a",
                    "ExpressionAttributeValues": {":a": _n(-entry.amount)},
                }
            }
        )

    def already_counted(reasons: list[dict[str, Any]]) -> None:
        if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
            raise _AlreadyCounted()

    try:
        _transact(items, on_cancel=already_counted)
    except _AlreadyCounted:
        return False
    return True


class _AlreadyCounted(Exception):
    pass


def load_liability(merchant_id: str, currency: str, first_day: str, last_day: str) -> dict[str, Any]:
    """Outstanding credit by source, and credit expired and redeemed between two UTC days."""
    pk = liability_pk(merchant_id, currency)

    def query(condition: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {
            "TableName": table_name(),
            "KeyConditionExpression": f"PK = :pk AND {condition}",
            "ExpressionAttributeValues": {":pk": pk, **values},
        }
        while True:
            page = _call(dynamodb().query, **params)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    by_source: dict[str, int] = {}
    for item in query("begins_with(SK, :src)", {":src": {"S": "SRC#"}}):
        source = item["SK"]["S"].split("#")[1]
        by_source[source] = by_source.get(source, 0) + int(item.get("outstanding", {"N": "0"})["N"])
    totals = {"expired": 0, "redeemed": 0, "taken_back": 0}
    days = query("SK BETWEEN :a AND :b", {":a": {"S": f"DAY#{first_day}"}, ":b": {"S": f"DAY#{last_day}#~"}})
    for item in days:
        for counter in totals:
            totals[counter] += int(item.get(counter, {"N": "0"})["N"])
    return {"by_source": by_source, **totals}


def load_settings_and_email(
    merchant_id: str, customer_id: str | None
) -> tuple[MerchantSettingsRecord | None, str | None]:
    """The merchant's settings and the customer's email (if any): one round trip. Consistent: an
    email erased a moment ago must not be read back and written to, and one recorded with
    the credit this event announces must be found."""
    keys = [settings_key(merchant_id)]
    if customer_id is not None:
        keys.append({"PK": {"S": customer_pk(merchant_id, customer_id)}, "SK": {"S": "PROFILE"}})
    found = _get_by_sort_key(keys, consistent=True)
    profile = found.get("PROFILE", {})
    return _settings_from_item(found.get("SETTINGS")), profile.get("email", {}).get("S")


# --- notifications sent (the notifier's once-only markers) -------------------------------------

# Longer than anything redelivers an event: the bus retries for an hour, the stream keeps a
# record 24 h, and the expiry job repeats a notice only within its run.
NOTICE_MARKER_TTL_SECONDS = 7 * 86_400


def _notice_key(merchant_id: str, notice_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"M#{merchant_id}#SENT#{notice_id}"}, "SK": {"S": "SENT"}}


def claim_notice(merchant_id: str, notice_id: str, now: int) -> bool:
    """Record that the customer is being told ``notice_id``; False if they were told before."""
    from botocore.exceptions import ClientError

    try:
        _call(
            dynamodb().put_item,
            TableName=table_name(),
            Item={**_notice_key(merchant_id, notice_id), "expires_ttl": _n(now + NOTICE_MARKER_TTL_SECONDS)},
            ConditionExpression="attribute_not_exists(PK)",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def unclaim_notice(merchant_id: str, notice_id: str) -> None:
    """The email was not sent after all: let the retried event send it."""
    _call(dynamodb().delete_item, TableName=table_name(), Key=_notice_key(merchant_id, notice_id))


# --- bulk imports ------------------------------------------------------------------------------
#
# ``M#{merchant}#IMP#{import}``           ``JOB``          the job: rows_total, state, request hash
# ``M#{merchant}#IMP#{import}``           ``CNT#{shard}``  applied / failed counters (summed on read)
# ``M#{merchant}#IMP#{import}``           ``ERR#{row}``    a failed row and its reason
# ``M#{merchant}#IMP#{import}#R#{row}``   ``ROW``          the row's once-only marker (TTL)
#
# A row's marker, its counter and (when applied) its wallet and ledger entry are one
# transaction, so a row is counted and applied exactly once however often SQS delivers it.

IMPORT_COUNTER_SHARDS = 16  # a shard per block of rows: concurrent consumers rarely share one
IMPORT_MARKER_TTL_SECONDS = 30 * 86_400  # longer than SQS keeps a message (14 days)


def import_pk(merchant_id: str, import_id: str) -> dict[str, str]:
    return {"S": f"M#{merchant_id}#IMP#{import_id}"}


@dataclass(frozen=True)
class ImportJob:
    merchant_id: str
    import_id: str
    rows_total: int
    state: str  # validating (accepted, rows being queued) | queued (every row sent to SQS)
    request_hash: str
    created_ms: int
    source: str  # csv | json | group


def _import_job_from_item(item: dict[str, Any]) -> ImportJob:
    return ImportJob(
        merchant_id=item["merchant_id"]["S"],
        import_id=item["import_id"]["S"],
        rows_total=int(item["rows_total"]["N"]),
        state=item["state"]["S"],
        request_hash=item["request_hash"]["S"],
        created_ms=int(item["created_ms"]["N"]),
        source=item["source"]["S"],
    )


def create_import_job(job: ImportJob, idempotency: IdempotentWrite) -> None:
    """The job and the request's idempotency record, in one transaction. Raises
    ``IdempotentReplay`` when the key was used before."""
    item = {
        "PK": import_pk(job.merchant_id, job.import_id),
        "SK": {"S": "JOB"},
        "merchant_id": {"S": job.merchant_id},
        "import_id": {"S": job.import_id},
        "rows_total": _n(job.rows_total),
        "state": {"S": job.state},
        "request_hash": {"S": job.request_hash},
        "created_ms": _n(job.created_ms),
        "source": {"S": job.source},
    }
    put = {"Put": {"TableName": table_name(), "Item": item, "ConditionExpression": "attribute_not_exists(PK)"}}
    _transact([put, idempotency.put()], token=idempotency.token(0), on_cancel=_replay_on_idempotency(idempotency, 1))


def mark_import_queued(merchant_id: str, import_id: str) -> None:
    _call(
        dynamodb().update_item,
        TableName=table_name(),
        Key={"PK": import_pk(merchant_id, import_id), "SK": {"S": "JOB"}},
        UpdateExpression="SET #state = :queued",
        ConditionExpression="attribute_exists(PK)",
        ExpressionAttributeNames={"#state": "state"},
        ExpressionAttributeValues={":queued": {"S": "queued"}},
    )


def load_import(merchant_id: str, import_id: str, *, consistent: bool = True) -> tuple[ImportJob | None, int, int]:
    """The job and its counters (applied, failed), summed over the shards: one BatchGetItem."""
    pk = import_pk(merchant_id, import_id)
    keys = [{"PK": pk, "SK": {"S": "JOB"}}]
    keys += [{"PK": pk, "SK": {"S": f"CNT#{shard:02d}"}} for shard in range(IMPORT_COUNTER_SHARDS)]
    found = _get_by_sort_key(keys, consistent=consistent)
    job = found.get("JOB")
    applied = failed = 0
    for sort_key, item in found.items():
        if sort_key.startswith("CNT#"):
            applied += int(item.get("applied", {"N": "0"})["N"])
            failed += int(item.get("failed", {"N": "0"})["N"])
    return (_import_job_from_item(job) if job else None), applied, failed


def list_import_errors(
    merchant_id: str, import_id: str, *, limit: int, after_row: int | None
) -> tuple[list[dict[str, Any]], int | None]:
    """Failed rows in row order, one page; returns the row to continue after, if any."""
    pk = import_pk(merchant_id, import_id)
    params: dict[str, Any] = {
        "TableName": table_name(),
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :err)",
        "ExpressionAttributeValues": {":pk": pk, ":err": {"S": "ERR#"}},
        "Limit": limit,
    }
    if after_row is not None:
        params["ExclusiveStartKey"] = {"PK": pk, "SK": {"S": f"ERR#{after_row:06d}"}}
    response = _call(dynamodb().query, **params)
    rows = [{"row": int(item["row"]["N"]), "reason": item["reason"]["S"]} for item in response["Items"]]
    last = response.get("LastEvaluatedKey")
    return rows, (int(last["SK"]["S"][4:]) if last else None)


def find_customers(merchant_id: str, *, email: str | None = None, phone: str | None = None) -> list[str]:
    """Customers of this merchant whose profile carries exactly this email (or phone): at most two,
    enough to tell one from ambiguous. The lookup key embeds the merchant, so no other tenant's
    customer can ever match.

    The index is eventually consistent: it can still list a customer whose email was erased or
    replaced a moment ago. Each customer it names is kept only if their profile, read
    consistently, still carries the value, so an erased customer is never found by it and
    credit never goes to whoever had the email before."""
    index, attribute, value = ("ByEmail", "email_key", f"M#{merchant_id}#E#{email}")
    if email is None:
        index, attribute, value = ("ByPhone", "phone_key", f"M#{merchant_id}#P#{phone}")
    response = _call(
        dynamodb().query,
        TableName=table_name(),
        IndexName=index,
        KeyConditionExpression=f"{attribute} = :v",
        ExpressionAttributeValues={":v": {"S": value}},
        Limit=2,
    )
    prefix = f"M#{merchant_id}#C#"
    keys = [
        {"PK": item["PK"], "SK": {"S": "PROFILE"}} for item in response["Items"] if item["PK"]["S"].startswith(prefix)
    ]
    if not keys:
        return []
    profiles = {item["PK"]["S"]: item for item in _batch_get(keys)}
    return [
        key["PK"]["S"].removeprefix(prefix)
        for key in keys
        if profiles.get(key["PK"]["S"], {}).get(attribute, {}).get("S") == value
    ]


@dataclass(frozen=True)
class ImportRowOutcome:
    """What one row did: applied (with its ledger entry) or failed (with the reason)."""

    merchant_id: str
    import_id: str
    row: int
    shard: int
    now_ms: int
    failed_reason: str | None = None
    customer_id: str | None = None
    entry_id: str | None = None


def _import_row_items(outcome: ImportRowOutcome) -> list[dict[str, Any]]:
    pk = import_pk(outcome.merchant_id, outcome.import_id)
    marker: dict[str, Any] = {
        "PK": {"S": f"{pk['S']}#R#{outcome.row}"},
        "SK": {"S": "ROW"},
        "outcome": {"S": "failed" if outcome.failed_reason is not None else "applied"},
        "expires_ttl": _n(outcome.now_ms // 1000 + IMPORT_MARKER_TTL_SECONDS),
    }
    if outcome.customer_id is not None:
        marker["customer_id"] = {"S": outcome.customer_id}
    if outcome.entry_id is not None:
        marker["entry_id"] = {"S": outcome.entry_id}
    counter = "failed" if outcome.failed_reason is not None else "applied"
    items: list[dict[str, Any]] = [
        {"Put": {"TableName": table_name(), "Item": marker, "ConditionExpression": "attribute_not_exists(PK)"}},
        {
            "Update": {
                "TableName": table_name(),
                "Key": {"PK": pk, "SK": {"S": f"CNT#{outcome.shard:02d}"}},
                "UpdateExpression": f"ADD {counter} :one",
                "ExpressionAttributeValues": {":one": _n(1)},
            }
        },
    ]
    if outcome.failed_reason is not None:
        items.append(
            {
                "Put": {
                    "TableName": table_name(),
                    "Item": {
                        "PK": pk,
                        "SK": {"S": f"ERR#{outcome.row:06d}"},
                        "row": _n(outcome.row),
                        "reason": {"S": outcome.failed_reason[:300]},
                    },
                }
            }
        )
    return items


def commit_import_row(
    outcome: ImportRowOutcome, change: WalletChange | None = None, *, refused_on: Wallet | None = None
) -> bool:
    """One transaction: the row's marker (``attribute_not_exists``), its counter and, when the row
    applies, the wallet (conditioned on its version) and the ledger entry; when it fails, its
    error item — with a ConditionCheck on the wallet's version when the refusal was decided on
    it (not enough credit), so a row is never refused on a balance that has since changed.
    Returns False when the row was done before (nothing written); raises ``WriteConflict`` when
    the wallet moved underneath (read again and retry)."""
    import hashlib

    items = _import_row_items(outcome)
    if change is not None:
        items += [_wallet_put(change.before, change.after), _ledger_put(change.after, change.entry)]
    if refused_on is not None:
        items.append(
            {
                "ConditionCheck": {
                    "TableName": table_name(),
                    "Key": wallet_key(refused_on.merchant_id, refused_on.customer_id, refused_on.currency),
                    **_version_condition(refused_on),
                }
            }
        )
    # Covers every parameter that can differ between our own attempts (the time, the version
    # read, the entry id), so it only ever de-duplicates botocore's retry of this very call.
    version, entry = (change.before.version, change.entry.entry_id) if change is not None else (-1, "")
    raw = f"{outcome.merchant_id}|{outcome.import_id}|{outcome.row}|{version}|{outcome.now_ms}|{entry}"
    token = hashlib.sha256(raw.encode()).hexdigest()[:36]

    def done_before(reasons: list[dict[str, Any]]) -> None:
        if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
            raise _RowDoneBefore()

    try:
        _transact(items, token=token, on_cancel=done_before)
    except _RowDoneBefore:
        return False
    return True


def load_import_job(merchant_id: str, import_id: str) -> ImportJob | None:
    """The job alone (the consumer's check that a message belongs to a stored import).

    Consistent: the job is written just before its messages are sent, and an eventually
    consistent read could miss it and take a good message for poison."""
    response = _call(
        dynamodb().get_item,
        TableName=table_name(),
        Key={"PK": import_pk(merchant_id, import_id), "SK": {"S": "JOB"}},
        ConsistentRead=True,
    )
    item = response.get("Item")
    return _import_job_from_item(item) if item else None


class _RowDoneBefore(Exception):
    pass


def load_import_wallets(
    merchant_id: str, wallets: list[tuple[str, str]]
) -> tuple[MerchantSettingsRecord | None, dict[tuple[str, str], Wallet]]:
    """The merchant's settings and the wallets a block of import rows names, (customer, currency)
    → wallet, strongly consistent: one BatchGetItem per 99 wallets. Absent wallets are left out."""
    found: dict[tuple[str, str], Wallet] = {}
    settings: MerchantSettingsRecord | None = None
    wanted = [settings_key(merchant_id)] + [wallet_key(merchant_id, c, cur) for c, cur in dict.fromkeys(wallets)]
    for start in range(0, len(wanted), 100):
        for item in _batch_get(wanted[start : start + 100]):
            if item["SK"]["S"] == "SETTINGS":
                settings = _settings_from_item(item)
            else:
                wallet = wallet_from_item(item)
                found[(wallet.customer_id, wallet.currency)] = wallet
    return settings, found
