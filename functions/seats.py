"""Seat logic: the decisions behind acquire, heartbeat, release and administration.

Each function here runs inside one store transaction. It reads what it needs, decides, and
writes, and it never has effects outside the transaction, so the store may retry it whole
after a conflict. Outcomes that the client sees as errors but that still write (closing an
expired lease, for example) are returned as values rather than raised, because raising would
roll those writes back.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from functions.billing.records import DenialEvent, UsageRecord
from functions.errors import LicenseError, NoSeatAvailable, ProblemCode
from functions.identity import KeyHasher, generate_id
from functions.models import CloseReason, Lease, License, LicenseStatus
from functions.store import SeatTransaction

# Closing more leases than this in one acquire would make a single request slow. Later
# acquires or the sweep close the remaining expired leases.
RECLAIM_BATCH_LIMIT = 100

# A license's seats are counted in shards: separate counters whose caps add up to the
# license's seats, so that concurrent acquires mostly write different records. A license of
# up to SEATS_PER_SHARD seats has one shard, which keeps its acquires at one counter read.
SEATS_PER_SHARD = 20
MAX_SHARDS = 32

# Leases closed per transaction when a license is suspended or revoked. Each close writes
# three records (lease, seat, usage record) plus its shard counter once per transaction, so a
# batch stays below Firestore's limit of 500 writes per commit.
STATUS_CLOSE_BATCH = 100

_CLOSED_LICENSE_CODES = {
    CloseReason.LICENSE_SUSPENDED: ProblemCode.LICENSE_SUSPENDED,
    CloseReason.LICENSE_REVOKED: ProblemCode.LICENSE_REVOKED,
    CloseReason.LICENSE_EXPIRED: ProblemCode.LICENSE_EXPIRED,
}


@dataclasses.dataclass(frozen=True)
class Granted:
    lease: Lease
    # None on heartbeats, which do not count seats so that they touch one record only.
    seats_used: int | None
    renewed: bool


@dataclasses.dataclass(frozen=True)
class Denied:
    error: LicenseError
    license_id: str | None = None


@dataclasses.dataclass(frozen=True)
class Released:
    lease: Lease
    already_closed: bool


def license_problem(license: License, now: datetime) -> LicenseError | None:
    """Return why `license` cannot hold seats at `now`, or None if it can."""
    # Revocation is final, so it is reported before a suspension or an expiry.
    if license.status is LicenseStatus.REVOKED:
        return LicenseError(ProblemCode.LICENSE_REVOKED, "This license has been revoked.")
    if license.status is LicenseStatus.SUSPENDED:
        return LicenseError(
            ProblemCode.LICENSE_SUSPENDED,
            "This license is suspended; contact the vendor to reinstate it.",
        )
    if license.is_expired(now):
        assert license.expires_at is not None
        return LicenseError(
            ProblemCode.LICENSE_EXPIRED,
            f"This license expired at {license.expires_at.isoformat()}.",
        )
    return None


def _lease_expiry(
    now: datetime, lifetime_seconds: int, license_expires_at: datetime | None
) -> datetime:
    expiry = now + timedelta(seconds=lifetime_seconds)
    if license_expires_at is not None:
        expiry = min(expiry, license_expires_at)
    return expiry


def shard_caps(seats: int) -> list[int]:
    """Split `seats` into per-shard caps that differ by at most one and add up to `seats`."""
    count = min(MAX_SHARDS, -(-seats // SEATS_PER_SHARD))
    base, extra = divmod(seats, count)
    return [base + 1 if shard < extra else base for shard in range(count)]


def preferred_shard(seat_key: str, shard_count: int) -> int:
    """Pick the shard a seat identity tries first; seat keys are uniform hex digests."""
    return int(seat_key[:8], 16) % shard_count


def close_lease(tx: SeatTransaction, lease: Lease, now: datetime, reason: CloseReason) -> Lease:
    """Close an open lease and write its usage record in the same transaction.

    Every path that frees a seat goes through here, so no seat time escapes the ledger.
    """
    closed = lease.closed(now, reason)
    tx.update_lease(closed)
    tx.add_to_shard(lease.license_id, lease.shard, -1)
    tx.insert_usage_record(UsageRecord.for_closed_lease(closed))
    return closed


def _deny(
    tx: SeatTransaction, license: License, now: datetime, error: LicenseError, denial_id: str
) -> Denied:
    """Record a rejected acquire of a known license as a denial event, then return it."""
    tx.insert_denial(
        DenialEvent(
            id=denial_id,
            license_id=license.id,
            customer=license.customer,
            product_slug=license.product_slug,
            code=error.code.value,
            occurred_at=now,
        )
    )
    return Denied(error, license.id)


def _free_shard(caps: list[int], used: dict[int, int]) -> int | None:
    for shard, count in used.items():
        if count < caps[shard]:
            return shard
    return None


def _choose_shard(
    tx: SeatTransaction,
    license: License,
    now: datetime,
    seat_key: str,
    closing: list[Lease],
) -> tuple[int | None, dict[int, int]]:
    """Find a shard with a free seat, reading as few counters as possible.

    `closing` holds the leases this acquire will close; reclaimed expired leases are
    appended to it. Returns the chosen shard (None if every seat is held by a live lease)
    and the counts of the shards read, net of the leases in `closing`. Only reads, so the
    caller can write afterwards.
    """
    caps = shard_caps(license.seats)
    # An expired lease of the same seat frees a seat in its own shard, so try that one first.
    first = preferred_shard(seat_key, len(caps))
    if closing and closing[0].shard < len(caps):
        first = closing[0].shard

    def net_counts(shards: list[int]) -> dict[int, int]:
        counts = dict(zip(shards, tx.shard_counts(license.id, shards), strict=True))
        for lease in closing:
            if lease.shard in counts:
                counts[lease.shard] -= 1
        return counts

    used = net_counts([first])
    chosen = _free_shard(caps, used)
    if chosen is not None:
        return chosen, used

    others = [shard for shard in range(len(caps)) if shard != first]
    if others:
        used.update(net_counts(others))
        chosen = _free_shard(caps, used)
        if chosen is not None:
            return chosen, used

    # Every counter is at its cap: only now look for expired leases to reclaim, which keeps
    # the common acquire free of a query.
    closing_ids = {lease.id for lease in closing}
    for lease in tx.expired_open_leases(license.id, now, RECLAIM_BATCH_LIMIT):
        if lease.id not in closing_ids:
            closing.append(lease)
            if lease.shard in used:
                used[lease.shard] -= 1
    return _free_shard(caps, used), used


def _seats_used(
    tx: SeatTransaction,
    license: License,
    used: dict[int, int],
    closing: list[Lease],
    chosen: int | None,
) -> int:
    """Count the seats in use once this acquire commits, for the response.

    When the acquire read every shard counter the count is exact. Otherwise it comes from a
    count of open leases that takes no locks, so it may miss concurrent acquires.
    """
    granted = 1 if chosen is not None else 0
    if len(used) == len(shard_caps(license.seats)):
        return sum(used.values()) + granted
    return tx.peek_open_lease_count(license.id) - len(closing) + granted


def acquire(
    tx: SeatTransaction,
    hasher: KeyHasher,
    now: datetime,
    key_hash: str,
    hardware_id: str,
    user_email: str,
    denial_id: str,
) -> Granted | Denied:
    """Grant a seat, or return the live lease that already holds this seat identity.

    Safe to retry: the seat identity is looked up first, so a repeated acquire finds the
    lease that a previous attempt created instead of taking a second seat. A denial is
    recorded under `denial_id`, which the caller picks once for all attempts, so that a
    retried denial replaces the record of an earlier attempt instead of adding one.
    """
    license = tx.license_by_key_hash(key_hash)
    if license is None:
        return Denied(
            LicenseError(ProblemCode.LICENSE_NOT_FOUND, "No license matches this license key.")
        )
    problem = license_problem(license, now)
    if problem is not None:
        return _deny(tx, license, now, problem, denial_id)

    seat_key = hasher.seat_key(license.id, license.seat_scope, hardware_id, user_email)
    existing = tx.open_lease_for_seat(license.id, seat_key)
    if existing is not None and existing.is_live(now):
        # Under a per-user seat scope the same user may come back from another device. The
        # seat moves with them, so the previous device's heartbeats stop matching.
        renewed = dataclasses.replace(
            existing,
            hardware_id=hardware_id,
            license_expires_at=license.expires_at,
            last_heartbeat_at=now,
            expires_at=_lease_expiry(now, license.lease_lifetime_seconds, license.expires_at),
        )
        seats_used = _seats_used(tx, license, {}, [], None)
        tx.update_lease(renewed)
        return Granted(renewed, seats_used, renewed=True)

    # Every read happens before the first write (a Firestore rule), so the leases to close
    # are collected first and closed together with the insert.
    closing = [existing] if existing is not None else []
    shard, used = _choose_shard(tx, license, now, seat_key, closing)
    seats_used = _seats_used(tx, license, used, closing, shard)
    for lease in closing:
        close_lease(tx, lease, now, CloseReason.EXPIRED)
    if shard is None:
        return _deny(tx, license, now, NoSeatAvailable(seats_used, license.seats), denial_id)

    lease = Lease(
        id=generate_id("lease"),
        license_id=license.id,
        license_key_hash=license.key_hash,
        product_slug=license.product_slug,
        seats_total=license.seats,
        seat_key=seat_key,
        hardware_id=hardware_id,
        user_email=user_email,
        heartbeat_interval_seconds=license.heartbeat_interval_seconds,
        lease_lifetime_seconds=license.lease_lifetime_seconds,
        license_expires_at=license.expires_at,
        acquired_at=now,
        last_heartbeat_at=now,
        expires_at=_lease_expiry(now, license.lease_lifetime_seconds, license.expires_at),
        customer=license.customer,
        shard=shard,
    )
    tx.insert_lease(lease)
    tx.add_to_shard(license.id, shard, 1)
    return Granted(lease, seats_used, renewed=False)


def _owned_lease(
    tx: SeatTransaction, lease_id: str, key_hash: str, hardware_id: str
) -> Lease | LicenseError:
    lease = tx.lease(lease_id)
    if lease is None:
        return LicenseError(ProblemCode.LEASE_NOT_FOUND, f"No lease has the id {lease_id!r}.")
    # Both checks run whatever the first one found, so the timing does not tell which failed.
    key_matches = KeyHasher.matches(lease.license_key_hash, key_hash)
    hardware_matches = KeyHasher.matches(lease.hardware_id, hardware_id)
    if not (key_matches and hardware_matches):
        return LicenseError(
            ProblemCode.LEASE_OWNER_MISMATCH,
            "The license key or hardware_id does not match the ones this lease was granted to.",
        )
    return lease


def _closed_lease_problem(lease: Lease) -> LicenseError:
    assert lease.close_reason is not None
    code = _CLOSED_LICENSE_CODES.get(lease.close_reason)
    if code is ProblemCode.LICENSE_SUSPENDED:
        # The license may have been reinstated since; the lease stays closed either way.
        return LicenseError(
            code,
            "This lease was closed when its license was suspended. If the license has been "
            "reinstated since, acquire a new lease.",
        )
    if code is not None:
        return LicenseError(code, f"This lease was closed because of {lease.close_reason.value}.")
    return LicenseError(
        ProblemCode.LEASE_EXPIRED,
        f"This lease is no longer held (closed: {lease.close_reason.value}); acquire a new one.",
    )


def _with_extended_license(tx: SeatTransaction, lease: Lease, now: datetime) -> Lease | None:
    """Return the lease with its license's new expiry if the license was extended past `now`.

    Only a lease whose copy of the license expiry has passed reads the license, so heartbeats
    still read the lease alone otherwise. Returns None if the license did not get a later
    expiry or cannot hold seats.
    """
    license = tx.license(lease.license_id)
    if license is None or license_problem(license, now) is not None:
        return None
    # The lease's own expiry was capped at the old license expiry; recompute it from the last
    # heartbeat, as if the license had always had the new expiry.
    natural_expiry = _lease_expiry(
        lease.last_heartbeat_at, lease.lease_lifetime_seconds, license.expires_at
    )
    return dataclasses.replace(
        lease, license_expires_at=license.expires_at, expires_at=natural_expiry
    )


def extend_license(
    tx: SeatTransaction, now: datetime, license_id: str, expires_at: datetime | None
) -> License | None:
    """Move a license's expiry later (or remove it); return None if no license has that id.

    Open leases keep their copy of the old expiry; a heartbeat past it reads the license and
    takes the new one. Raises `StatusChangeRejected` for an earlier or past expiry.
    """
    license = tx.license(license_id)
    if license is None:
        return None
    if license.status is LicenseStatus.REVOKED:
        raise StatusChangeRejected(f"License {license_id} is revoked; its expiry cannot change.")
    if expires_at is not None:
        if expires_at <= now:
            raise StatusChangeRejected(
                f"The new expiry {expires_at.isoformat()} is in the past; give a future time."
            )
        if license.expires_at is None or expires_at <= license.expires_at:
            current = license.expires_at.isoformat() if license.expires_at else "never"
            raise StatusChangeRejected(
                f"License {license_id} expires {current}; an expiry can only move later. "
                "To end a license early, suspend or revoke it."
            )
    tx.set_license_expiry(license_id, expires_at)
    return dataclasses.replace(license, expires_at=expires_at)


def heartbeat(
    tx: SeatTransaction, now: datetime, lease_id: str, key_hash: str, hardware_id: str
) -> Granted | Denied:
    """Extend a live lease. A closed or expired lease is never revived.

    Reads and writes the lease record alone, so heartbeats of different clients never
    touch a shared record.
    """
    owned = _owned_lease(tx, lease_id, key_hash, hardware_id)
    if isinstance(owned, LicenseError):
        return Denied(owned)
    lease = owned
    if not lease.is_open:
        return Denied(_closed_lease_problem(lease), lease.license_id)
    if lease.license_expires_at is not None and now >= lease.license_expires_at:
        extended = _with_extended_license(tx, lease, now)
        if extended is None:
            closed = close_lease(tx, lease, now, CloseReason.LICENSE_EXPIRED)
            return Denied(_closed_lease_problem(closed), lease.license_id)
        lease = extended
    if not lease.is_live(now):
        closed = close_lease(tx, lease, now, CloseReason.EXPIRED)
        return Denied(_closed_lease_problem(closed), lease.license_id)

    renewed = dataclasses.replace(
        lease,
        last_heartbeat_at=now,
        expires_at=_lease_expiry(now, lease.lease_lifetime_seconds, lease.license_expires_at),
    )
    tx.update_lease(renewed)
    return Granted(renewed, seats_used=None, renewed=True)


def release(
    tx: SeatTransaction, now: datetime, lease_id: str, key_hash: str, hardware_id: str
) -> Released | Denied:
    """Close a lease. Releasing a lease that is already closed succeeds and changes nothing."""
    owned = _owned_lease(tx, lease_id, key_hash, hardware_id)
    if isinstance(owned, LicenseError):
        return Denied(owned)
    lease = owned
    if not lease.is_open:
        return Released(lease, already_closed=True)
    # A lease past its lifetime lost its seat at expiry; recording it as expired keeps the
    # close reason truthful for usage accounting.
    reason = CloseReason.RELEASED if lease.is_live(now) else CloseReason.EXPIRED
    return Released(close_lease(tx, lease, now, reason), already_closed=False)


def force_release(tx: SeatTransaction, now: datetime, lease_id: str) -> Released | None:
    """Close a lease on an operator's request; return None if no lease has that id."""
    lease = tx.lease(lease_id)
    if lease is None:
        return None
    if not lease.is_open:
        return Released(lease, already_closed=True)
    return Released(close_lease(tx, lease, now, CloseReason.FORCE_RELEASED), already_closed=False)


class StatusChangeRejected(ValueError):
    """A license status change that the license's current status does not allow."""


_STATUS_CLOSE_REASONS = {
    LicenseStatus.SUSPENDED: CloseReason.LICENSE_SUSPENDED,
    LicenseStatus.REVOKED: CloseReason.LICENSE_REVOKED,
}


def set_license_status(
    tx: SeatTransaction, now: datetime, license_id: str, status: LicenseStatus
) -> tuple[License, int] | None:
    """Change a license's status; suspending or revoking closes its open leases.

    Returns the updated license and the number of leases closed, or None if no license has
    that id. Closing the leases here is what makes a suspension take effect at the next
    heartbeat without the heartbeat reading the license. At most STATUS_CLOSE_BATCH leases
    are closed here; when that many were, the caller runs `close_license_leases` until it
    returns 0.
    """
    license = tx.license(license_id)
    if license is None:
        return None
    if license.status is LicenseStatus.REVOKED and status is not LicenseStatus.REVOKED:
        raise StatusChangeRejected(
            f"License {license_id} is revoked, and revocation is final; "
            "create a new license instead."
        )
    reason = _STATUS_CLOSE_REASONS.get(status)
    to_close = tx.open_leases(license_id, STATUS_CLOSE_BATCH) if reason is not None else []
    tx.set_license_status(license_id, status)
    for lease in to_close:
        assert reason is not None
        close_lease(tx, lease, now, reason)
    return dataclasses.replace(license, status=status), len(to_close)


def close_license_leases(tx: SeatTransaction, now: datetime, license_id: str) -> int:
    """Close the next batch of open leases of a suspended or revoked license; return how many.

    The license is read again, so a license reinstated meanwhile keeps its leases.
    """
    license = tx.license(license_id)
    reason = _STATUS_CLOSE_REASONS.get(license.status) if license is not None else None
    if reason is None:
        return 0
    to_close = tx.open_leases(license_id, STATUS_CLOSE_BATCH)
    for lease in to_close:
        close_lease(tx, lease, now, reason)
    return len(to_close)


def close_if_expired(tx: SeatTransaction, now: datetime, lease_id: str) -> Lease | None:
    """Close one lease if it is still open and expired; return the closed lease, else None.

    The sweep calls this per lease it found outside a transaction, so the lease is read again
    here: a heartbeat or release may have changed it since.
    """
    lease = tx.lease(lease_id)
    if lease is None or not lease.is_open or lease.is_live(now):
        return None
    return close_lease(tx, lease, now, CloseReason.EXPIRED)
