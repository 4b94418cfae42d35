"""Pricing of a month: splitting at month boundaries and plan changes, rounding, commitments."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from functions.billing.periods import Month
from functions.billing.pricing import round_money
from functions.billing.records import BillingError, CommitmentKind, MoneyRounding
from functions.billing.reports import build_report, close_period
from tests.billing.conftest import Billing

NOVEMBER = Month(2026, 11)
DECEMBER = Month(2026, 12)
NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)


def lines_of(report: dict[str, Any], license_id: str) -> list[dict[str, Any]]:
    return [line for line in report["lines"] if line["license_id"] == license_id]


def test_lease_split_at_month_boundary(billing: Billing) -> None:
    billing.plan(NOV_1, "1.20")
    created = billing.license()
    billing.move_to(datetime(2026, 11, 30, 23, 30, tzinfo=UTC))
    lease_id = billing.hold(created, "hw-1", 3600)
    billing.service.release(lease_id, created.key, "hw-1")

    november = build_report(billing.store, NOVEMBER, billing.clock.now())
    december = build_report(billing.store, DECEMBER, billing.clock.now())

    [nov_line] = lines_of(november, created.license.id)
    [dec_line] = lines_of(december, created.license.id)
    assert Decimal(nov_line["seat_seconds"]) == 1800
    assert Decimal(dec_line["seat_seconds"]) == 1800
    assert nov_line["amount"] == "0.60"
    assert dec_line["amount"] == "0.60"
    assert nov_line["period_end"] == dec_line["period_start"] == "2026-12-01T00:00:00.000000+00:00"
    # The lease was acquired in November, so only November counts the acquisition.
    assert november["licenses"][0]["acquisitions"] == 1
    assert december["licenses"][0]["acquisitions"] == 0


def test_plan_change_inside_month(billing: Billing) -> None:
    billing.plan(NOV_1, "1.00")
    billing.plan(datetime(2026, 11, 15, tzinfo=UTC), "2.00")
    created = billing.license()
    billing.move_to(datetime(2026, 11, 14, 23, tzinfo=UTC))
    lease_id = billing.hold(created, "hw-1", 7200)
    billing.service.release(lease_id, created.key, "hw-1")

    lines = lines_of(build_report(billing.store, NOVEMBER, billing.clock.now()), created.license.id)

    assert [line["unit_price"] for line in lines] == ["1.00", "2.00"]
    assert [line["quantity_seat_hours"] for line in lines] == ["1.000000", "1.000000"]
    assert [line["amount"] for line in lines] == ["1.00", "2.00"]
    assert lines[0]["period_end"] == lines[1]["period_start"] == "2026-11-15T00:00:00.000000+00:00"


def test_license_plan_overrides_product_plan(billing: Billing) -> None:
    billing.plan(NOV_1, "1.00")
    special = billing.license(customer="special")
    regular = billing.license(customer="regular")
    billing.plan(NOV_1, "0.50", license_id=special.license.id)
    for created in (special, regular):
        lease_id = billing.hold(created, "hw-1", 3600)
        billing.service.release(lease_id, created.key, "hw-1")

    report = build_report(billing.store, NOVEMBER, billing.clock.now())

    assert [line["amount"] for line in lines_of(report, special.license.id)] == ["0.50"]
    assert [line["amount"] for line in lines_of(report, regular.license.id)] == ["1.00"]


@pytest.mark.parametrize(
    ("amount", "currency", "rounding", "expected"),
    [
        ("0.125", "EUR", MoneyRounding.HALF_UP, "0.13"),
        ("0.125", "EUR", MoneyRounding.HALF_EVEN, "0.12"),
        ("0.121", "EUR", MoneyRounding.UP, "0.13"),
        ("0.129", "EUR", MoneyRounding.DOWN, "0.12"),
        ("100.5", "JPY", MoneyRounding.HALF_UP, "101"),
        ("1.2345", "KWD", MoneyRounding.HALF_EVEN, "1.234"),
    ],
)
def test_money_rounding(amount: str, currency: str, rounding: MoneyRounding, expected: str) -> None:
    assert str(round_money(Decimal(amount), currency, rounding)) == expected


def test_rounding_mode_applied_per_line(billing: Billing) -> None:
    half_up = billing.license(customer="up")
    half_even = billing.license(customer="even")
    billing.plan(NOV_1, "0.125", license_id=half_up.license.id, rounding=MoneyRounding.HALF_UP)
    billing.plan(NOV_1, "0.125", license_id=half_even.license.id, rounding=MoneyRounding.HALF_EVEN)
    for created in (half_up, half_even):
        lease_id = billing.hold(created, "hw-1", 3600)
        billing.service.release(lease_id, created.key, "hw-1")

    report = build_report(billing.store, NOVEMBER, billing.clock.now())

    assert [line["amount"] for line in lines_of(report, half_up.license.id)] == ["0.13"]
    assert [line["amount"] for line in lines_of(report, half_even.license.id)] == ["0.12"]


def test_granularity_rounds_seat_time_up(billing: Billing) -> None:
    billing.plan(NOV_1, "2.00", granularity_seconds=900)
    created = billing.license()
    lease_id = billing.hold(created, "hw-1", 61)
    billing.service.release(lease_id, created.key, "hw-1")

    [line] = lines_of(
        build_report(billing.store, NOVEMBER, billing.clock.now()), created.license.id
    )

    assert Decimal(line["seat_seconds"]) == 61
    assert line["quantity_seat_hours"] == "0.250000"
    assert line["amount"] == "0.50"


def test_seat_hour_commitment_and_overage(billing: Billing) -> None:
    created = billing.license()
    billing.plan(
        NOV_1,
        "1.00",
        license_id=created.license.id,
        commitment=CommitmentKind.SEAT_HOURS,
        included="1",
        overage="2.00",
    )
    lease_id = billing.hold(created, "hw-1", 5400)
    billing.service.release(lease_id, created.key, "hw-1")

    commitment, overage = lines_of(
        build_report(billing.store, NOVEMBER, billing.clock.now()), created.license.id
    )

    assert (commitment["kind"], commitment["quantity_seat_hours"], commitment["amount"]) == (
        "commitment",
        "1.000000",
        "1.00",
    )
    assert (overage["kind"], overage["quantity_seat_hours"], overage["amount"]) == (
        "overage",
        "0.500000",
        "1.00",
    )
    assert Decimal(commitment["seat_seconds"]) + Decimal(overage["seat_seconds"]) == 5400


def test_seat_commitment_charges_concurrency_above(billing: Billing) -> None:
    created = billing.license(seats=2)
    billing.plan(
        NOV_1,
        "0.01",
        license_id=created.license.id,
        commitment=CommitmentKind.SEATS,
        included="1",
        overage="1.00",
    )
    billing.move_to(datetime(2026, 11, 2, tzinfo=UTC))
    first = billing.service.acquire(created.key, "hw-1", "one@example.com").lease.id
    second = billing.service.acquire(created.key, "hw-2", "two@example.com").lease.id
    for _ in range(30):
        billing.clock.advance(60)
        billing.service.heartbeat(first, created.key, "hw-1")
        billing.service.heartbeat(second, created.key, "hw-2")
    billing.service.release(second, created.key, "hw-2")
    billing.service.release(first, created.key, "hw-1")

    commitment, overage = lines_of(
        build_report(billing.store, NOVEMBER, billing.clock.now()), created.license.id
    )

    # One committed seat for the 720 hours of November.
    assert commitment["quantity_seat_hours"] == "720.000000"
    assert commitment["amount"] == "7.20"
    assert Decimal(commitment["seat_seconds"]) == 1800
    assert Decimal(overage["seat_seconds"]) == 1800
    assert overage["amount"] == "0.50"


def test_commitment_prorated_from_license_creation(billing: Billing) -> None:
    billing.move_to(datetime(2026, 11, 16, tzinfo=UTC))
    created = billing.license()
    billing.plan(
        NOV_1,
        "1.00",
        license_id=created.license.id,
        commitment=CommitmentKind.SEAT_HOURS,
        included="30",
    )

    [line] = lines_of(
        build_report(billing.store, NOVEMBER, billing.clock.now()), created.license.id
    )

    # The license exists for 15 of November's 30 days.
    assert line["quantity_seat_hours"] == "15.000000"
    assert line["amount"] == "15.00"


def test_commitment_charged_without_usage(billing: Billing) -> None:
    created = billing.license()
    billing.plan(
        NOV_1,
        "1.00",
        license_id=created.license.id,
        commitment=CommitmentKind.SEAT_HOURS,
        included="30",
    )

    [line] = lines_of(
        build_report(billing.store, NOVEMBER, billing.clock.now()), created.license.id
    )

    assert line["kind"] == "commitment"
    assert line["amount"] == "30.00"


def test_unpriced_usage_reported_at_zero(billing: Billing) -> None:
    created = billing.license()
    lease_id = billing.hold(created, "hw-1", 600)
    billing.service.release(lease_id, created.key, "hw-1")

    [line] = lines_of(
        build_report(billing.store, NOVEMBER, billing.clock.now()), created.license.id
    )

    assert line["currency"] == "XXX"
    assert line["amount"] == "0"
    assert Decimal(line["seat_seconds"]) == 600


def test_plan_inside_closed_period_rejected(billing: Billing) -> None:
    billing.plan(NOV_1, "1.00")
    billing.move_to(datetime(2026, 12, 2, tzinfo=UTC))
    close_period(billing.store, NOVEMBER, billing.clock.now())

    with pytest.raises(BillingError, match="inside a closed period"):
        billing.plan(datetime(2026, 11, 20, tzinfo=UTC), "5.00")
    accepted = billing.plan(datetime(2026, 12, 1, tzinfo=UTC), "5.00")
    assert accepted.price_per_seat_hour == Decimal("5.00")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"currency": "euro"}, "--currency 'euro' is not an ISO 4217"),
        ({"currency": "EURO"}, "--currency 'EURO' is not an ISO 4217"),
        ({"currency": "XYZ"}, "--currency 'XYZ' is not an ISO 4217"),
        ({"currency": "XXX"}, "--currency 'XXX' is not an ISO 4217"),
        ({"currency": "eur"}, "must be upper case: use EUR"),
        ({"price": "-1"}, "--price-per-seat-hour must be a decimal number from 0"),
        ({"overage": "-1"}, "--overage-price-per-seat-hour must be a decimal number from 0"),
        ({"included": "5"}, "--included 5 needs --commitment"),
        ({"commitment": CommitmentKind.SEATS, "included": "1.5"}, "whole number of seats"),
        ({"commitment": CommitmentKind.SEAT_HOURS}, "needs --included greater than 0"),
        ({"granularity_seconds": 0}, "--granularity-seconds must be"),
    ],
)
def test_invalid_plan_rejected(billing: Billing, changes: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"price": "1.00", **changes}
    price = arguments.pop("price")
    with pytest.raises(BillingError, match=message):
        billing.plan(NOV_1, price, **arguments)
