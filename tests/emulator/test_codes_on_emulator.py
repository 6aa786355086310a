"""Store-credit codes on an emulator that honours TransactWriteItems' ClientRequestToken, as
DynamoDB does (moto ignores it)."""

from __future__ import annotations

import pytest

from tests.harness.api_client import Api, make_merchant
from tests.harness.gateway import Gateway

pytestmark = pytest.mark.emulator


def test_creating_codes_again_with_the_same_key_answers_the_first_codes(emulator: str) -> None:
    api = Api(Gateway(), make_merchant("codes").api_key)
    body = {"amount": {"amount": "25.00", "currency": "USD"}, "count": 3}
    # Given three codes made with one Idempotency-Key
    first = api.post("/v1/codes", body, key="batch-1")
    assert first.status == 201, first.body
    # When the client sends the same request again (its answer was lost), within DynamoDB's
    # ten minutes of remembering the transaction's token
    again = api.post("/v1/codes", body, key="batch-1")
    # Then it gets the same codes, not a 503 (nor new codes)
    assert again.status == 201, again.body
    assert again.json() == first.json()
    assert api.post("/v1/codes", {**body, "count": 4}, key="batch-1").status == 409
