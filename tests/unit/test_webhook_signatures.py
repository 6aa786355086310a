"""The order webhook's signature rules (the handler arrives with the webhook release)."""

from __future__ import annotations

import pytest

from store_credit.webhook_signatures import BadSignature, accepted_secrets, sign, verify

NOW = 1_800_000_000
BODY = b'{"id":"evt_1","type":"order.paid"}'


def test_a_fresh_signature_from_the_secret_is_accepted() -> None:
    assert verify(sign("whsec_a", NOW, BODY), BODY, ["whsec_a"], NOW + 10) == NOW


@pytest.mark.parametrize(
    ("header", "body", "now"),
    [
        (None, BODY, NOW),  # missing
        ("", BODY, NOW),
        ("v1=abc", BODY, NOW),  # no timestamp
        ("t=soon,v1=abc", BODY, NOW),
        (sign("whsec_a", NOW, BODY), BODY + b" ", NOW),  # tampered body
        (sign("whsec_other", NOW, BODY), BODY, NOW),  # wrong secret
        (sign("whsec_a", NOW, BODY), BODY, NOW + 301),  # older than 5 minutes
        (sign("whsec_a", NOW + 400, BODY), BODY, NOW),  # from the future
    ],
)
def test_bad_signatures_are_refused(header: str | None, body: bytes, now: int) -> None:
    with pytest.raises(BadSignature):
        verify(header, body, ["whsec_a"], now)


def test_a_rotated_secret_is_accepted_for_a_day() -> None:
    secrets = accepted_secrets("whsec_new", "whsec_old", rotated_at=NOW, now=NOW + 3600)
    assert verify(sign("whsec_old", NOW + 3600, BODY), BODY, secrets, NOW + 3600)
    assert accepted_secrets("whsec_new", "whsec_old", rotated_at=NOW, now=NOW + 2 * 86_400) == ["whsec_new"]


def test_any_of_several_v1_values_may_match() -> None:
    good = sign("whsec_a", NOW, BODY)
    header = f"t={NOW},v1={'0' * 64},{good.split(',')[1]}"
    assert verify(header, BODY, ["whsec_a"], NOW) == NOW
