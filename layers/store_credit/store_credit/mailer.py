"""Sending email through SES (the only module that calls SES)."""

from __future__ import annotations

import os
from typing import Any

_client: Any = None


def ses() -> Any:
    global _client
    if _client is None:
        from store_credit import aws

        _client = aws.client("sesv2")
    return _client


def reset_client() -> None:
    global _client
    _client = None


def send(to: str, subject: str, body: str) -> None:
    ses().send_email(
        FromEmailAddress=os.environ["SENDER_EMAIL"],
        Destination={"ToAddresses": [to]},
        Content={"Simple": {"Subject": {"Data": subject}, "Body": {"Text": {"Data": body}}}},
    )
