"""Closing a period: a frozen report, and late usage as adjustments in the next open month."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from functions.billing.periods import Month
from functions.billing.records import BillingError, PeriodAlreadyClosed
from functions.billing.render import render
from functions.billing.reports import build_report, close_period
from tests.billing.conftest import Billing

NOVEMBER = Month(2026, 11)
DECEMBER = Month(2026, 12)
JANUARY = Month(2027, 1)
FORMATS = ("csv", "json", "html")


def rendered(billing: Billing, month: Month) -> dict[str, str]:
    report = build_report(billing.store, month, billing.clock.now())
    return {output_format: render(report, output_format) for output_format in FORMATS}


def adjustments(billing: Billing, month: Month) -> list[dict[str, str]]:
    report = build_report(billing.store, month, billing.clock.now())
    return [line for line in report["lines"] if line["kind"] == "adjustment"]


def test_close_before_month_end_rejected(billing: Billing) -> None:
    billing.move_to(datetime(2026, 11, 30, 23, 59, tzinfo=UTC))
    with pytest.raises(BillingError, match="only after"):
        close_period(billing.store, NOVEMBER, billing.clock.now())


def test_close_twice_rejected(billing: Billing) -> None:
    billing.move_to(datetime(2026, 12, 1, tzinfo=UTC))
    close_period(billing.store, NOVEMBER, billing.clock.now())
    with pytest.raises(PeriodAlreadyClosed):
        close_period(billing.store, NOVEMBER, billing.clock.now())


def test_closed_period_frozen_and_late_usage_adjusted(billing: Billing) -> None:
    billing.plan(datetime(2026, 11, 1, tzinfo=UTC), "1.00")
    created = billing.license(seats=3)
    key = created.key
    early = billing.hold(created, "hw-early", 3600)
    billing.service.release(early, key, "hw-early")

    # A client that heartbeats across the month's end, and one that goes silent just before it.
    billing.move_to(datetime(2026, 11, 30, 23, 58, tzinfo=UTC))
    steady = billing.service.acquire(key, "hw-steady", "steady@example.com").lease.id
    billing.clock.advance(60)
    silent = billing.service.acquire(key, "hw-silent", "silent@example.com").lease.id
    for _ in range(2):
        billing.clock.advance(60)
        billing.service.heartbeat(steady, key, "hw-steady")
    billing.clock.advance(60)

    close_period(billing.store, NOVEMBER, billing.clock.now())
    frozen = rendered(billing, NOVEMBER)
    november = build_report(billing.store, NOVEMBER, billing.clock.now())
    # The steady lease counts up to the boundary, because it heartbeat after it.
    assert Decimal(november["licenses"][0]["seat_seconds"]) == 3600 + 120
    assert [line["amount"] for line in november["lines"]] == ["1.03"]

    # Later events: both leases close in December, the silent one billable until 00:00.
    billing.service.heartbeat(steady, key, "hw-steady")
    billing.clock.advance(30)
    billing.service.release(steady, key, "hw-steady")
    billing.admin.force_release(silent)
    extra = billing.hold(created, "hw-december", 600)
    billing.service.release(extra, key, "hw-december")

    assert rendered(billing, NOVEMBER) == frozen
    [adjustment] = adjustments(billing, DECEMBER)
    assert adjustment["adjusted_month"] == "2026-11"
    assert Decimal(adjustment["seat_seconds"]) == 60
    assert adjustment["amount"] == "0.02"

    # Closing December freezes the adjustment there, so January does not repeat it.
    billing.move_to(datetime(2027, 1, 2, tzinfo=UTC))
    close_period(billing.store, DECEMBER, billing.clock.now())
    december = build_report(billing.store, DECEMBER, billing.clock.now())
    assert [line["kind"] for line in december["lines"]].count("adjustment") == 1
    assert adjustments(billing, JANUARY) == []


def test_open_month_between_takes_adjustment(billing: Billing) -> None:
    billing.plan(datetime(2026, 11, 1, tzinfo=UTC), "3.60")
    created = billing.license()
    billing.move_to(datetime(2026, 11, 30, 23, 59, tzinfo=UTC))
    silent = billing.service.acquire(created.key, "hw-silent", "silent@example.com").lease.id
    billing.move_to(datetime(2026, 12, 1, 0, 5, tzinfo=UTC))
    close_period(billing.store, NOVEMBER, billing.clock.now())
    billing.admin.force_release(silent)
    billing.move_to(datetime(2027, 1, 2, tzinfo=UTC))

    # December is still open, so the November adjustment belongs to December, not January.
    [adjustment] = adjustments(billing, DECEMBER)
    assert adjustment["amount"] == "0.06"
    assert adjustments(billing, JANUARY) == []
