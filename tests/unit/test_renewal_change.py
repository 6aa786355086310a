"""Changing a plan's period: when it is next due."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from store_credit.renewal import RenewalPlan, due_after_change

TZ = "Asia/Taipei"


def local(year: int, month: int, day: int = 1, minute: int = 0) -> int:
    return int(datetime(year, month, day, 0, minute, tzinfo=ZoneInfo(TZ)).timestamp())


MONTHLY = RenewalPlan("m", "ann", "USD", 1000, "monthly", "grant", "Renewal", None, "2031-02", local(2031, 3), 7)


@pytest.mark.parametrize("month", range(2, 13))
def test_a_monthly_plan_due_and_made_annual_is_next_due_on_1_january(month: int) -> None:
    # Given a monthly plan due on the 1st of a month other than January (the job not round yet)
    due = replace(MONTHLY, due_at=local(2031, month))

    # When the merchant makes it annual ten minutes later
    # Then it is next due on 1 January, whichever half of the year the month is in
    assert due_after_change(due, "annually", local(2031, month, minute=10), TZ) == local(2032, 1)


def test_a_monthly_plan_due_on_1_january_and_made_annual_renews_at_once() -> None:
    due = replace(MONTHLY, due_at=local(2032, 1))
    assert due_after_change(due, "annually", local(2032, 1, minute=10), TZ) == local(2032, 1)


def test_an_annual_plan_due_and_made_monthly_renews_at_once() -> None:
    due = replace(MONTHLY, period="annually", due_at=local(2032, 1))
    assert due_after_change(due, "monthly", local(2032, 1, minute=10), TZ) == local(2032, 1)


def test_an_annual_plan_not_due_and_made_monthly_is_next_due_on_the_next_1st() -> None:
    waiting = replace(MONTHLY, period="annually", due_at=local(2032, 1))
    assert due_after_change(waiting, "monthly", local(2031, 3, day=15), TZ) == local(2031, 4)


def test_a_plan_due_and_changed_in_amount_only_keeps_its_due_time() -> None:
    assert due_after_change(MONTHLY, "monthly", local(2031, 3, minute=10), TZ) == local(2031, 3)
