"""The usage ledger: one record per closed lease, written in the transaction of the close.

Every test here runs on the embedded store and on the Firestore emulator.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from google.api_core.exceptions import AlreadyExists

from functions import seats
from functions.admin import SeatTerms
from functions.billing.records import UsageRecord
from functions.errors import LicenseError, ProblemCode
from functions.identity import hardware_id_sha256
from functions.models import CloseReason, LicenseStatus
from functions.store import SeatTransaction
from functions.store.sqlite import SqliteSeatStore
from tests.billing.conftest import (
    HEARTBEAT_SECONDS,
    LIFETIME_SECONDS,
    STORE_KINDS,
    Billing,
    open_billing,
    open_store,
)

# Wide enough to cover every record a test writes.
LEDGER_START = datetime(2000, 1, 1, tzinfo=UTC)
LEDGER_END = datetime(2100, 1, 1, tzinfo=UTC)

# What each store raises when a second usage record for one lease reaches a commit.
DUPLICATE_RECORD_ERRORS = (sqlite3.IntegrityError, AlreadyExists)


@pytest.fixture(params=STORE_KINDS)
def billing(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Billing]:
    """The billing environment on each store in turn; it replaces the embedded-only fixture."""
    store = open_store(request.param, tmp_path / "data", request)
    env = open_billing(tmp_path / "data", datetime(2026, 11, 1, tzinfo=UTC), store)
    yield env
    env.store.close()


def all_records(billing: Billing) -> list[UsageRecord]:
    return list(billing.store.usage_records(LEDGER_START, LEDGER_END))


def test_release_writes_one_record(billing: Billing) -> None:
    created = billing.license(customer="acme")
    start = billing.clock.now()
    lease_id = billing.hold(created, "hw-1", 150)
    billing.service.release(lease_id, created.key, "hw-1")

    [record] = all_records(billing)
    assert record.lease_id == lease_id
    assert record.license_id == created.license.id
    assert record.customer == "acme"
    assert record.product_slug == "cad"
    assert record.device_hash == hardware_id_sha256("hw-1")
    assert record.acquired_at == start
    assert record.ended_at == start + timedelta(seconds=150)
    assert record.close_reason is CloseReason.RELEASED
    assert record.seconds_held == Decimal(150)


def test_repeated_release_records_once(billing: Billing) -> None:
    created = billing.license()
    lease_id = billing.hold(created, "hw-1", 60)
    first = billing.service.release(lease_id, created.key, "hw-1")
    billing.clock.advance(5)
    second = billing.service.release(lease_id, created.key, "hw-1")

    assert not first.already_closed
    assert second.already_closed
    assert len(all_records(billing)) == 1


def test_second_record_for_lease_rejected(billing: Billing) -> None:
    created = billing.license()
    lease_id = billing.hold(created, "hw-1", 60)
    billing.service.release(lease_id, created.key, "hw-1")
    [record] = all_records(billing)

    def insert_again(tx: SeatTransaction) -> None:
        tx.insert_usage_record(record)

    with pytest.raises(DUPLICATE_RECORD_ERRORS):
        billing.store.run_transaction(insert_again)
    assert len(all_records(billing)) == 1


def test_silent_client_billed_to_heartbeat_plus_interval(billing: Billing) -> None:
    created = billing.license(seats=1)
    start = billing.clock.now()
    billing.hold(created, "hw-silent", 120)
    # The client stops; another client's acquire after the lifetime reclaims the seat.
    billing.clock.advance(LIFETIME_SECONDS + 30)
    billing.service.acquire(created.key, "hw-2", "two@example.com")

    [record] = all_records(billing)
    assert record.close_reason is CloseReason.EXPIRED
    assert record.ended_at == start + timedelta(seconds=60 + HEARTBEAT_SECONDS)
    assert record.closed_at > record.ended_at


def test_late_release_of_expired_lease_capped(billing: Billing) -> None:
    created = billing.license()
    start = billing.clock.now()
    lease_id = billing.hold(created, "hw-1", 60)
    billing.clock.advance(LIFETIME_SECONDS)
    billing.service.release(lease_id, created.key, "hw-1")

    [record] = all_records(billing)
    assert record.close_reason is CloseReason.EXPIRED
    assert record.ended_at == start + timedelta(seconds=HEARTBEAT_SECONDS)


def test_force_release_of_live_lease(billing: Billing) -> None:
    created = billing.license()
    start = billing.clock.now()
    lease_id = billing.hold(created, "hw-1", 90)
    billing.admin.force_release(lease_id)

    [record] = all_records(billing)
    assert record.close_reason is CloseReason.FORCE_RELEASED
    # The last heartbeat was at 60 s, so the close at 90 s is within one interval of it.
    assert record.ended_at == start + timedelta(seconds=90)


def test_suspension_records_every_open_lease(billing: Billing) -> None:
    created = billing.license(seats=3)
    for hardware_id in ("hw-1", "hw-2", "hw-3"):
        billing.service.acquire(created.key, hardware_id, f"{hardware_id}@example.com")
    billing.clock.advance(30)
    billing.admin.set_status(created.license.id, LicenseStatus.SUSPENDED)

    records = all_records(billing)
    assert len(records) == 3
    assert {record.close_reason for record in records} == {CloseReason.LICENSE_SUSPENDED}
    assert sum(record.seconds_held for record in records) == Decimal(90)


def plant_usage_record(billing: Billing, lease_id: str) -> None:
    """Store a stray usage record for `lease_id` directly, around the seat logic."""
    if isinstance(billing.store, SqliteSeatStore):
        billing.store._connection().execute(
            "INSERT INTO usage_records (lease_id, license_id, customer, product_slug, seat_key,"
            " device_hash, user_hash, acquired_at, ended_at, closed_at, seconds_held,"
            " close_reason) VALUES (?, 'x', 'x', 'x', 'x', 'x', 'x', '2026-01-01',"
            " '2026-01-01', '2026-01-01', '0', 'released')",
            (lease_id,),
        )
        return
    from functions.store.firestore import USAGE_RECORDS, FirestoreSeatStore

    assert isinstance(billing.store, FirestoreSeatStore)
    billing.store.client.collection(USAGE_RECORDS).document(lease_id).create({"lease_id": lease_id})


def test_failed_record_write_keeps_lease_open(billing: Billing) -> None:
    created = billing.license()
    lease_id = billing.hold(created, "hw-1", 60)
    # A record already stored under this lease's key makes the record insert fail in the close.
    plant_usage_record(billing, lease_id)

    with pytest.raises(DUPLICATE_RECORD_ERRORS):
        billing.service.release(lease_id, created.key, "hw-1")

    [lease] = billing.store.list_open_leases(created.license.id)
    assert lease.id == lease_id
    assert lease.released_at is None


def test_failure_after_close_leaves_neither(billing: Billing) -> None:
    created = billing.license()
    lease_id = billing.hold(created, "hw-1", 60)
    now = billing.clock.now()

    def close_then_fail(tx: SeatTransaction) -> None:
        lease = tx.lease(lease_id)
        assert lease is not None
        seats.close_lease(tx, lease, now, CloseReason.RELEASED)
        raise RuntimeError("simulated crash before commit")

    with pytest.raises(RuntimeError, match="simulated crash"):
        billing.store.run_transaction(close_then_fail)

    assert all_records(billing) == []
    assert [lease.id for lease in billing.store.list_open_leases()] == [lease_id]


def test_denials_recorded_with_reason(billing: Billing) -> None:
    created = billing.license(customer="acme", seats=1)
    billing.service.acquire(created.key, "hw-1", "one@example.com")
    with pytest.raises(LicenseError) as no_seat:
        billing.service.acquire(created.key, "hw-2", "two@example.com")
    billing.clock.advance(1)
    billing.admin.set_status(created.license.id, LicenseStatus.SUSPENDED)
    with pytest.raises(LicenseError) as suspended:
        billing.service.acquire(created.key, "hw-2", "two@example.com")
    with pytest.raises(LicenseError):
        billing.service.acquire("lk_unknown", "hw-2", "two@example.com")

    start = billing.clock.now() - timedelta(hours=1)
    events = billing.store.denials(start, billing.clock.now() + timedelta(seconds=1))
    assert no_seat.value.code is ProblemCode.NO_SEAT_AVAILABLE
    assert suspended.value.code is ProblemCode.LICENSE_SUSPENDED
    # An unknown key names no license or customer, so it is not a demand signal.
    assert [event.code for event in events] == ["no_seat_available", "license_suspended"]
    assert {event.customer for event in events} == {"acme"}
    assert {event.license_id for event in events} == {created.license.id}


def test_license_expiry_caps_billable_end(billing: Billing) -> None:
    billing.admin.create_product("cad")
    start = billing.clock.now()
    terms = SeatTerms(
        seats=1,
        heartbeat_interval_seconds=HEARTBEAT_SECONDS,
        lease_lifetime_seconds=LIFETIME_SECONDS,
    )
    created = billing.admin.create_license(
        "cad", "acme", terms, expires_at=start + timedelta(seconds=90)
    )
    lease_id = billing.service.acquire(created.key, "hw-1", "one@example.com").lease.id
    billing.clock.advance(60)
    billing.service.heartbeat(lease_id, created.key, "hw-1")
    billing.clock.advance(40)
    with pytest.raises(LicenseError):
        billing.service.heartbeat(lease_id, created.key, "hw-1")

    [record] = all_records(billing)
    assert record.close_reason is CloseReason.LICENSE_EXPIRED
    assert record.ended_at == start + timedelta(seconds=90)
