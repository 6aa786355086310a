"""template.yaml is the deployed truth: it lints, it translates, and code and template agree."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.harness import template
from tests.harness.gateway import load_handler_module

ROOT = template.ROOT


def test_cfn_lint_with_serverless_rules_is_clean() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), "--append-rules", "cfn_lint_serverless.rules", "--", str(template.TEMPLATE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def packaged(raw: dict[str, Any]) -> dict[str, Any]:
    """What `sam package` hands CloudFormation: code locations become S3 URIs."""
    doc = copy.deepcopy(raw)
    for resource in doc["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://artifacts/{props[key].strip('/')}.zip"
    return doc


@pytest.fixture(scope="module")
def cloudformation() -> dict[str, Any]:
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    return transform(packaged(template.load_template()), {}, NoManagedPolicies())


def of_type(doc: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in doc["Resources"].items() if r["Type"] == kind}


def test_sam_translator_accepts_the_template(cloudformation: dict[str, Any]) -> None:
    routes = of_type(cloudformation, "AWS::ApiGatewayV2::Api")
    assert len(routes) == 1
    functions = of_type(cloudformation, "AWS::Lambda::Function")
    assert len(functions) == len(template.resources("AWS::Serverless::Function"))
    for name, function in functions.items():
        props = function["Properties"]
        assert props["Architectures"] == ["arm64"], name
        major, minor = props["Runtime"].removeprefix("python").split(".")
        assert (int(major), int(minor)) >= (3, 12), name
        assert props["Layers"], name


def test_every_function_has_a_log_group_with_retention() -> None:
    groups = {
        json.dumps(r["Properties"]["LogGroupName"]): r["Properties"]
        for r in template.resources("AWS::Logs::LogGroup").values()
        if "LogGroupName" in r["Properties"]
    }
    for name in template.resources("AWS::Serverless::Function"):
        key = json.dumps({"Fn::Sub": f"/aws/lambda/${{{name}}}"})
        assert key in groups, name
        assert "RetentionInDays" in groups[key]


def test_the_table_keeps_money_safe() -> None:
    table = template.resources("AWS::DynamoDB::Table")["CreditTable"]
    props = table["Properties"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert props["DeletionProtectionEnabled"] is True
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"]["Enabled"] is True


def test_the_layer_is_built_by_its_makefile_for_arm64_and_the_runtime_python() -> None:
    layer = template.resources("AWS::Serverless::LayerVersion")["DomainLayer"]
    content = ROOT / layer["Properties"]["ContentUri"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    assert "build-DomainLayer:" in (content / "Makefile").read_text()
    # .pyc are specific to one Python: the layer may only serve the runtime it was compiled for
    assert layer["Properties"]["CompatibleRuntimes"] == [template.load_template()["Globals"]["Function"]["Runtime"]]
    assert (content / "requirements.txt").exists()
    assert (content / "store_credit" / "__init__.py").exists()


def python_312() -> str | None:
    import shutil

    found = shutil.which("python3.12")
    pyenv = Path.home() / ".pyenv" / "versions"
    candidates = [Path(found)] if found else []
    candidates += sorted(pyenv.glob("3.12.*/bin/python")) if pyenv.exists() else []
    for candidate in candidates:
        if subprocess.run([str(candidate), "--version"], capture_output=True, check=False).returncode == 0:
            return str(candidate)
    return None


@pytest.mark.skipif(python_312() is None, reason="needs a Python 3.12 to compile for the runtime")
def test_the_layer_build_ships_bytecode_the_runtime_uses_without_recompiling(tmp_path: Path) -> None:
    # Given the layer built as `sam build` would (x86 wheels here, so this machine can import it)
    python = python_312()
    assert python
    built = subprocess.run(
        [
            "make",
            "-s",
            "build-DomainLayer",
            f"ARTIFACTS_DIR={tmp_path}",
            f"PYTHON={python}",
            "PLATFORM=manylinux2014_x86_64",
        ],
        cwd=ROOT / "layers" / "store_credit",
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    site = tmp_path / "python"
    # Then every module of the domain package has unchecked-hash bytecode for 3.12 …
    sources = sorted(p.stem for p in (site / "store_credit").glob("*.py"))
    cached = sorted(p.name.split(".")[0] for p in (site / "store_credit" / "__pycache__").glob("*.cpython-312.pyc"))
    assert sources == cached
    flags = {int.from_bytes(p.read_bytes()[4:8], "little") for p in (site / "store_credit" / "__pycache__").iterdir()}
    assert flags == {0b01}  # hash-based, not checked against the source (PEP 552)
    # … which Python runs without reading the source again: a source changed after the build
    # (as a zip's file times would look) is not recompiled
    with (site / "store_credit" / "models.py").open("a") as source:
        source.write("\nraise RuntimeError('compiled from source at import')\n")
    probe = "import store_credit.wallet_service, store_credit.models"
    run = subprocess.run(
        [python, "-B", "-c", probe], env={"PYTHONPATH": str(site)}, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr


def resolver_routes(code_dir: Path) -> set[tuple[str, str]] | None:
    app = getattr(load_handler_module(code_dir, instance=99), "app", None)
    if app is None:
        return None
    # Every route the resolver serves, documented or not (Powertools keeps them in two lists).
    return {(route.method, route.openapi_path) for route in app._static_routes + app._dynamic_routes}


def test_code_and_template_route_the_same_paths() -> None:
    by_function: dict[Path, set[tuple[str, str]]] = {}
    for route in template.http_routes():
        by_function.setdefault(route.code_dir, set()).add((route.method, route.path))
    built = 0
    for code_dir, declared in by_function.items():
        served = resolver_routes(code_dir)
        if served is None:
            continue  # a function whose release answers 501 on all its routes
        built += 1
        assert served == declared, code_dir.name
    assert built >= 2


def test_every_function_in_the_template_has_its_handler() -> None:
    for name, function in template.resources("AWS::Serverless::Function").items():
        props = function["Properties"]
        module, handler = props["Handler"].split(".")
        assert (ROOT / props["CodeUri"] / f"{module}.py").exists(), name
        assert callable(getattr(load_handler_module(ROOT / props["CodeUri"], instance=98), handler)), name


def test_local_only_routes_never_reach_the_template() -> None:
    assert not [r for r in template.http_routes() if r.path.startswith("/local")]


def function_of(arn: Any) -> str | None:
    """The logical id of the function an ARN expression names (``!GetAtt F.Arn``, ``!Ref F``, ``${F.Arn}``)."""
    text = json.dumps(arn)
    for name in template.resources("AWS::Serverless::Function"):
        if f'["{name}", "Arn"]' in text or f'"Ref": "{name}"' in text or f"${{{name}.Arn}}" in text:
            return name
    return None


def test_api_gateway_may_invoke_the_authorizer(cloudformation: dict[str, Any]) -> None:
    # An HTTP API Lambda authorizer needs a resource policy (or an invoke role) like any
    # integration: without one every authorized route answers 500 in AWS, never in an emulator.
    # SAM adds it for HTTP APIs only when asked (EnableFunctionDefaultPermissions).
    allowed = {
        function_of(r["Properties"]["FunctionName"])
        for r in of_type(cloudformation, "AWS::Lambda::Permission").values()
        if r["Properties"]["Principal"] == "apigateway.amazonaws.com"
        and "/authorizers/" in json.dumps(r["Properties"].get("SourceArn"))
    }
    for api in of_type(cloudformation, "AWS::ApiGatewayV2::Api").values():
        schemes = api["Properties"]["Body"]["components"]["securitySchemes"]
        for scheme_name, scheme in schemes.items():
            authorizer = scheme["x-amazon-apigateway-authorizer"]
            if "authorizerCredentials" in authorizer:
                continue
            function = function_of(authorizer["authorizerUri"])
            assert function is not None, scheme_name
            assert function in allowed, scheme_name


def test_two_stages_can_live_in_one_account(cloudformation: dict[str, Any]) -> None:
    # Names are account-wide (a schedule's within its group): one that does not carry the stage
    # (or a name CloudFormation generates) makes the second stage's deploy fail on "already exists".
    # SAM names each ScheduleV2 after its logical id unless the template gives a Name.
    naming = {
        "AWS::Scheduler::Schedule": "Name",
        "AWS::Events::EventBus": "Name",
        "AWS::SQS::Queue": "QueueName",
        "AWS::DynamoDB::Table": "TableName",
        "AWS::Lambda::Function": "FunctionName",
        "AWS::IAM::Role": "RoleName",
    }
    for name, resource in cloudformation["Resources"].items():
        key = naming.get(resource["Type"])
        if key is None or key not in resource["Properties"]:
            continue  # CloudFormation makes a unique name from the stack's
        given = json.dumps(resource["Properties"][key])
        assert "${Stage}" in given or "AWS::StackName" in given, f"{name}: {given}"


def test_every_dead_letter_queue_has_an_alarm(cloudformation: dict[str, Any]) -> None:
    # Given every queue in the deployed stack that no function reads (a queue of work given up:
    # dead letters of the imports, the stream, the notifier, the schedules)
    consumed = {
        mapping["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
        for mapping in of_type(cloudformation, "AWS::Lambda::EventSourceMapping").values()
        if "Fn::GetAtt" in mapping["Properties"]["EventSourceArn"]
    }
    dead_letters = set(of_type(cloudformation, "AWS::SQS::Queue")) - consumed

    # Then each has an alarm on messages waiting in it that tells the alarm topic
    watched = {
        dimension["Value"]["Fn::GetAtt"][0]
        for alarm in of_type(cloudformation, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        for dimension in alarm["Properties"]["Dimensions"]
    }
    assert dead_letters and dead_letters <= watched, dead_letters - watched


def test_the_stream_consumer_has_time_for_a_whole_batch() -> None:
    # Given the ledger stream consumer, which per record writes the liability counters and
    # publishes one event (two or three calls, each retried by botocore when throttled)
    function = template.resources("AWS::Serverless::Function")["LedgerEventsFunction"]["Properties"]
    batch = function["Events"]["LedgerStream"]["Properties"]["BatchSize"]
    # Then it does not inherit the global 10 s: a timed-out batch is retried whole and publishes
    # its events again, so it gets at least 0.5 s a record, and stays well under a minute and a half
    # so that a stuck batch is retried (and bisected) soon
    assert "Timeout" in function
    assert batch * 0.5 <= function["Timeout"] <= 90


def test_no_function_may_read_an_index_it_does_not_query() -> None:
    # Given each function's DynamoDB grants, and the indexes its code queries by name
    functions = template.resources("AWS::Serverless::Function")
    queried = {
        "ExpiryFunction": {"DueIndex"},
        "RenewalFunction": {"DueIndex"},
        "ImportConsumerFunction": {"ByEmail", "ByPhone"},
    }
    for name, function in functions.items():
        granted = set()
        for policy in function["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                granted |= {str(r.get("Fn::Sub", "")).rsplit("/index/", 1)[1] for r in resources if "/index/" in str(r)}
        # Then it is granted exactly those indexes, by name (never index/*)
        assert granted == queried.get(name, set()), name
