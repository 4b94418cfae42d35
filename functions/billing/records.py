"""Ledger records and price plans, as plain frozen dataclasses that any store can persist.

Billable time rule: a lease is billed from `acquired_at` to its billable end, which is

* the close time when the client released a live lease itself, and otherwise
* the earliest of the close time, the last heartbeat plus one heartbeat interval, and the
  license expiry.

A client that goes silent therefore stops paying one heartbeat interval after its last sign of
life, not when the server notices the expiry (which can be a full lease lifetime later). An
operator's force-release or a suspension ends billing at the same point for a silent client and
at the close for a client that heartbeats on time.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from datetime import datetime, timedelta
from decimal import Decimal

from functions.identity import hardware_id_sha256
from functions.models import CloseReason, Lease

_ONE_MICROSECOND = Decimal("0.000001")


def seconds_between(start: datetime, end: datetime) -> Decimal:
    """Return `end - start` in seconds as an exact decimal with microsecond precision."""
    delta = end - start
    microseconds = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return Decimal(microseconds) * _ONE_MICROSECOND


def user_email_sha256(user_email: str) -> str:
    """Return the unkeyed SHA-256 of a canonical user email, used to count distinct users."""
    return hashlib.sha256(b"user\x00" + user_email.encode("utf-8")).hexdigest()


def billable_end(lease: Lease) -> datetime:
    """Return the end of the billable time of a closed lease (see the module docstring)."""
    if lease.released_at is None:
        raise ValueError(
            f"Lease {lease.id} is still open, and only a closed lease has a billable end."
        )
    if lease.close_reason is CloseReason.RELEASED:
        return lease.released_at
    end = min(
        lease.released_at,
        lease.last_heartbeat_at + timedelta(seconds=lease.heartbeat_interval_seconds),
    )
    if lease.license_expires_at is not None:
        end = min(end, lease.license_expires_at)
    return max(end, lease.acquired_at)


@dataclasses.dataclass(frozen=True)
class UsageRecord:
    """One closed lease in the usage ledger: who held a seat, from when to when, and why it ended.

    `ended_at` is the billable end, `closed_at` the time the lease was closed. The lease id is the
    record's key, so a lease can be recorded once only.
    """

    lease_id: str
    license_id: str
    customer: str
    product_slug: str
    seat_key: str
    device_hash: str
    user_hash: str
    acquired_at: datetime
    ended_at: datetime
    closed_at: datetime
    close_reason: CloseReason

    @property
    def seconds_held(self) -> Decimal:
        return seconds_between(self.acquired_at, self.ended_at)

    @classmethod
    def for_closed_lease(cls, lease: Lease) -> UsageRecord:
        if lease.released_at is None or lease.close_reason is None:
            raise ValueError(f"Lease {lease.id} is still open. Close it before recording it.")
        return cls(
            lease_id=lease.id,
            license_id=lease.license_id,
            customer=lease.customer,
            product_slug=lease.product_slug,
            seat_key=lease.seat_key,
            device_hash=hardware_id_sha256(lease.hardware_id),
            user_hash=user_email_sha256(lease.user_email),
            acquired_at=lease.acquired_at,
            ended_at=billable_end(lease),
            closed_at=lease.released_at,
            close_reason=lease.close_reason,
        )


@dataclasses.dataclass(frozen=True)
class DenialEvent:
    """One rejected acquire of a known license, with the problem code the client received."""

    id: str
    license_id: str
    customer: str
    product_slug: str
    code: str
    occurred_at: datetime


class CommitmentKind(enum.StrEnum):
    """Kind of quantity that a price plan includes for its commitment price."""

    NONE = "none"
    # A number of seat-hours per calendar month.
    SEAT_HOURS = "seat_hours"
    # A number of concurrent seats for the whole month.
    SEATS = "seats"


class MoneyRounding(enum.StrEnum):
    """Rounding mode for amounts in the currency's minor unit. Values name `decimal` modes."""

    HALF_UP = "ROUND_HALF_UP"
    HALF_EVEN = "ROUND_HALF_EVEN"
    UP = "ROUND_UP"
    DOWN = "ROUND_DOWN"


@dataclasses.dataclass(frozen=True)
class PricePlan:
    """One version of the price of a product, or of one license, from `effective_from` on.

    A license's own plan takes precedence over its product's plan. A newer version replaces an
    older one from its `effective_from`, so changing a price never rewrites an earlier period.
    """

    id: str
    product_slug: str | None
    license_id: str | None
    effective_from: datetime
    currency: str
    price_per_seat_hour: Decimal
    commitment: CommitmentKind
    # Seat-hours per month or seats, depending on `commitment`. Zero without a commitment.
    included_quantity: Decimal
    overage_price_per_seat_hour: Decimal
    # Seat time of one invoice line is rounded up to a whole multiple of this many seconds.
    granularity_seconds: int
    rounding: MoneyRounding
    created_at: datetime

    def __post_init__(self) -> None:
        if (self.product_slug is None) == (self.license_id is None):
            raise ValueError("A price plan applies to exactly one product or one license.")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise ValueError(f"currency {self.currency!r} is not an ISO 4217 code such as EUR.")
        for name in ("price_per_seat_hour", "overage_price_per_seat_hour", "included_quantity"):
            value: Decimal = getattr(self, name)
            if not value.is_finite() or value < 0:
                raise ValueError(f"{name} must be a finite, non-negative decimal, got {value}.")
        if self.commitment is CommitmentKind.NONE and self.included_quantity != 0:
            raise ValueError("included_quantity must be 0 for a plan without a commitment.")
        if self.commitment is not CommitmentKind.NONE and self.included_quantity <= 0:
            raise ValueError(f"A {self.commitment.value} commitment needs included_quantity > 0.")
        if self.commitment is CommitmentKind.SEATS and self.included_quantity % 1 != 0:
            raise ValueError(
                f"A seats commitment needs a whole number of seats, got {self.included_quantity}."
            )
        if self.granularity_seconds < 1:
            raise ValueError(
                f"granularity_seconds must be at least 1, got {self.granularity_seconds}."
            )

    @property
    def applies_to(self) -> str:
        return f"license {self.license_id}" if self.license_id else f"product {self.product_slug}"


@dataclasses.dataclass(frozen=True)
class ClosedPeriod:
    """A frozen calendar month: its report, serialized once when the month was closed."""

    month: str
    closed_at: datetime
    report_json: str


class BillingError(ValueError):
    """A billing request is invalid: an unknown month, a plan for a closed period, and so on."""


class PeriodAlreadyClosed(BillingError):
    def __init__(self, month: str) -> None:
        super().__init__(f"The period {month} is already closed; its report is frozen.")
        self.month = month
