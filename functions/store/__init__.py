"""Seat store interface.

A store runs a caller's function inside one transaction: the function reads, decides and
writes through a `SeatTransaction`, and the store retries the whole function when the
transaction conflicts with a concurrent one. The seat logic lives in `functions.seats`. A
store only persists records and has no HTTP concerns.

A function must make all its reads before its first write, because Firestore transactions
require that order. Writes need not be visible to later reads of the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from functions.billing.records import ClosedPeriod, DenialEvent, PricePlan, UsageRecord
from functions.models import Lease, License, LicenseStatus, Policy, Product

T = TypeVar("T")


class SeatTransaction(Protocol):
    """Reads and writes of one transaction. Writes become visible only when it commits."""

    def license_by_key_hash(self, key_hash: str) -> License | None: ...

    def license(self, license_id: str) -> License | None: ...

    def lease(self, lease_id: str) -> Lease | None: ...

    def open_lease_for_seat(self, license_id: str, seat_key: str) -> Lease | None:
        """Return the open (not closed) lease holding `seat_key`, live or expired."""
        ...

    def shard_counts(self, license_id: str, shards: Sequence[int]) -> list[int]:
        """Return the seats in use counted in each of `shards` (0 for a shard never written).

        The values are read inside the transaction, so a decision based on them is safe.
        """
        ...

    def peek_open_lease_count(self, license_id: str) -> int:
        """Count the open leases of a license (expired ones too) for reporting only.

        The count may be read without transaction isolation and so miss concurrent commits
        and this transaction's own writes; never base the seat cap on it.
        """
        ...

    def add_to_shard(self, license_id: str, shard: int, delta: int) -> None:
        """Add `delta` (positive or negative) to the seats-in-use counter of one shard."""
        ...

    def expired_open_leases(self, license_id: str, now: datetime, limit: int) -> list[Lease]:
        """Return up to `limit` open leases of a license with `expires_at` at or before `now`."""
        ...

    def open_leases(self, license_id: str, limit: int) -> list[Lease]:
        """Return up to `limit` open leases of a license, live or expired."""
        ...

    def insert_lease(self, lease: Lease) -> None: ...

    def update_lease(self, lease: Lease) -> None: ...

    def set_license_status(self, license_id: str, status: LicenseStatus) -> None: ...

    def set_license_expiry(self, license_id: str, expires_at: datetime | None) -> None:
        """Change the expiry of a license read earlier in this transaction."""
        ...

    # Usage ledger. Both writes belong to the transaction of the state change they record.

    def insert_usage_record(self, record: UsageRecord) -> None:
        """Insert the usage record of a closed lease; a second record for one lease fails."""
        ...

    def insert_denial(self, event: DenialEvent) -> None:
        """Insert a denial event; one with the same id, from an earlier attempt, is replaced."""
        ...


class SeatStore(Protocol):
    def run_transaction(self, work: Callable[[SeatTransaction], T]) -> T:
        """Run `work` in one transaction, retrying it whole on conflicts.

        `work` must be free of side effects outside the transaction, because it may run
        more than once. Raises `functions.errors.StoreContention` when attempts run out.
        """
        ...

    # Administration: products, policies and licenses change rarely and outside the seat path.

    def create_product(self, product: Product) -> None: ...

    def product_by_slug(self, slug: str) -> Product | None: ...

    def list_products(self) -> Sequence[Product]: ...

    def create_policy(self, policy: Policy) -> None: ...

    def policy_by_name(self, name: str) -> Policy | None: ...

    def list_policies(self) -> Sequence[Policy]: ...

    def create_license(self, license: License) -> None: ...

    def list_licenses(self) -> Sequence[License]: ...

    def list_open_leases(self, license_id: str | None = None) -> Sequence[Lease]: ...

    def expired_open_lease_ids(self, now: datetime, limit: int) -> Sequence[str]:
        """Return the ids of up to `limit` open leases of any license that expired by `now`.

        Read outside a transaction: the caller re-reads each lease in its own transaction.
        """
        ...

    def seat_counters(self, license_id: str) -> dict[int, int]:
        """Return every shard counter of a license, keyed by shard, for checks and reports."""
        ...

    # Billing: reads of the usage ledger, price plans and closed periods.

    def usage_records(self, start: datetime, end: datetime) -> Sequence[UsageRecord]:
        """Return the records whose lease was acquired before `end` and ended at or after
        `start`, ordered by lease acquisition time."""
        ...

    def denials(self, start: datetime, end: datetime) -> Sequence[DenialEvent]:
        """Return the denial events that occurred in `[start, end)`, oldest first."""
        ...

    def insert_price_plan(self, plan: PricePlan) -> None: ...

    def list_price_plans(self) -> Sequence[PricePlan]:
        """Return every price plan version, ordered by `effective_from`."""
        ...

    def insert_closed_period(self, period: ClosedPeriod) -> None:
        """Store a closed period; raises
        `functions.billing.records.PeriodAlreadyClosed` if the month is closed."""
        ...

    def list_closed_periods(self) -> Sequence[ClosedPeriod]:
        """Return every closed period, ordered by month."""
        ...

    def close(self) -> None: ...
