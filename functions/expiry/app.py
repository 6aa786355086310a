"""Scheduled expiry: wired to its schedule in template.yaml; built in a later release."""

from __future__ import annotations

from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"job": "expiry", "implemented": False, "expired": 0}
