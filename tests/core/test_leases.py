"""Lease lifecycle: heartbeat, reclaim after the lease lifetime, release and ownership.

Time moves only through the manual clock, so expiry is exact and no test sleeps.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from functions.admin import Admin, CreatedLicense
from functions.clock import ManualClock
from tests.core.conftest import (
    ACQUIRE,
    HEARTBEAT,
    RELEASE,
    LicenseFactory,
    acquire_body,
    assert_problem,
    lease_body,
)

LIFETIME = 180


@pytest.fixture
def one_seat(new_license: LicenseFactory) -> CreatedLicense:
    return new_license(seats=1, heartbeat_interval_seconds=60, lease_lifetime_seconds=LIFETIME)


def acquire(client: FlaskClient, key: str, hardware_id: str = "hw-1") -> dict[str, Any]:
    response = client.post(ACQUIRE, json=acquire_body(key, hardware_id))
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


class TestLiveLease:
    def test_heartbeat_extends(
        self, client: FlaskClient, one_seat: CreatedLicense, clock: ManualClock
    ) -> None:
        lease = acquire(client, one_seat.key)
        clock.advance(60)

        response = client.post(HEARTBEAT, json=lease_body(lease["lease_id"], one_seat.key))

        assert response.status_code == 200
        body = response.get_json()
        assert body["lease_id"] == lease["lease_id"]
        assert body["expires_at"] > lease["expires_at"]
        assert body["token"] != lease["token"]

    def test_heartbeats_keep_seat(
        self, client: FlaskClient, one_seat: CreatedLicense, clock: ManualClock
    ) -> None:
        lease = acquire(client, one_seat.key)
        for _ in range(5):
            clock.advance(LIFETIME - 1)
            heartbeat = client.post(HEARTBEAT, json=lease_body(lease["lease_id"], one_seat.key))
            assert heartbeat.status_code == 200

        response = client.post(ACQUIRE, json=acquire_body(one_seat.key, "hw-2"))

        assert_problem(response, 409, "no_seat_available")

    def test_seat_held_until_lifetime(
        self, client: FlaskClient, one_seat: CreatedLicense, clock: ManualClock
    ) -> None:
        acquire(client, one_seat.key)
        clock.advance(LIFETIME - 1)

        response = client.post(ACQUIRE, json=acquire_body(one_seat.key, "hw-2"))

        assert_problem(response, 409, "no_seat_available")

    def test_release_closes(
        self, client: FlaskClient, one_seat: CreatedLicense, admin: Admin
    ) -> None:
        lease = acquire(client, one_seat.key)

        response = client.post(RELEASE, json=lease_body(lease["lease_id"], one_seat.key))

        assert response.status_code == 200
        body = response.get_json()
        assert body["released"] is True
        assert body["close_reason"] == "released"
        assert body["already_closed"] is False
        assert admin.store.list_open_leases(one_seat.license.id) == []


class TestExpiredLease:
    def test_acquire_reclaims_seat(
        self, client: FlaskClient, one_seat: CreatedLicense, clock: ManualClock, admin: Admin
    ) -> None:
        crashed = acquire(client, one_seat.key, "hw-1")
        clock.advance(LIFETIME)

        lease = acquire(client, one_seat.key, "hw-2")

        assert lease["lease_id"] != crashed["lease_id"]
        assert lease["seats_used"] == 1
        [open_lease] = admin.store.list_open_leases(one_seat.license.id)
        assert open_lease.id == lease["lease_id"]

    def test_reclaim_records_expiry(
        self, client: FlaskClient, one_seat: CreatedLicense, clock: ManualClock, service: Any
    ) -> None:
        crashed = acquire(client, one_seat.key, "hw-1")
        clock.advance(LIFETIME)
        acquire(client, one_seat.key, "hw-2")

        closed = service.store.run_transaction(lambda tx: tx.lease(crashed["lease_id"]))

        assert closed.close_reason.value == "expired"
        assert closed.released_at == clock.now()

    def test_same_identity_new_lease(
        self, client: FlaskClient, one_seat: CreatedLicense, clock: ManualClock
    ) -> None:
        old = acquire(client, one_seat.key)
        clock.advance(LIFETIME)

        new = acquire(client, one_seat.key)

        assert new["lease_id"] != old["lease_id"]
        assert new["renewed"] is False

    def test_heartbeat_lease_expired(
        self, client: FlaskClient, one_seat: CreatedLicense, clock: ManualClock
    ) -> None:
        lease = acquire(client, one_seat.key)
        clock.advance(LIFETIME)

        response = client.post(HEARTBEAT, json=lease_body(lease["lease_id"], one_seat.key))

        assert_problem(response, 409, "lease_expired")

    def test_heartbeat_never_revives(
        self, client: FlaskClient, one_seat: CreatedLicense, clock: ManualClock
    ) -> None:
        lease = acquire(client, one_seat.key)
        clock.advance(LIFETIME)
        client.post(HEARTBEAT, json=lease_body(lease["lease_id"], one_seat.key))

        # The first refused heartbeat closed the lease; neither a retry nor time revives it.
        clock.advance(1)
        again = client.post(HEARTBEAT, json=lease_body(lease["lease_id"], one_seat.key))

        assert_problem(again, 409, "lease_expired")

    def test_heartbeat_after_reclaim(
        self, client: FlaskClient, one_seat: CreatedLicense, clock: ManualClock, admin: Admin
    ) -> None:
        crashed = acquire(client, one_seat.key, "hw-1")
        clock.advance(LIFETIME)
        successor = acquire(client, one_seat.key, "hw-2")

        response = client.post(HEARTBEAT, json=lease_body(crashed["lease_id"], one_seat.key))

        assert_problem(response, 409, "lease_expired")
        open_leases = admin.store.list_open_leases(one_seat.license.id)
        assert [lease.id for lease in open_leases] == [successor["lease_id"]]

    def test_heartbeat_frees_no_seat_twice(
        self, client: FlaskClient, new_license: LicenseFactory, clock: ManualClock
    ) -> None:
        """A refused heartbeat closes its own lease only; the seat count stays exact."""
        created = new_license(seats=2, lease_lifetime_seconds=LIFETIME)
        stale = acquire(client, created.key, "hw-1")
        clock.advance(LIFETIME)
        client.post(HEARTBEAT, json=lease_body(stale["lease_id"], created.key, "hw-1"))
        acquire(client, created.key, "hw-2")
        acquire(client, created.key, "hw-3")

        response = client.post(ACQUIRE, json=acquire_body(created.key, "hw-4"))

        body = assert_problem(response, 409, "no_seat_available")
        assert body["seats_used"] == 2

    def test_release_records_expiry(
        self, client: FlaskClient, one_seat: CreatedLicense, clock: ManualClock
    ) -> None:
        lease = acquire(client, one_seat.key)
        clock.advance(LIFETIME)

        response = client.post(RELEASE, json=lease_body(lease["lease_id"], one_seat.key))

        assert response.status_code == 200
        assert response.get_json()["close_reason"] == "expired"


class TestReleasedLease:
    def test_release_twice(self, client: FlaskClient, one_seat: CreatedLicense) -> None:
        lease = acquire(client, one_seat.key)
        first = client.post(RELEASE, json=lease_body(lease["lease_id"], one_seat.key))

        second = client.post(RELEASE, json=lease_body(lease["lease_id"], one_seat.key))

        assert second.status_code == 200
        assert second.get_json()["already_closed"] is True
        assert second.get_json()["released_at"] == first.get_json()["released_at"]

    def test_heartbeat_lease_expired(self, client: FlaskClient, one_seat: CreatedLicense) -> None:
        lease = acquire(client, one_seat.key)
        client.post(RELEASE, json=lease_body(lease["lease_id"], one_seat.key))

        response = client.post(HEARTBEAT, json=lease_body(lease["lease_id"], one_seat.key))

        assert_problem(response, 409, "lease_expired")

    def test_acquire_gets_new_lease(self, client: FlaskClient, one_seat: CreatedLicense) -> None:
        lease = acquire(client, one_seat.key)
        client.post(RELEASE, json=lease_body(lease["lease_id"], one_seat.key))

        new = acquire(client, one_seat.key)

        assert new["lease_id"] != lease["lease_id"]

    def test_force_release_closes(
        self, client: FlaskClient, one_seat: CreatedLicense, admin: Admin
    ) -> None:
        lease = acquire(client, one_seat.key)

        admin.force_release(lease["lease_id"])
        response = client.post(HEARTBEAT, json=lease_body(lease["lease_id"], one_seat.key))

        assert_problem(response, 409, "lease_expired")
        assert acquire(client, one_seat.key, "hw-2")["seats_used"] == 1


@pytest.mark.parametrize("path", [HEARTBEAT, RELEASE])
class TestOwnership:
    def test_wrong_key(
        self, client: FlaskClient, new_license: LicenseFactory, one_seat: CreatedLicense, path: str
    ) -> None:
        other = new_license()
        lease = acquire(client, one_seat.key)

        response = client.post(path, json=lease_body(lease["lease_id"], other.key))

        assert_problem(response, 403, "lease_owner_mismatch")

    def test_unknown_key(self, client: FlaskClient, one_seat: CreatedLicense, path: str) -> None:
        lease = acquire(client, one_seat.key)

        response = client.post(path, json=lease_body(lease["lease_id"], "lk_unknown"))

        assert_problem(response, 403, "lease_owner_mismatch")

    def test_wrong_hardware_id(
        self, client: FlaskClient, one_seat: CreatedLicense, path: str
    ) -> None:
        lease = acquire(client, one_seat.key, "hw-1")

        response = client.post(path, json=lease_body(lease["lease_id"], one_seat.key, "hw-2"))

        assert_problem(response, 403, "lease_owner_mismatch")

    def test_unknown_lease(self, client: FlaskClient, one_seat: CreatedLicense, path: str) -> None:
        response = client.post(path, json=lease_body("lease_0000", one_seat.key))

        assert_problem(response, 404, "lease_not_found")

    def test_mismatch_keeps_lease(
        self, client: FlaskClient, one_seat: CreatedLicense, admin: Admin, path: str
    ) -> None:
        lease = acquire(client, one_seat.key, "hw-1")

        client.post(path, json=lease_body(lease["lease_id"], one_seat.key, "hw-2"))

        [open_lease] = admin.store.list_open_leases(one_seat.license.id)
        assert open_lease.id == lease["lease_id"]
        assert open_lease.expires_at.isoformat() == lease["expires_at"].replace("Z", "+00:00")
