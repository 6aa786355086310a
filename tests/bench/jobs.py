"""`make bench` (jobs part): the expiry and renewal jobs over 100,000 wallets with 1% due.

Seeds the wallets straight into MiniStack (BatchWriteItem of the same items the service
writes), runs each job once, and prints how many items it read per item due — a Scan would
read every wallet —, the read and write units it consumed per item due (what DynamoDB bills),
and the DynamoDB requests per expired lot and per renewed wallet.

Then, for a design that is not deployed: a copy of the table whose DueIndex projects whole
items (``ProjectionType: ALL``), what writes to wallets on the index and the jobs' index reads
would cost there.
"""

from __future__ import annotations

import os
import statistics
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.bench.capacity import Usage, item_size, metered, query_units

WALLETS = int(os.environ.get("BENCH_WALLETS", "100000"))
DUE_SHARE = 0.01
LATER_SHARE = 0.04  # on the index (credit expiring in months), not due: must not be read
TABLE = "bench-jobs"
ALL_TABLE = "bench-jobs-all"  # not deployed: DueIndex with ProjectionType ALL
WRITE_SAMPLES = 10  # wallets each write is measured on


def all_projection_definition() -> dict[str, Any]:
    """The template's table, except that DueIndex projects the whole item."""
    from tests.harness.template import table_definition

    definition = table_definition(ALL_TABLE)
    definition["GlobalSecondaryIndexes"] = [
        {**index, "Projection": {"ProjectionType": "ALL"}} if index["IndexName"] == "DueIndex" else index
        for index in definition["GlobalSecondaryIndexes"]
    ]
    return definition


@contextmanager
def on_table(name: str) -> Iterator[None]:
    """The service finds its table in TABLE_NAME at every call."""
    previous = os.environ["TABLE_NAME"]
    os.environ["TABLE_NAME"] = name
    try:
        yield
    finally:
        os.environ["TABLE_NAME"] = previous


def put_items(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    request: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in items]}
    while request:
        request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}


def seed(client: Any, now: int) -> tuple[int, int, dict[str, Any]]:
    """Wallets (and renewal plans) into TABLE; the ones on DueIndex also into ALL_TABLE, which
    then holds the same index (the other items never appear in a sparse index). Returns the
    counts due and one due wallet's item."""
    from store_credit import wallet_store
    from store_credit.renewal import RenewalPlan
    from store_credit.wallet import Wallet, issue_credit

    due_every = round(1 / DUE_SHARE)
    today = datetime.fromtimestamp(now, UTC)
    this_month = int(datetime(today.year, today.month, 1, tzinfo=UTC).timestamp())
    later_every = round(1 / LATER_SHARE)
    expiring = renewing = 0
    sample: dict[str, Any] = {}
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        put_items(client, TABLE, batch)
        indexed = [item for item in batch if "due_shard" in item]
        if indexed:
            put_items(client, ALL_TABLE, indexed)
        batch.clear()

    for n in range(WALLETS):
        wallet = Wallet("bench", f"c{n:06d}", "USD")
        if n % due_every == 0:
            expires_at: int | None = now - 3_600  # expired an hour ago
            expiring += 1
        elif n % later_every == 1:
            expires_at = now + 90 * 86_400
        else:
            expires_at = None
        change = issue_credit(
            wallet, amount=1_000, reason="seed", actor="bench", now_ms=(now - 86_400) * 1000, expires_at=expires_at
        )
        batch.append(wallet_store.wallet_to_item(change.after))
        batch.append(wallet_store.entry_to_item(change.after, change.entry))
        if n == 0:  # due
            sample = batch[-2]
        if n % due_every == 5:
            plan = RenewalPlan(
                "bench",
                f"c{n:06d}",
                "USD",
                500,
                "monthly",
                "grant",
                "Monthly allowance",
                None,
                # Due at the start of this month, as a plan the API times is: a plan due at
                # another instant is re-timed to the nearest period start (a merchant who moved
                # timezone), which from mid-month on is the next one, so nothing would renew.
                due_at=this_month,
                version=1,
            )
            batch.append(wallet_store.plan_to_item(plan))
            renewing += 1
        if len(batch) >= 24:
            flush()
    if batch:
        flush()
    return expiring, renewing, sample


def index_read_units(now: int, kind: str) -> float:
    """Read units of every DueIndex page the jobs query (their own ``due_keys``), on the copy
    whose index holds whole items."""
    from store_credit import wallet_store
    from store_credit.expiry_service import PAGE
    from store_credit.wallet import DUE_SHARDS

    with on_table(ALL_TABLE), metered() as usage:
        for shard in range(DUE_SHARDS):
            start: dict[str, Any] | None = None
            while True:
                _, start, _ = wallet_store.due_keys(shard, now, start=start, limit=PAGE, kind=kind)
                if start is None:
                    break
    return usage.read_units


def wallet_write_units(table: str) -> dict[str, list[Usage]]:
    """The usual writes to wallets that sit on DueIndex (a lot expiring in 30 days), through the
    template's routes, on ``table``."""
    from tests.harness.api_client import Api, make_merchant
    from tests.harness.gateway import Gateway

    def ok(response: Any) -> None:
        assert response.status < 300, response.body

    def apply(i: int) -> Any:
        cart = {"currency": "USD", "items": [{"id": "a", "quantity": 1, "unit_price": "10.00"}]}
        body = {"checkout_id": f"chk_{i}", "customer_id": f"w{i}", "capture": False, "cart": cart}
        return api.post("/v1/checkout/apply", body, key=None)

    with on_table(table):
        api = Api(Gateway(), make_merchant(f"probe-{table}").api_key)  # own merchant: own settings cache
        for i in range(WRITE_SAMPLES):
            ok(api.issue(f"w{i}", "20.00", expires={"days": 30}))
        steps: dict[str, Callable[[int], Any]] = {
            "issue credit (another expiring lot)": lambda i: api.issue(f"w{i}", "5.00", expires={"days": 60}),
            "apply at checkout (new hold)": apply,
            "debit": lambda i: api.debit(f"w{i}", "1.00"),
        }
        measured: dict[str, list[Usage]] = {}
        for name, step in steps.items():
            measured[name] = []
            for i in range(WRITE_SAMPLES):
                with metered() as usage:
                    ok(step(i))
                measured[name].append(usage)
    return measured


def main() -> None:
    from tests.harness.local_stack import LOCAL_ENV
    from tests.harness.ministack import start_ministack

    emulator = start_ministack()
    os.environ.update({**LOCAL_ENV, "TABLE_NAME": TABLE, "EVENT_BUS_NAME": TABLE, "AWS_ENDPOINT_URL": emulator.url})
    try:
        import boto3

        from store_credit import wallet_store
        from store_credit.expiry_service import run_expiry
        from store_credit.renewal_service import run_renewal
        from tests.harness.api_client import create_stack_resources, make_merchant

        create_stack_resources(boto3.client)
        wallet_store.dynamodb().create_table(**all_projection_definition())
        make_merchant("bench")
        now = int(time.time())
        started = time.perf_counter()
        expiring, renewing, sample = seed(wallet_store.dynamodb(), now)
        print(
            f"seeded {WALLETS:,} wallets ({expiring:,} with a lot due, {renewing:,} renewal plans due) "
            f"in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )

        all_index_units = {"expiry": index_read_units(now, "DUE"), "renewal": index_read_units(now, "RENEW")}
        rows = []
        for name, run, due in (("expiry", run_expiry, expiring), ("renewal", run_renewal, renewing)):
            with metered() as usage:
                started = time.perf_counter()
                summary = run(now)
            rows.append(Job(name, due, summary, usage, time.perf_counter() - started))
        writes = {"KEYS_ONLY": wallet_write_units(TABLE), "ALL": wallet_write_units(ALL_TABLE)}
    finally:
        emulator.stop()

    report(rows, sample, writes, all_index_units)


@dataclass
class Job:
    name: str
    due: int
    summary: dict[str, Any]
    usage: Usage
    seconds: float

    @property
    def done(self) -> int:
        return int(self.summary.get("lots_expired", self.summary.get("renewed", 0)))

    @property
    def items_read(self) -> int:
        """Items read besides the index: each due wallet, or each plan with its wallet."""
        return int(self.summary.get("wallets_read", 2 * self.summary.get("plans_read", 0)))

    def per_due(self, value: float) -> float:
        return value / max(self.due, 1)


def note(text: str) -> None:
    print(textwrap.fill(text, 110))


Writes = dict[str, dict[str, list[Usage]]]  # projection -> write -> one Usage per wallet


def report(rows: list[Job], sample: dict[str, Any], writes: Writes, all_index_units: dict[str, float]) -> None:
    print(f"\nScheduled jobs over {WALLETS:,} wallets (MiniStack)\n")
    print(
        f"{'job':8} {'due':>6} {'done':>6} {'index items read':>17} {'per item due':>13} "
        f"{'items read per due':>19} {'requests per item':>18} {'RRU per due':>12} {'WRU per due':>12} {'seconds':>8}"
    )
    for job in rows:
        index_read = job.summary["index_items_read"]
        print(
            f"{job.name:8} {job.due:>6} {job.done:>6} {index_read:>17} {job.per_due(index_read):>13.2f} "
            f"{job.per_due(index_read + job.items_read):>19.2f} {len(job.usage.calls) / max(job.done, 1):>18.2f} "
            f"{job.per_due(job.usage.read_units):>12.3f} {job.per_due(job.usage.write_units):>12.2f} "
            f"{job.seconds:>8.1f}"
        )
    entry = {name: sample[name] for name in ("PK", "SK", "due_shard", "due_at")}
    print()
    note(
        f"A Scan would read {WALLETS:,}+ items: {WALLETS / max(rows[0].due, 1):.0f} per item due. "
        "'index items read' counts the sparse DueIndex entries the job queried; 'items read' adds "
        "the consistent read of each due wallet, or of each plan with its wallet (one BatchGetItem; "
        "merchant settings are read once per merchant per run)."
    )
    note(
        "RRU / WRU per due: the read and write request units the job consumed (ReturnConsumedCapacity "
        "on every call), over the items due. A Query page is billed by the summed size of the entries it "
        "returns, 0.5 RRU per started 4 KB (eventually consistent): a KEYS_ONLY entry here is "
        f"{item_size(entry)} bytes (its keys), so a full page of 100 costs "
        f"{query_units([entry] * 100, consistent=False):.1f} RRU, and a shard with nothing due still "
        "0.5. Each item read is 1 RRU (consistent, under 4 KB: a due wallet is "
        f"{item_size(sample)} bytes). Writes are transactions (2 WRU per item per started KB) plus the "
        "DueIndex entry (1 WRU to delete or insert it, 2 to move it; index writes are not doubled). "
        "MiniStack bills a Query page flat and leaves BatchGetItem out: those two are computed from "
        "item sizes as DynamoDB bills them (tests/bench/capacity.py)."
    )
    for job in rows:
        usage = job.usage
        due_index = usage.index_write_units["DueIndex"]
        print(
            f"  {job.name:8} RRU per due = {job.per_due(usage.query_read_units):.3f} DueIndex pages "
            f"+ {job.per_due(usage.read_units - usage.query_read_units):.3f} item reads; "
            f"WRU per due = {job.per_due(usage.write_units - due_index):.2f} table "
            f"+ {job.per_due(due_index):.2f} DueIndex"
        )

    print("\nNot deployed: what ALL projection would cost (a copy of the table, DueIndex ProjectionType ALL)\n")
    print(f"{'write to a wallet on DueIndex':36} {'WRU KEYS_ONLY':>13} {'DueIndex':>9} {'WRU ALL':>8} {'DueIndex':>9}")
    for name in writes["KEYS_ONLY"]:
        cells = [
            f"{statistics.mean(usage.write_units for usage in usages):{width}.2f} "
            f"{statistics.mean(usage.index_write_units['DueIndex'] for usage in usages):>9.2f}"
            for usages, width in ((writes["KEYS_ONLY"][name], ">13"), (writes["ALL"][name], ">8"))
        ]
        print(f"{name:36} {' '.join(cells)}")
    print()
    note(
        f"Each write measured on {WRITE_SAMPLES} wallets holding a lot that expires in 30 days, through "
        "the template's routes. MiniStack reports index writes itself (ReturnConsumedCapacity=INDEXES "
        "gives GlobalSecondaryIndexes per index) by DynamoDB's rule: no index write when the write "
        "changes no projected attribute, 1 WRU per started KB of the entry to insert, rewrite or delete "
        "it, a delete and an insert when its index key moves (a new hold moves due_at). With ALL every "
        "attribute is projected, so every write to a wallet on the index rewrites its entry: the whole wallet "
        f"({item_size(sample)} bytes for one lot; more KB, so more WRU, with many lots or holds)."
    )
    print(f"\n{'job reading its due items':26} {'DueIndex pages':>15} {'item reads':>11} {'RRU per due':>12}")
    for job in rows:
        index_part = job.per_due(job.usage.query_read_units)
        reads = job.per_due(job.usage.read_units - job.usage.query_read_units)
        print(f"{job.name + ', KEYS_ONLY':26} {index_part:>15.3f} {reads:>11.3f} {index_part + reads:>12.3f}")
        # With ALL the page brings the item the index points at (the wallet; for renewal the plan,
        # 1 RRU of its consistent BatchGetItem), so that read goes; renewal still reads the wallet,
        # another item. A wallet read stale from the index fails the version condition of the
        # commit and is read again, consistently: rare, not counted.
        all_part = job.per_due(all_index_units[job.name])
        print(f"{job.name + ', ALL':26} {all_part:>15.3f} {reads - 1:>11.3f} {all_part + reads - 1:>12.3f}")
    print()
    note(
        "ALL pages: the jobs' own Query (due_keys, 100 entries a page) on the copy, billed by the size "
        "of the whole items it returns; the item reads left are the deployed job's less the one the "
        "index would bring."
    )


if __name__ == "__main__":
    main()
