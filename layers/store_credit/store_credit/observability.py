"""Logger, metrics and tracer, created once per container and shared by every handler."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()  # service name from POWERTOOLS_SERVICE_NAME
metrics = Metrics()  # namespace from POWERTOOLS_METRICS_NAMESPACE
tracer = Tracer()  # disabled outside Lambda (POWERTOOLS_TRACE_DISABLED in tests and locally)
