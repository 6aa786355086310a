"""Privacy export, erasure and the liability report.

Routed in template.yaml; its behaviour is built in a later release.
"""

from __future__ import annotations

from typing import Any

from store_credit.http_problems import not_implemented


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return not_implemented("Privacy export, erasure and the liability report")
