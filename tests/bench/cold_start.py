"""`make bench` (cold start): each handler's import, plus its first DynamoDB client, against a
bare `import boto3` + one client, in fresh interpreters (best of 5)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.harness.template import ROOT

RUNS = 5
TIMER = "import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
HANDLERS = [
    "authorizer",
    "credits",
    "settings",
    "checkout",
    "renewal",
    "expiry",
    "ledger_events",
    "order_webhook",
    "imports",
    "import_consumer",
]
FIRST_CLIENT = "from store_credit import wallet_store; wallet_store.dynamodb()"


def best(code: str, path: str = "") -> float:
    env = {**os.environ, "PYTHONPATH": path, "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "1"}
    runs = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", TIMER.format(code=code)], env=env, capture_output=True, text=True, check=True
        )
        runs.append(float(out.stdout.strip()))
    return min(runs)


def main() -> None:
    baseline = best("import boto3; boto3.client('dynamodb')")
    print(
        f"\nCold start (fresh interpreter, best of {RUNS}); baseline import boto3 + DynamoDB client: "
        f"{baseline * 1000:.0f} ms\n"
    )
    print(f"{'handler':14} {'import ms':>10} {'+ client ms':>12} {'× baseline':>11}")
    for name in HANDLERS:
        path = os.pathsep.join([str(ROOT / "layers" / "store_credit"), str(ROOT / "functions" / name)])
        imported = best("import app", path)
        ready = best(f"import app; {FIRST_CLIENT}", path)
        print(f"{name:14} {imported * 1000:>10.0f} {ready * 1000:>12.0f} {ready / baseline:>11.2f}")


if __name__ == "__main__":
    main()
