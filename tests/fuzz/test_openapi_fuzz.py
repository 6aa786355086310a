"""schemathesis against the committed OpenAPI document, through the template's routes: no 5xx,
every error is problem+json (or the gateway's own 401/403), and no answer differs from the schema."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case

from tests.harness.api_client import create_stack_resources, make_merchant, reset_clients
from tests.harness.gateway import Gateway
from tests.harness.wsgi import gateway_app

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
API_KEY = "sk_test_fuzzing_key"


@pytest.fixture(scope="module")
def stack() -> Iterator[None]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        reset_clients()
        create_stack_resources(lambda service: boto3.client(service, region_name="us-east-1"))
        make_merchant("fuzz", api_key=API_KEY)
        yield
    reset_clients()


schema = schemathesis.openapi.from_wsgi("/openapi.json", gateway_app(Gateway()))


@pytest.mark.usefixtures("stack")
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_answers_match_the_contract(case: Case) -> None:
    response = case.call(headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    gateway_answer = response.text.startswith('{"message"')  # API Gateway's own 401/403/404 (no route)
    if response.status_code >= 400 and not gateway_answer:
        assert response.headers["content-type"][0].startswith("application/problem+json"), response.text
    # positive_data_acceptance: a valid request for an unknown customer is rightly 404;
    # ignored_auth: every case carries the fuzz merchant's real key (auth has its own tests);
    # unsupported_method: API Gateway HTTP APIs answer 404 (no route), not 405, as does ours.
    case.validate_response(
        response,
        excluded_checks=[
            schemathesis.checks.positive_data_acceptance,
            schemathesis.checks.ignored_auth,
            schemathesis.checks.unsupported_method,
        ],
    )
