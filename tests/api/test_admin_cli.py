"""The operator CLI: create a merchant, add a scoped key, revoke a key — then use them."""

from __future__ import annotations

import json

import pytest

from tests.harness.api_client import Api


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    from store_credit.admin import main

    code = main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out) if code == 0 else {}


def test_create_add_and_revoke_keys(aws: None, gateway: object, capsys: pytest.CaptureFixture[str]) -> None:
    code, merchant = run(capsys, "create-merchant", "shop-42")
    assert code == 0
    owner = Api(gateway, str(merchant["api_key"]))
    assert owner.issue("ann", "5.00").status == 201

    code, checkout_key = run(capsys, "add-key", "shop-42", "--scopes", "checkout", "credits:read")
    assert code == 0
    checkout_system = Api(gateway, str(checkout_key["api_key"]))
    assert checkout_system.wallet("ann").status == 200
    assert checkout_system.issue("ann", "5.00").status == 403

    assert run(capsys, "revoke-key", str(checkout_key["api_key"]))[0] == 0
    assert checkout_system.wallet("ann").status == 403
    assert run(capsys, "create-merchant", "shop-42")[0] == 1
    assert run(capsys, "add-key", "nobody")[0] == 1
