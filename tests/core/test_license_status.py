"""Suspended, revoked and expired licenses, and reinstating them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from functions.admin import Admin, AdminError, CreatedLicense
from functions.clock import ManualClock
from functions.models import LicenseStatus
from tests.core.conftest import (
    ACQUIRE,
    HEARTBEAT,
    RELEASE,
    LicenseFactory,
    acquire_body,
    assert_problem,
    lease_body,
)

STATUS_CODES = [
    (LicenseStatus.SUSPENDED, "license_suspended"),
    (LicenseStatus.REVOKED, "license_revoked"),
]


def acquire(client: FlaskClient, key: str, hardware_id: str = "hw-1") -> dict[str, Any]:
    response = client.post(ACQUIRE, json=acquire_body(key, hardware_id))
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


@pytest.mark.parametrize(("status", "code"), STATUS_CODES)
class TestClosedByAdmin:
    def test_acquire_rejected(
        self,
        client: FlaskClient,
        new_license: LicenseFactory,
        admin: Admin,
        status: LicenseStatus,
        code: str,
    ) -> None:
        created = new_license()
        admin.set_status(created.license.id, status)

        response = client.post(ACQUIRE, json=acquire_body(created.key))

        assert_problem(response, 403, code)

    def test_closes_open_leases(
        self,
        client: FlaskClient,
        new_license: LicenseFactory,
        admin: Admin,
        status: LicenseStatus,
        code: str,
    ) -> None:
        created = new_license(seats=2)
        acquire(client, created.key, "hw-1")
        acquire(client, created.key, "hw-2")

        _, closed = admin.set_status(created.license.id, status)

        assert closed == 2
        assert admin.store.list_open_leases(created.license.id) == []

    def test_heartbeat_rejected(
        self,
        client: FlaskClient,
        new_license: LicenseFactory,
        admin: Admin,
        status: LicenseStatus,
        code: str,
    ) -> None:
        created = new_license()
        lease = acquire(client, created.key)
        admin.set_status(created.license.id, status)

        response = client.post(HEARTBEAT, json=lease_body(lease["lease_id"], created.key))

        assert_problem(response, 403, code)

    def test_release_succeeds(
        self,
        client: FlaskClient,
        new_license: LicenseFactory,
        admin: Admin,
        status: LicenseStatus,
        code: str,
    ) -> None:
        created = new_license()
        lease = acquire(client, created.key)
        admin.set_status(created.license.id, status)

        response = client.post(RELEASE, json=lease_body(lease["lease_id"], created.key))

        assert response.status_code == 200
        assert response.get_json()["already_closed"] is True
        assert response.get_json()["close_reason"] == code


class TestReinstate:
    def test_reinstate_allows_acquire(
        self,
        client: FlaskClient,
        new_license: LicenseFactory,
        admin: Admin,
    ) -> None:
        created = new_license(seats=1)
        old = acquire(client, created.key)
        admin.set_status(created.license.id, LicenseStatus.SUSPENDED)

        admin.set_status(created.license.id, LicenseStatus.ACTIVE)
        new = acquire(client, created.key)

        assert new["lease_id"] != old["lease_id"]
        assert new["seats_used"] == 1

    def test_reinstate_keeps_old_lease_closed(
        self,
        client: FlaskClient,
        new_license: LicenseFactory,
        admin: Admin,
    ) -> None:
        created = new_license()
        old = acquire(client, created.key)
        admin.set_status(created.license.id, LicenseStatus.SUSPENDED)
        admin.set_status(created.license.id, LicenseStatus.ACTIVE)

        response = client.post(HEARTBEAT, json=lease_body(old["lease_id"], created.key))

        assert_problem(response, 403, "license_suspended")
        assert "reinstated" in response.get_json()["detail"]

    def test_revoked_cannot_be_reinstated(
        self, client: FlaskClient, new_license: LicenseFactory, admin: Admin
    ) -> None:
        created = new_license()
        admin.set_status(created.license.id, LicenseStatus.REVOKED)

        with pytest.raises(AdminError, match="revocation is final"):
            admin.set_status(created.license.id, LicenseStatus.ACTIVE)
        response = client.post(ACQUIRE, json=acquire_body(created.key))

        assert_problem(response, 403, "license_revoked")


def test_revoked_wins_over_expired(
    client: FlaskClient, new_license: LicenseFactory, admin: Admin, clock: ManualClock
) -> None:
    created = new_license(expires_at=clock.now() + timedelta(hours=1))
    admin.set_status(created.license.id, LicenseStatus.REVOKED)
    clock.advance(7200)

    response = client.post(ACQUIRE, json=acquire_body(created.key))

    assert_problem(response, 403, "license_revoked")


class TestExpiredLicense:
    @pytest.fixture
    def expiring(self, new_license: LicenseFactory, clock: ManualClock) -> CreatedLicense:
        return new_license(lease_lifetime_seconds=180, expires_at=clock.now() + timedelta(hours=1))

    def test_acquire_rejected(
        self, client: FlaskClient, expiring: CreatedLicense, clock: ManualClock
    ) -> None:
        clock.advance(3600)

        response = client.post(ACQUIRE, json=acquire_body(expiring.key))

        assert_problem(response, 403, "license_expired")

    def test_acquire_before_expiry(
        self, client: FlaskClient, expiring: CreatedLicense, clock: ManualClock
    ) -> None:
        clock.advance(3599)

        response = client.post(ACQUIRE, json=acquire_body(expiring.key))

        assert response.status_code == 200

    def test_lease_capped_at_expiry(
        self, client: FlaskClient, expiring: CreatedLicense, clock: ManualClock
    ) -> None:
        clock.advance(3600 - 60)

        lease = acquire(client, expiring.key)

        assert expiring.license.expires_at is not None
        expected = expiring.license.expires_at.isoformat().replace("+00:00", "Z")
        assert lease["expires_at"] == expected

    def test_heartbeat_rejected(
        self, client: FlaskClient, expiring: CreatedLicense, clock: ManualClock
    ) -> None:
        clock.advance(3600 - 60)
        lease = acquire(client, expiring.key)
        clock.advance(60)

        response = client.post(HEARTBEAT, json=lease_body(lease["lease_id"], expiring.key))

        assert_problem(response, 403, "license_expired")
