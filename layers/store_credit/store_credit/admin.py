"""Operator commands for a deployed stack (no HTTP route creates merchants or keys):

    TABLE_NAME=store-credit-prod PYTHONPATH=layers/store_credit \\
        python -m store_credit.admin create-merchant shop-42
    … add-key shop-42 --scopes checkout credits:read      # another key, e.g. for a checkout system
    … revoke-key sk_live_…                                # takes effect within the 300 s auth cache

Uses the caller's AWS credentials; keys are printed once and stored only as SHA-256 digests.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from store_credit import wallet_store
from store_credit.auth import SCOPES, hash_api_key, new_api_key
from store_credit.errors import DomainError
from store_credit.settings_service import create_merchant


def add_key(merchant_id: str, scopes: Sequence[str]) -> dict[str, object]:
    if wallet_store.load_settings(merchant_id) is None:
        raise DomainError(detail=f"no merchant {merchant_id!r}")
    api_key = new_api_key()
    key_hash = hash_api_key(api_key)
    wallet_store.put_api_key(
        key_hash, merchant_id=merchant_id, scopes=list(scopes), key_id=key_hash[:12], now=int(time.time())
    )
    return {"merchant_id": merchant_id, "api_key": api_key, "key_id": key_hash[:12], "scopes": list(scopes)}


def revoke_key(api_key: str) -> dict[str, object]:
    key_hash = hash_api_key(api_key)
    if wallet_store.find_api_key(key_hash) is None:
        raise DomainError(detail="no such API key")
    wallet_store.revoke_api_key(key_hash)
    return {"key_id": key_hash[:12], "revoked": True}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m store_credit.admin", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser(
        "create-merchant", help="a merchant with default settings, an all-scopes key and a webhook secret"
    )
    create.add_argument("merchant_id")
    add = commands.add_parser("add-key", help="another API key for a merchant")
    add.add_argument("merchant_id")
    add.add_argument("--scopes", nargs="+", choices=SCOPES, default=list(SCOPES))
    revoke = commands.add_parser("revoke-key", help="revoke an API key")
    revoke.add_argument("api_key")
    args = parser.parse_args(argv)
    try:
        if args.command == "create-merchant":
            result = create_merchant(args.merchant_id)
        elif args.command == "add-key":
            result = add_key(args.merchant_id, args.scopes)
        else:
            result = revoke_key(args.api_key)
    except DomainError as error:
        print(f"error: {error.detail}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
