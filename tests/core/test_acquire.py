"""Acquire: granting seats, returning the same lease to a retry, and the seat scopes."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from functions.admin import Admin
from functions.clock import ManualClock
from functions.models import SeatScope
from tests.core.conftest import (
    ACQUIRE,
    HEARTBEAT,
    RELEASE,
    LicenseFactory,
    acquire_body,
    assert_problem,
    lease_body,
)


class TestFreeSeat:
    def test_grants_lease(self, client: FlaskClient, new_license: LicenseFactory) -> None:
        created = new_license(seats=2, heartbeat_interval_seconds=30, lease_lifetime_seconds=90)

        response = client.post(ACQUIRE, json=acquire_body(created.key))

        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json"
        body = response.get_json()
        assert body["lease_id"].startswith("lease_")
        assert body["token"].count(".") == 2
        assert body["seats_used"] == 1
        assert body["seats_total"] == 2
        assert body["heartbeat_interval_seconds"] == 30
        assert body["lease_lifetime_seconds"] == 90
        assert body["renewed"] is False

    def test_expiry_is_lifetime_later(
        self, client: FlaskClient, new_license: LicenseFactory, admin: Admin
    ) -> None:
        created = new_license(lease_lifetime_seconds=90)

        body = client.post(ACQUIRE, json=acquire_body(created.key)).get_json()

        [lease] = admin.store.list_open_leases(created.license.id)
        assert (lease.expires_at - lease.acquired_at).total_seconds() == 90
        assert body["expires_at"].replace("Z", "+00:00") == lease.expires_at.isoformat()

    def test_stores_canonical_email(
        self, client: FlaskClient, new_license: LicenseFactory, admin: Admin
    ) -> None:
        created = new_license()

        client.post(ACQUIRE, json=acquire_body(created.key, user_email="  Foo@Example.COM "))

        [lease] = admin.store.list_open_leases(created.license.id)
        assert lease.user_email == "foo@example.com"

    def test_charset_utf8_accepted(self, client: FlaskClient, new_license: LicenseFactory) -> None:
        created = new_license()

        response = client.post(
            ACQUIRE,
            json=acquire_body(created.key),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )

        assert response.status_code == 200


class TestRetry:
    def test_same_identity_same_lease(
        self, client: FlaskClient, new_license: LicenseFactory, admin: Admin
    ) -> None:
        created = new_license(seats=2)
        first = client.post(ACQUIRE, json=acquire_body(created.key)).get_json()

        second = client.post(ACQUIRE, json=acquire_body(created.key)).get_json()

        assert second["lease_id"] == first["lease_id"]
        assert second["renewed"] is True
        assert second["seats_used"] == 1
        assert len(admin.store.list_open_leases(created.license.id)) == 1

    def test_email_spelling_same_lease(
        self, client: FlaskClient, new_license: LicenseFactory
    ) -> None:
        created = new_license(seats=2)
        first = client.post(ACQUIRE, json=acquire_body(created.key, user_email="foo@example.com"))

        second = client.post(
            ACQUIRE, json=acquire_body(created.key, user_email=" Foo@Example.COM ")
        )

        assert second.get_json()["lease_id"] == first.get_json()["lease_id"]
        assert second.get_json()["seats_used"] == 1

    def test_retry_on_full_license(self, client: FlaskClient, new_license: LicenseFactory) -> None:
        created = new_license(seats=1)
        first = client.post(ACQUIRE, json=acquire_body(created.key)).get_json()

        second = client.post(ACQUIRE, json=acquire_body(created.key))

        assert second.status_code == 200
        assert second.get_json()["lease_id"] == first["lease_id"]

    def test_retry_extends_expiry(
        self, client: FlaskClient, new_license: LicenseFactory, clock: ManualClock
    ) -> None:
        created = new_license(lease_lifetime_seconds=90)
        first = client.post(ACQUIRE, json=acquire_body(created.key)).get_json()
        clock.advance(30)

        second = client.post(ACQUIRE, json=acquire_body(created.key)).get_json()

        assert second["expires_at"] > first["expires_at"]


class TestFullLicense:
    def test_rejects_new_identity(self, client: FlaskClient, new_license: LicenseFactory) -> None:
        created = new_license(seats=1)
        client.post(ACQUIRE, json=acquire_body(created.key, hardware_id="hw-1"))

        response = client.post(ACQUIRE, json=acquire_body(created.key, hardware_id="hw-2"))

        body = assert_problem(response, 409, "no_seat_available")
        assert body["seats_used"] == 1
        assert body["seats_total"] == 1

    def test_release_frees_seat(self, client: FlaskClient, new_license: LicenseFactory) -> None:
        created = new_license(seats=1)
        first = client.post(ACQUIRE, json=acquire_body(created.key, hardware_id="hw-1"))
        client.post(RELEASE, json=lease_body(first.get_json()["lease_id"], created.key, "hw-1"))

        response = client.post(ACQUIRE, json=acquire_body(created.key, hardware_id="hw-2"))

        assert response.status_code == 200
        assert response.get_json()["seats_used"] == 1


class TestUnknownKey:
    def test_license_not_found(self, client: FlaskClient, new_license: LicenseFactory) -> None:
        new_license()

        response = client.post(ACQUIRE, json=acquire_body("lk_not-a-key"))

        assert_problem(response, 404, "license_not_found")


# (scope, second hardware_id, second email, shares the first seat)
SCOPE_CASES = [
    (SeatScope.DEVICE_AND_USER, "hw-1", "user@example.com", True),
    (SeatScope.DEVICE_AND_USER, "hw-2", "user@example.com", False),
    (SeatScope.DEVICE_AND_USER, "hw-1", "other@example.com", False),
    (SeatScope.DEVICE, "hw-1", "other@example.com", True),
    (SeatScope.DEVICE, "hw-2", "user@example.com", False),
    (SeatScope.USER, "hw-2", "user@example.com", True),
    (SeatScope.USER, "hw-1", "other@example.com", False),
]


@pytest.mark.parametrize(("scope", "hardware_id", "email", "same_seat"), SCOPE_CASES)
def test_seat_scope(
    client: FlaskClient,
    new_license: LicenseFactory,
    scope: SeatScope,
    hardware_id: str,
    email: str,
    same_seat: bool,
) -> None:
    created = new_license(seats=2, scope=scope)
    first = client.post(ACQUIRE, json=acquire_body(created.key, "hw-1", "user@example.com"))

    second = client.post(ACQUIRE, json=acquire_body(created.key, hardware_id, email))

    assert second.status_code == 200
    assert (second.get_json()["lease_id"] == first.get_json()["lease_id"]) is same_seat
    assert second.get_json()["seats_used"] == (1 if same_seat else 2)


def test_user_scope_moves_seat(client: FlaskClient, new_license: LicenseFactory) -> None:
    """Under the per-user scope the seat follows the user; the old device loses ownership."""
    created = new_license(seats=1, scope=SeatScope.USER)
    lease_id = client.post(ACQUIRE, json=acquire_body(created.key, "hw-1")).get_json()["lease_id"]
    client.post(ACQUIRE, json=acquire_body(created.key, "hw-2"))

    old_device = client.post(HEARTBEAT, json=lease_body(lease_id, created.key, "hw-1"))
    new_device = client.post(HEARTBEAT, json=lease_body(lease_id, created.key, "hw-2"))

    assert_problem(old_device, 403, "lease_owner_mismatch")
    assert new_device.status_code == 200
