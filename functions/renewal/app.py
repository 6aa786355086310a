"""Renewal plans and the renewal schedule: routed in template.yaml; built in a later release."""

from __future__ import annotations

from typing import Any

from store_credit.http_problems import not_implemented


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "requestContext" in event:  # the renewal-plan routes
        return not_implemented("Renewal plans")
    return {"job": "renewal", "implemented": False, "renewed": 0}
