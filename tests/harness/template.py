"""Read template.yaml so tests and the local stack use the deployed definitions, not copies:
the table's keys and indexes, and every HTTP route with the function that serves it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation short-form intrinsics (!Ref, !GetAtt, !Sub …)."""


def _intrinsic(loader: yaml.Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@lru_cache(maxsize=1)
def load_template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)


def resources(kind: str | None = None) -> dict[str, dict[str, Any]]:
    found = load_template()["Resources"]
    return {name: r for name, r in found.items() if kind is None or r["Type"] == kind}


def table_definition(table_name: str) -> dict[str, Any]:
    """``create_table`` arguments from the template's CreditTable (keys, attributes, indexes)."""
    props = resources("AWS::DynamoDB::Table")["CreditTable"]["Properties"]
    definition: dict[str, Any] = {
        "TableName": table_name,
        "BillingMode": props["BillingMode"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"],
    }
    if "StreamSpecification" in props:
        definition["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    return definition


def ttl_attribute() -> str:
    props = resources("AWS::DynamoDB::Table")["CreditTable"]["Properties"]
    return props["TimeToLiveSpecification"]["AttributeName"]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as in the template: /v1/customers/{customer_id}/wallet
    function: str  # logical id
    code_dir: Path
    authorized: bool

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        pattern = "^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$"
        found = re.match(pattern, path)
        return found.groupdict() if found else None


def _function_dir(props: dict[str, Any]) -> Path:
    return ROOT / props["CodeUri"]


def http_routes() -> list[Route]:
    routes = []
    for name, function in resources("AWS::Serverless::Function").items():
        props = function["Properties"]
        for event in (props.get("Events") or {}).values():
            if event["Type"] != "HttpApi":
                continue
            auth = event["Properties"].get("Auth", {})
            routes.append(
                Route(
                    method=event["Properties"]["Method"].upper(),
                    path=event["Properties"]["Path"],
                    function=name,
                    code_dir=_function_dir(props),
                    authorized=auth.get("Authorizer") != "NONE",
                )
            )
    return routes


def function_dir(logical_id: str) -> Path:
    return _function_dir(resources("AWS::Serverless::Function")[logical_id]["Properties"])


def functions_with_event(event_type: str) -> dict[str, Path]:
    found = {}
    for name, function in resources("AWS::Serverless::Function").items():
        events = function["Properties"].get("Events") or {}
        if any(e["Type"] == event_type for e in events.values()):
            found[name] = _function_dir(function["Properties"])
    return found


def _default_authorizer() -> dict[str, Any]:
    api = resources("AWS::Serverless::HttpApi")["HttpApi"]["Properties"]["Auth"]
    return api["Authorizers"][api["DefaultAuthorizer"]]


def authorizer_function() -> str:
    return _default_authorizer()["FunctionArn"]["Fn::GetAtt"][0]


def authorizer_cache_seconds() -> int:
    """How long API Gateway keeps the authorizer's answer for one Authorization header."""
    return int(_default_authorizer().get("Identity", {}).get("ReauthorizeEvery", 0))
