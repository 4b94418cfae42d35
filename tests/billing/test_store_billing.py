"""Price plans and closed periods as each store persists them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from functions.billing.records import (
    ClosedPeriod,
    CommitmentKind,
    DenialEvent,
    MoneyRounding,
    PeriodAlreadyClosed,
    PricePlan,
)
from functions.store import SeatStore
from functions.store.firestore import REPORT_PART_CHARACTERS
from tests.billing.conftest import STORE_KINDS, open_store

CREATED = datetime(2026, 11, 2, 8, 30, 0, 123456, tzinfo=UTC)


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SeatStore]:
    opened = open_store(request.param, tmp_path / "data", request)
    yield opened
    opened.close()


def plan(plan_id: str, effective_from: datetime, price: str) -> PricePlan:
    return PricePlan(
        id=plan_id,
        product_slug="cad",
        license_id=None,
        effective_from=effective_from,
        currency="EUR",
        price_per_seat_hour=Decimal(price),
        commitment=CommitmentKind.SEAT_HOURS,
        included_quantity=Decimal("12.50"),
        overage_price_per_seat_hour=Decimal("0.30000000000000001"),
        granularity_seconds=60,
        rounding=MoneyRounding.HALF_EVEN,
        created_at=CREATED,
    )


def test_price_plans_keep_exact_decimals(store: SeatStore) -> None:
    later = plan("plan_b", datetime(2026, 12, 1, tzinfo=UTC), "1.10")
    earlier = plan("plan_a", datetime(2026, 11, 1, tzinfo=UTC), "0.1")
    store.insert_price_plan(later)
    store.insert_price_plan(earlier)

    listed = store.list_price_plans()

    assert listed == [earlier, later]
    # Equal decimals can differ in their exponent; a float round trip loses the digits here.
    assert str(listed[1].price_per_seat_hour) == "1.10"
    assert str(listed[0].overage_price_per_seat_hour) == "0.30000000000000001"
    assert listed[0].created_at == CREATED


def test_closed_period_round_trip(store: SeatStore) -> None:
    # Longer than one Firestore part, with characters of two to four bytes in UTF-8.
    report_json = '{"customer": "' + "äß€😀" * (REPORT_PART_CHARACTERS // 2) + '"}'
    november = ClosedPeriod("2026-11", CREATED, report_json)
    october = ClosedPeriod("2026-10", CREATED, "{}")
    store.insert_closed_period(november)
    store.insert_closed_period(october)

    assert store.list_closed_periods() == [october, november]


def test_closed_period_insert_twice_rejected(store: SeatStore) -> None:
    store.insert_closed_period(ClosedPeriod("2026-11", CREATED, '{"a": 1}'))

    with pytest.raises(PeriodAlreadyClosed):
        store.insert_closed_period(ClosedPeriod("2026-11", CREATED, '{"a": 2}'))

    [period] = store.list_closed_periods()
    assert period.report_json == '{"a": 1}'


def test_denial_with_same_id_replaced(store: SeatStore) -> None:
    first = DenialEvent("denial_1", "lic_1", "acme", "cad", "no_seat_available", CREATED)
    retried = dataclasses.replace(first, occurred_at=CREATED + timedelta(seconds=1))
    other = dataclasses.replace(first, id="denial_2")

    for event in (first, retried, other):
        store.run_transaction(lambda tx, event=event: tx.insert_denial(event))

    events = store.denials(CREATED, CREATED + timedelta(minutes=1))
    assert [event.id for event in events] == ["denial_2", "denial_1"]
    assert events[1] == retried
