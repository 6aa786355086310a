"""The committed OpenAPI document is the one the code generates (regenerate: make openapi)."""

from __future__ import annotations

from tests.harness.openapi import OUTPUT, build_openapi, render


def test_committed_openapi_matches_the_code() -> None:
    assert OUTPUT.read_text() == render(), "shared/openapi.json is stale: run `make openapi` and commit it"


def test_every_operation_documents_problem_responses() -> None:
    for path, item in build_openapi()["paths"].items():
        for method, operation in item.items():
            assert "422" in operation["responses"], (method, path)
            schema = operation["responses"]["409"]["content"]["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}
