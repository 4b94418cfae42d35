"""Administration shared by the admin CLI and the local demo seed."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime

from functions import seats
from functions.clock import Clock
from functions.identity import KeyHasher, generate_id, generate_license_key
from functions.models import Lease, License, LicenseStatus, Policy, Product, SeatScope
from functions.store import SeatStore, SeatTransaction

_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")

# One day: the JWKS keeps a retired signing key this long (LICENSE_MAX_LEASE_LIFETIME_SECONDS
# defaults to the same value), so no token outlives the key that verifies it.
MAX_LEASE_LIFETIME_SECONDS = 86_400
MAX_SEATS = 100_000

DEFAULT_HEARTBEAT_INTERVAL_SECONDS = 60
DEFAULT_LEASE_LIFETIME_SECONDS = 180


class AdminError(ValueError):
    """An administrative request names something that does not exist or is invalid."""


@dataclasses.dataclass(frozen=True)
class SeatTerms:
    seats: int
    heartbeat_interval_seconds: int = DEFAULT_HEARTBEAT_INTERVAL_SECONDS
    lease_lifetime_seconds: int = DEFAULT_LEASE_LIFETIME_SECONDS
    seat_scope: SeatScope = SeatScope.DEVICE_AND_USER

    def __post_init__(self) -> None:
        if not 1 <= self.seats <= MAX_SEATS:
            raise AdminError(f"seats must be from 1 to {MAX_SEATS}, got {self.seats}.")
        if self.heartbeat_interval_seconds < 1:
            raise AdminError(
                "heartbeat interval must be at least 1 second, "
                f"got {self.heartbeat_interval_seconds}."
            )
        if self.lease_lifetime_seconds > MAX_LEASE_LIFETIME_SECONDS:
            raise AdminError(
                f"lease lifetime must be at most {MAX_LEASE_LIFETIME_SECONDS} s (one day), got "
                f"{self.lease_lifetime_seconds}; clients send heartbeats to keep longer use."
            )
        if self.lease_lifetime_seconds <= self.heartbeat_interval_seconds:
            raise AdminError(
                f"lease lifetime ({self.lease_lifetime_seconds} s) must be longer than the "
                f"heartbeat interval ({self.heartbeat_interval_seconds} s), or every lease "
                "would lapse between two heartbeats."
            )


@dataclasses.dataclass(frozen=True)
class CreatedLicense:
    license: License
    key: str


class Admin:
    def __init__(self, store: SeatStore, hasher: KeyHasher, clock: Clock) -> None:
        self.store = store
        self.hasher = hasher
        self.clock = clock

    def create_product(self, slug: str, name: str | None = None) -> Product:
        # The slug becomes the token audience that clients compare, so it is kept to a
        # plain, unambiguous form.
        if not _SLUG.fullmatch(slug):
            raise AdminError(
                f"Invalid product slug {slug!r}: use 1 to 63 lowercase letters, digits, '.', "
                "'_' or '-', starting with a letter or digit, like demo or cad-pro."
            )
        if self.store.product_by_slug(slug) is not None:
            raise AdminError(f"A product with slug {slug!r} already exists.")
        product = Product(generate_id("prod"), slug, name or slug, self.clock.now())
        self.store.create_product(product)
        return product

    def create_policy(self, name: str, terms: SeatTerms) -> Policy:
        if self.store.policy_by_name(name) is not None:
            raise AdminError(f"A policy named {name!r} already exists.")
        policy = Policy(
            id=generate_id("pol"),
            name=name,
            seats=terms.seats,
            heartbeat_interval_seconds=terms.heartbeat_interval_seconds,
            lease_lifetime_seconds=terms.lease_lifetime_seconds,
            seat_scope=terms.seat_scope,
            created_at=self.clock.now(),
        )
        self.store.create_policy(policy)
        return policy

    def create_license(
        self,
        product_slug: str,
        customer: str,
        terms: SeatTerms,
        *,
        policy_id: str | None = None,
        expires_at: datetime | None = None,
    ) -> CreatedLicense:
        if not customer.strip() or not customer.isprintable():
            raise AdminError(
                "The customer must be a non-empty name or id without control characters."
            )
        product = self.store.product_by_slug(product_slug)
        if product is None:
            raise AdminError(
                f"No product has the slug {product_slug!r}; create it with "
                f"`products create {product_slug}`."
            )
        key = generate_license_key()
        license = License(
            id=generate_id("lic"),
            key_hash=self.hasher.license_key_hash(key),
            customer=customer,
            product_id=product.id,
            product_slug=product.slug,
            policy_id=policy_id,
            seats=terms.seats,
            heartbeat_interval_seconds=terms.heartbeat_interval_seconds,
            lease_lifetime_seconds=terms.lease_lifetime_seconds,
            seat_scope=terms.seat_scope,
            status=LicenseStatus.ACTIVE,
            expires_at=expires_at,
            created_at=self.clock.now(),
        )
        self.store.create_license(license)
        return CreatedLicense(license, key)

    def set_status(self, license_id: str, status: LicenseStatus) -> tuple[License, int]:
        now = self.clock.now()

        def work(tx: SeatTransaction) -> tuple[License, int] | None:
            return seats.set_license_status(tx, now, license_id, status)

        try:
            result = self.store.run_transaction(work)
        except seats.StatusChangeRejected as error:
            raise AdminError(str(error)) from None
        if result is None:
            raise AdminError(f"No license has the id {license_id!r}.")
        license, closed = result
        batch = closed
        # Leases beyond the first batch are closed in further transactions, one batch each.
        while batch == seats.STATUS_CLOSE_BATCH:

            def close_batch(tx: SeatTransaction) -> int:
                return seats.close_license_leases(tx, now, license_id)

            batch = self.store.run_transaction(close_batch)
            closed += batch
        return license, closed

    def extend_license(self, license_id: str, expires_at: datetime | None) -> License:
        """Move a license's expiry later, or remove it with None."""
        now = self.clock.now()

        def work(tx: SeatTransaction) -> License | None:
            return seats.extend_license(tx, now, license_id, expires_at)

        try:
            result = self.store.run_transaction(work)
        except seats.StatusChangeRejected as error:
            raise AdminError(str(error)) from None
        if result is None:
            raise AdminError(f"No license has the id {license_id!r}.")
        return result

    def force_release(self, lease_id: str) -> Lease:
        return self.release_lease(lease_id).lease

    def release_lease(self, lease_id: str) -> seats.Released:
        """Close a lease for an operator; a lease that is already closed stays as it was."""
        now = self.clock.now()

        def work(tx: SeatTransaction) -> seats.Released | None:
            return seats.force_release(tx, now, lease_id)

        result = self.store.run_transaction(work)
        if result is None:
            raise AdminError(f"No lease has the id {lease_id!r}.")
        return result


DEMO_PRODUCT = "demo"


def seed_demo(admin: Admin) -> CreatedLicense | None:
    """On an empty store, create the `demo` product and a two-seat license; else do nothing."""
    if admin.store.list_licenses():
        return None
    if admin.store.product_by_slug(DEMO_PRODUCT) is None:
        admin.create_product(DEMO_PRODUCT, "Demo product")
    return admin.create_license(DEMO_PRODUCT, "demo-customer", SeatTerms(seats=2))
