"""Logger and metrics, created once per container and shared by every handler.

No Powertools Tracer: importing aws_xray_sdk cost ~125 ms of every cold start here (measured
with ``python -X importtime``). The template keeps ``Tracing: Active``, so X-Ray still shows
each invocation; only per-call DynamoDB subsegments are given up.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger()  # service name from POWERTOOLS_SERVICE_NAME
metrics = Metrics()  # namespace from POWERTOOLS_METRICS_NAMESPACE
