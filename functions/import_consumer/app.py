"""Import-row consumer: wired to the SQS queue in template.yaml; built in a later release.

No route enqueues rows yet (POST /v1/imports answers 501), so nothing reaches this function.
Should a message arrive anyway it is reported failed, so SQS retries and then dead-letters it
rather than silently dropping a credit.
"""

from __future__ import annotations

from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event.get("Records") or []
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}
