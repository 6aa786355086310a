"""Rules of this service that a reviewer would otherwise have to remember."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.harness.template import ROOT

DOMAIN = ROOT / "layers" / "store_credit" / "store_credit"
# The only modules that talk to AWS.
AWS_MODULES = {"aws.py", "wallet_store.py", "event_bus.py", "mailer.py", "import_queue.py"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_store_modules_import_boto3() -> None:
    offenders = [
        p.name for p in DOMAIN.glob("*.py") if p.name not in AWS_MODULES and {"boto3", "botocore"} & imported_modules(p)
    ]
    assert offenders == []
    handlers = [p for p in (ROOT / "functions").glob("*/app.py") if {"boto3", "botocore"} & imported_modules(p)]
    assert handlers == []


def test_no_scan_anywhere_in_the_service() -> None:
    for path in [*DOMAIN.glob("*.py"), *(ROOT / "functions").glob("*/app.py")]:
        source = path.read_text()
        assert ".scan(" not in source and '"Scan"' not in source, path


def test_no_floats_near_money() -> None:
    for name in (
        "money.py",
        "wallet.py",
        "lots.py",
        "wallet_service.py",
        "wallet_store.py",
        "views.py",
        "checkout_math.py",
        "checkout_service.py",
        "import_rows.py",
        "imports_service.py",
    ):
        tree = ast.parse((DOMAIN / name).read_text())
        floats = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, float)]
        calls = [
            n.lineno
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "float"
        ]
        assert floats == calls == [], name


def test_handlers_stay_thin() -> None:
    for path in (ROOT / "functions").glob("*/app.py"):
        code_lines = [
            line for line in path.read_text().splitlines() if line.strip() and not line.strip().startswith("#")
        ]
        assert len(code_lines) <= 70, f"{path.parent.name}: {len(code_lines)} lines; move logic into the layer"


def _decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    return ast.unparse(target)


def test_every_api_route_declares_its_scope_below_the_route() -> None:
    # Given every route of the HTTP handlers (the order webhook has no API key: its signature is
    # checked in the function)
    for path in (ROOT / "functions").glob("*/app.py"):
        if path.parent.name == "order_webhook":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            names = [_decorator_name(d) for d in node.decorator_list]
            if not any(name.startswith("app.") for name in names):
                continue
            # Then @requires comes right after the route decorator, so that the scope is checked
            # before Powertools validates the request (http_problems.requires)
            assert names[-1] == "requires", f"{path.parent.name}.{node.name}: {names}"


def test_only_a_capture_lets_a_hold_go_without_taking_back_what_it_owes() -> None:
    # Credit a cancelled order is owed must go back the moment a hold frees it (``free_holds``);
    # only a capture, which spends the held credit in the same change, may release a hold bare.
    callers = set()
    for path in DOMAIN.glob("*.py"):
        if path.name == "wallet.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                calls = {c.func.id for c in ast.walk(node) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
                if "release_hold" in calls:
                    callers.add(f"{path.name}:{node.name}")
    assert callers == {"order_service.py:_capture"}
