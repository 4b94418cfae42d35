"""Seat store contract: the same behaviour through the service on every store."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from functions import seats
from functions.admin import Admin, AdminError, CreatedLicense, SeatTerms
from functions.clock import ManualClock
from functions.errors import LicenseError, ProblemCode
from functions.models import CloseReason, LicenseStatus, SeatScope
from functions.service import LicenseService
from functions.store import SeatStore
from functions.sweep import sweep_expired
from tests.store.conftest import assert_counters_match_leases

EMAIL = "user@example.com"


def make_license(
    admin: Admin,
    seats_total: int,
    *,
    scope: SeatScope = SeatScope.DEVICE_AND_USER,
    lifetime: int = 180,
    expires_in: float | None = None,
) -> CreatedLicense:
    if admin.store.product_by_slug("cad") is None:
        admin.create_product("cad", "CAD suite")
    expires_at = None
    if expires_in is not None:
        expires_at = admin.clock.now() + timedelta(seconds=expires_in)
    terms = SeatTerms(seats_total, 60, lifetime, scope)
    return admin.create_license("cad", "acme", terms, expires_at=expires_at)


def problem_code(error: pytest.ExceptionInfo[LicenseError]) -> ProblemCode:
    return error.value.code


def test_acquire_grants_and_counts(service: LicenseService, admin: Admin) -> None:
    created = make_license(admin, 3)
    first = service.acquire(created.key, "hw-1", EMAIL)
    second = service.acquire(created.key, "hw-2", EMAIL)
    assert first.seats_used == 1
    assert second.seats_used == 2
    assert first.renewed is False
    assert first.lease.id != second.lease.id
    assert_counters_match_leases(service.store, created.license.id)


def test_acquire_unknown_key(service: LicenseService) -> None:
    with pytest.raises(LicenseError) as error:
        service.acquire("lk_unknown", "hw-1", EMAIL)
    assert problem_code(error) is ProblemCode.LICENSE_NOT_FOUND


def test_acquire_same_identity_reuses_seat(service: LicenseService, admin: Admin) -> None:
    created = make_license(admin, 2)
    first = service.acquire(created.key, "hw-1", EMAIL)
    again = service.acquire(created.key, "hw-1", " User@Example.com ")
    assert again.lease.id == first.lease.id
    assert again.renewed is True
    assert again.seats_used == 1
    assert len(service.store.list_open_leases(created.license.id)) == 1
    assert_counters_match_leases(service.store, created.license.id)


def test_acquire_full_license_denied(service: LicenseService, admin: Admin) -> None:
    created = make_license(admin, 2)
    service.acquire(created.key, "hw-1", EMAIL)
    service.acquire(created.key, "hw-2", EMAIL)
    with pytest.raises(LicenseError) as error:
        service.acquire(created.key, "hw-3", EMAIL)
    assert problem_code(error) is ProblemCode.NO_SEAT_AVAILABLE
    assert error.value.extensions == {"seats_used": 2, "seats_total": 2}
    assert_counters_match_leases(service.store, created.license.id)


def test_acquire_reclaims_expired_when_full(
    service: LicenseService, admin: Admin, clock: ManualClock
) -> None:
    created = make_license(admin, 2, lifetime=120)
    old = service.acquire(created.key, "hw-1", EMAIL)
    clock.advance(100)
    live = service.acquire(created.key, "hw-2", EMAIL)
    clock.advance(30)
    granted = service.acquire(created.key, "hw-3", EMAIL)
    assert granted.seats_used == 2
    open_ids = {lease.id for lease in service.store.list_open_leases(created.license.id)}
    assert open_ids == {live.lease.id, granted.lease.id}
    assert old.lease.id not in open_ids
    assert_counters_match_leases(service.store, created.license.id)


def test_acquire_expired_same_identity_gets_new_lease(
    service: LicenseService, admin: Admin, clock: ManualClock
) -> None:
    created = make_license(admin, 1, lifetime=120)
    old = service.acquire(created.key, "hw-1", EMAIL)
    clock.advance(121)
    new = service.acquire(created.key, "hw-1", EMAIL)
    assert new.lease.id != old.lease.id
    assert new.renewed is False
    assert new.seats_used == 1
    with pytest.raises(LicenseError) as error:
        service.heartbeat(old.lease.id, created.key, "hw-1")
    assert problem_code(error) is ProblemCode.LEASE_EXPIRED
    assert_counters_match_leases(service.store, created.license.id)


def test_heartbeat_extends_lease(service: LicenseService, admin: Admin, clock: ManualClock) -> None:
    created = make_license(admin, 1, lifetime=120)
    granted = service.acquire(created.key, "hw-1", EMAIL)
    clock.advance(100)
    beat = service.heartbeat(granted.lease.id, created.key, "hw-1")
    assert beat.lease.expires_at == clock.now() + timedelta(seconds=120)
    assert beat.lease.expires_at.tzinfo is not None
    assert beat.lease.expires_at.utcoffset() == timedelta(0)
    clock.advance(100)
    still = service.heartbeat(granted.lease.id, created.key, "hw-1")
    assert still.lease.id == granted.lease.id


def test_heartbeat_after_expiry_closes(
    service: LicenseService, admin: Admin, clock: ManualClock
) -> None:
    created = make_license(admin, 1, lifetime=120)
    granted = service.acquire(created.key, "hw-1", EMAIL)
    clock.advance(120)
    with pytest.raises(LicenseError) as error:
        service.heartbeat(granted.lease.id, created.key, "hw-1")
    assert problem_code(error) is ProblemCode.LEASE_EXPIRED
    assert service.store.list_open_leases(created.license.id) == []
    assert_counters_match_leases(service.store, created.license.id)


def test_heartbeat_wrong_owner(service: LicenseService, admin: Admin) -> None:
    created = make_license(admin, 1)
    other = make_license(admin, 1)
    granted = service.acquire(created.key, "hw-1", EMAIL)
    with pytest.raises(LicenseError) as wrong_key:
        service.heartbeat(granted.lease.id, other.key, "hw-1")
    with pytest.raises(LicenseError) as wrong_device:
        service.heartbeat(granted.lease.id, created.key, "hw-2")
    assert problem_code(wrong_key) is ProblemCode.LEASE_OWNER_MISMATCH
    assert problem_code(wrong_device) is ProblemCode.LEASE_OWNER_MISMATCH


def test_heartbeat_unknown_lease(service: LicenseService, admin: Admin) -> None:
    created = make_license(admin, 1)
    with pytest.raises(LicenseError) as error:
        service.heartbeat("lease_missing", created.key, "hw-1")
    assert problem_code(error) is ProblemCode.LEASE_NOT_FOUND


def test_release_frees_seat(service: LicenseService, admin: Admin) -> None:
    created = make_license(admin, 1)
    granted = service.acquire(created.key, "hw-1", EMAIL)
    released = service.release(granted.lease.id, created.key, "hw-1")
    assert released.already_closed is False
    assert released.lease.close_reason is CloseReason.RELEASED
    again = service.release(granted.lease.id, created.key, "hw-1")
    assert again.already_closed is True
    assert_counters_match_leases(service.store, created.license.id)
    other = service.acquire(created.key, "hw-2", EMAIL)
    assert other.seats_used == 1


def test_suspend_closes_leases(service: LicenseService, admin: Admin) -> None:
    created = make_license(admin, 2)
    granted = service.acquire(created.key, "hw-1", EMAIL)
    service.acquire(created.key, "hw-2", EMAIL)
    license, closed = admin.set_status(created.license.id, LicenseStatus.SUSPENDED)
    assert license.status is LicenseStatus.SUSPENDED
    assert closed == 2
    assert_counters_match_leases(service.store, created.license.id)
    with pytest.raises(LicenseError) as beat:
        service.heartbeat(granted.lease.id, created.key, "hw-1")
    with pytest.raises(LicenseError) as acquire:
        service.acquire(created.key, "hw-3", EMAIL)
    assert problem_code(beat) is ProblemCode.LICENSE_SUSPENDED
    assert problem_code(acquire) is ProblemCode.LICENSE_SUSPENDED


def test_suspend_closes_in_batches(
    service: LicenseService, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seats, "STATUS_CLOSE_BATCH", 2)
    created = make_license(admin, 5)
    for number in range(5):
        service.acquire(created.key, f"hw-{number}", EMAIL)
    _, closed = admin.set_status(created.license.id, LicenseStatus.REVOKED)
    assert closed == 5
    assert service.store.list_open_leases(created.license.id) == []
    assert_counters_match_leases(service.store, created.license.id)


def test_reinstate_after_suspend(service: LicenseService, admin: Admin) -> None:
    created = make_license(admin, 1)
    admin.set_status(created.license.id, LicenseStatus.SUSPENDED)
    admin.set_status(created.license.id, LicenseStatus.ACTIVE)
    granted = service.acquire(created.key, "hw-1", EMAIL)
    assert granted.seats_used == 1


def test_revoke_denies_acquire(service: LicenseService, admin: Admin) -> None:
    created = make_license(admin, 1)
    admin.set_status(created.license.id, LicenseStatus.REVOKED)
    with pytest.raises(LicenseError) as error:
        service.acquire(created.key, "hw-1", EMAIL)
    assert problem_code(error) is ProblemCode.LICENSE_REVOKED


def test_license_expiry_caps_lease(
    service: LicenseService, admin: Admin, clock: ManualClock
) -> None:
    created = make_license(admin, 1, expires_in=90)
    granted = service.acquire(created.key, "hw-1", EMAIL)
    assert created.license.expires_at is not None
    assert granted.lease.expires_at == created.license.expires_at
    clock.advance(90)
    with pytest.raises(LicenseError) as beat:
        service.heartbeat(granted.lease.id, created.key, "hw-1")
    with pytest.raises(LicenseError) as acquire:
        service.acquire(created.key, "hw-2", EMAIL)
    assert problem_code(beat) is ProblemCode.LICENSE_EXPIRED
    assert problem_code(acquire) is ProblemCode.LICENSE_EXPIRED


def test_user_scope_moves_seat(service: LicenseService, admin: Admin) -> None:
    created = make_license(admin, 1, scope=SeatScope.USER)
    laptop = service.acquire(created.key, "laptop", EMAIL)
    desktop = service.acquire(created.key, "desktop", EMAIL)
    assert desktop.lease.id == laptop.lease.id
    assert desktop.lease.hardware_id == "desktop"
    with pytest.raises(LicenseError) as error:
        service.heartbeat(laptop.lease.id, created.key, "laptop")
    assert problem_code(error) is ProblemCode.LEASE_OWNER_MISMATCH


def test_force_release(service: LicenseService, admin: Admin) -> None:
    created = make_license(admin, 1)
    granted = service.acquire(created.key, "hw-1", EMAIL)
    closed = admin.force_release(granted.lease.id)
    assert closed.close_reason is CloseReason.FORCE_RELEASED
    assert_counters_match_leases(service.store, created.license.id)
    service.acquire(created.key, "hw-2", EMAIL)


def test_sharded_license_cap_exact(service: LicenseService, admin: Admin) -> None:
    seats_total = seats.SEATS_PER_SHARD * 2 + 3
    created = make_license(admin, seats_total)
    caps = seats.shard_caps(seats_total)
    assert len(caps) == 3
    grants = [service.acquire(created.key, f"hw-{n}", EMAIL) for n in range(seats_total)]
    assert [grant.seats_used for grant in grants] == list(range(1, seats_total + 1))
    with pytest.raises(LicenseError) as error:
        service.acquire(created.key, "hw-extra", EMAIL)
    assert problem_code(error) is ProblemCode.NO_SEAT_AVAILABLE
    counters = service.store.seat_counters(created.license.id)
    assert counters == dict(enumerate(caps))
    # Freeing a seat in any shard makes it available to an identity that prefers another.
    service.release(grants[0].lease.id, created.key, "hw-0")
    replacement = service.acquire(created.key, "hw-extra", EMAIL)
    assert replacement.seats_used == seats_total
    assert_counters_match_leases(service.store, created.license.id)


def test_sweep_closes_expired(service: LicenseService, admin: Admin, clock: ManualClock) -> None:
    created = make_license(admin, 5, lifetime=120)
    stale = [service.acquire(created.key, f"hw-{n}", EMAIL) for n in range(3)]
    clock.advance(100)
    live = service.acquire(created.key, "hw-live", EMAIL)
    clock.advance(30)
    result = sweep_expired(service.store, clock, batch_size=2, max_batches=5)
    assert result.closed == 3
    assert result.complete is True
    open_ids = [lease.id for lease in service.store.list_open_leases(created.license.id)]
    assert open_ids == [live.lease.id]
    assert stale[0].lease.id not in open_ids
    assert_counters_match_leases(service.store, created.license.id)


def test_sweep_stops_at_batch_limit(
    service: LicenseService, admin: Admin, clock: ManualClock
) -> None:
    created = make_license(admin, 5, lifetime=120)
    for n in range(5):
        service.acquire(created.key, f"hw-{n}", EMAIL)
    clock.advance(200)
    result = sweep_expired(service.store, clock, batch_size=2, max_batches=1)
    assert result.closed == 2
    assert result.complete is False
    assert len(service.store.list_open_leases(created.license.id)) == 3
    assert_counters_match_leases(service.store, created.license.id)


def test_admin_records_round_trip(store: SeatStore, admin: Admin) -> None:
    created = make_license(admin, 4, expires_in=3600)
    policy = admin.create_policy("team", SeatTerms(4))
    assert store.product_by_slug("cad") is not None
    assert store.policy_by_name("team") == policy
    assert [product.slug for product in store.list_products()] == ["cad"]
    assert store.list_policies() == [policy]
    assert store.list_licenses() == [created.license]
    listed = store.list_licenses()[0]
    assert listed.expires_at is not None
    assert listed.expires_at.tzinfo is not None
    assert listed.created_at.utcoffset() == timedelta(0)
    assert listed.created_at.astimezone(UTC) == created.license.created_at


def test_extended_license_keeps_lease(
    service: LicenseService, admin: Admin, clock: ManualClock
) -> None:
    created = make_license(admin, 1, lifetime=180, expires_in=100)
    granted = service.acquire(created.key, "hw-1", EMAIL)
    assert granted.lease.expires_at == clock.now() + timedelta(seconds=100)
    clock.advance(50)
    admin.extend_license(created.license.id, clock.now() + timedelta(days=30))
    clock.advance(60)

    # Past the old license expiry, the heartbeat picks up the new one instead of failing.
    beat = service.heartbeat(granted.lease.id, created.key, "hw-1")

    assert beat.lease.id == granted.lease.id
    assert beat.lease.expires_at == clock.now() + timedelta(seconds=180)
    assert beat.lease.license_expires_at == created.license.created_at + timedelta(
        days=30, seconds=50
    )
    assert_counters_match_leases(service.store, created.license.id)


def test_unextended_license_expires_lease(
    service: LicenseService, admin: Admin, clock: ManualClock
) -> None:
    created = make_license(admin, 1, expires_in=100)
    granted = service.acquire(created.key, "hw-1", EMAIL)
    clock.advance(100)

    with pytest.raises(LicenseError) as error:
        service.heartbeat(granted.lease.id, created.key, "hw-1")

    assert problem_code(error) is ProblemCode.LICENSE_EXPIRED
    assert service.store.list_open_leases(created.license.id) == []


@pytest.mark.parametrize("days", [-1, 0])
def test_extend_rejects_earlier_expiry(admin: Admin, clock: ManualClock, days: int) -> None:
    created = make_license(admin, 1, expires_in=86400)

    with pytest.raises(AdminError, match=r"can only move later|in the past"):
        admin.extend_license(created.license.id, clock.now() + timedelta(days=1 + days))


def test_extend_removes_expiry(service: LicenseService, admin: Admin, clock: ManualClock) -> None:
    created = make_license(admin, 1, expires_in=100)
    admin.extend_license(created.license.id, None)
    clock.advance(1000)

    granted = service.acquire(created.key, "hw-1", EMAIL)

    assert granted.lease.license_expires_at is None


def test_extend_revoked_rejected(admin: Admin, clock: ManualClock) -> None:
    created = make_license(admin, 1, expires_in=100)
    admin.set_status(created.license.id, LicenseStatus.REVOKED)

    with pytest.raises(AdminError, match="is revoked"):
        admin.extend_license(created.license.id, clock.now() + timedelta(days=1))
