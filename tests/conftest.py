"""Shared fixtures: an in-process moto account with the template's own table, a gateway
that routes like template.yaml, and a demo merchant with an API key."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.api_client import Api, Merchant, create_stack_resources, make_merchant, reset_clients
from tests.harness.moto_memory import untrack_dynamodb_models

__all__ = ["Api", "Merchant", "make_merchant"]

TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "TABLE_NAME": "store-credit-test",
    "EVENT_BUS_NAME": "store-credit-test",
    "POWERTOOLS_SERVICE_NAME": "store-credit",
    "POWERTOOLS_METRICS_NAMESPACE": "StoreCredit",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "SENDER_EMAIL": "credit@shop.example",
}


def pytest_configure(config: pytest.Config) -> None:
    # Never reach a real AWS account: fake credentials, and no endpoint left over from a shell.
    os.environ.update(TEST_ENV)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    untrack_dynamodb_models()
    # moto deep-copies a whole table per transaction: millions of short-lived objects, which
    # Python's default threshold (700) has the cycle collector walk again and again. Measured on
    # 30 order stories: 58 s at the default, 46 s at 20,000 (peak memory 184 -> 311 MB).
    gc.set_threshold(20_000, 20, 20)


@pytest.fixture
def aws() -> Iterator[None]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        reset_clients()
        create_stack_resources(lambda service: boto3.client(service, region_name="us-east-1"))
        yield
    reset_clients()


@pytest.fixture
def merchant(aws: None) -> Merchant:
    return make_merchant("acme")


@pytest.fixture
def gateway() -> Any:
    from tests.harness.gateway import Gateway

    return Gateway()


@pytest.fixture
def api(gateway: Any, merchant: Merchant) -> Api:
    return Api(gateway, merchant.api_key)
