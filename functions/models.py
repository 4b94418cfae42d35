"""Domain records: products, policies, licenses and leases.

The records are plain frozen dataclasses so that stores can persist them in any form and the
seat logic can reason about them without I/O. All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime, timedelta


class SeatScope(enum.StrEnum):
    """Seat identity of a license: the values two acquires must share to use the same seat."""

    DEVICE_AND_USER = "hardware_id+user_email"
    DEVICE = "hardware_id"
    USER = "user_email"


class LicenseStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class CloseReason(enum.StrEnum):
    """Reason a lease stopped holding its seat."""

    RELEASED = "released"
    EXPIRED = "expired"
    FORCE_RELEASED = "force_released"
    LICENSE_SUSPENDED = "license_suspended"
    LICENSE_REVOKED = "license_revoked"
    LICENSE_EXPIRED = "license_expired"


@dataclasses.dataclass(frozen=True)
class Product:
    id: str
    slug: str
    name: str
    created_at: datetime


@dataclasses.dataclass(frozen=True)
class Policy:
    """Seat terms. A license copies its policy's terms when it is created, so that editing a
    policy never changes what an existing customer bought."""

    id: str
    name: str
    seats: int
    heartbeat_interval_seconds: int
    lease_lifetime_seconds: int
    seat_scope: SeatScope
    created_at: datetime

    @property
    def lease_lifetime(self) -> timedelta:
        return timedelta(seconds=self.lease_lifetime_seconds)


@dataclasses.dataclass(frozen=True)
class License:
    id: str
    key_hash: str
    customer: str
    product_id: str
    product_slug: str
    policy_id: str | None
    seats: int
    heartbeat_interval_seconds: int
    lease_lifetime_seconds: int
    seat_scope: SeatScope
    status: LicenseStatus
    expires_at: datetime | None
    created_at: datetime

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@dataclasses.dataclass(frozen=True)
class Lease:
    """One held seat.

    The lease carries a copy of the license terms it needs (key hash, product, seats,
    intervals, license expiry) so that a heartbeat reads and writes this record alone.
    """

    id: str
    license_id: str
    license_key_hash: str
    product_slug: str
    seats_total: int
    seat_key: str
    hardware_id: str
    user_email: str
    heartbeat_interval_seconds: int
    lease_lifetime_seconds: int
    license_expires_at: datetime | None
    acquired_at: datetime
    last_heartbeat_at: datetime
    expires_at: datetime
    released_at: datetime | None = None
    close_reason: CloseReason | None = None
    # The license's customer, copied so that closing a lease can write its usage record
    # without reading the license.
    customer: str = ""
    # Index of the seat counter shard this lease's seat is counted in (see `seats.shard_caps`).
    shard: int = 0

    @property
    def is_open(self) -> bool:
        return self.released_at is None

    def is_live(self, now: datetime) -> bool:
        """Return whether the lease still holds its seat at `now` (open and not expired)."""
        return self.is_open and now < self.expires_at

    def closed(self, now: datetime, reason: CloseReason) -> Lease:
        return dataclasses.replace(self, released_at=now, close_reason=reason)
