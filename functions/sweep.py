"""Sweep: close leases whose lifetime ran out, for a scheduler to call.

Acquire already reclaims expired leases of a license when its seats run out, so the seat
cap never depends on the sweep. The sweep keeps the records truthful between acquires: open
leases of clients that vanished get closed (and so reach usage accounting) within one
schedule period. It works in bounded batches so that one call has a bounded cost.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import flask

from functions import app as app_module
from functions import seats
from functions.billing.pressure import SEAT_PRESSURE_EVENT, pressure_seats
from functions.clock import Clock
from functions.config import Settings
from functions.errors import LicenseError, ProblemCode
from functions.models import Lease, LicenseStatus
from functions.service import LicenseService
from functions.store import SeatStore, SeatTransaction

log = logging.getLogger(__name__)

SWEEP_BATCH_SIZE = 100
SWEEP_MAX_BATCHES = 10


@dataclasses.dataclass(frozen=True)
class SweepResult:
    # Expired open leases the queries returned.
    found: int
    closed: int
    # Leases left open because a heartbeat or release changed them first, or a transaction
    # failed. The next sweep or acquire finds them again if they are still expired.
    skipped: int
    batches: int
    # False when the batch limit stopped the sweep while more expired leases may remain.
    complete: bool


def sweep_expired(
    store: SeatStore,
    clock: Clock,
    *,
    batch_size: int = SWEEP_BATCH_SIZE,
    max_batches: int = SWEEP_MAX_BATCHES,
) -> SweepResult:
    """Close up to `batch_size * max_batches` expired open leases, one transaction each."""
    now = clock.now()
    found = closed = skipped = batches = 0
    for _ in range(max_batches):
        lease_ids = store.expired_open_lease_ids(now, batch_size)
        if not lease_ids:
            return SweepResult(found, closed, skipped, batches, complete=True)
        batches += 1
        found += len(lease_ids)
        closed_in_batch = sum(
            _close_one(store, now, lease_id) is not None for lease_id in lease_ids
        )
        closed += closed_in_batch
        skipped += len(lease_ids) - closed_in_batch
        if len(lease_ids) < batch_size:
            return SweepResult(found, closed, skipped, batches, complete=True)
        if closed_in_batch == 0:
            # Nothing in this batch could be closed, so the next query would return it again.
            break
    return SweepResult(found, closed, skipped, batches, complete=False)


def _close_one(store: SeatStore, now: datetime, lease_id: str) -> Lease | None:
    def work(tx: SeatTransaction) -> Lease | None:
        return seats.close_if_expired(tx, now, lease_id)

    try:
        return store.run_transaction(work)
    except LicenseError as error:
        # A contended lease is left for the next sweep rather than failing the whole batch.
        log.warning("sweep could not close lease", extra={"lease_id": lease_id, "code": error.code})
        return None


@dataclasses.dataclass(frozen=True)
class PressureCheck:
    licenses_checked: int
    licenses_under_pressure: int


def check_seat_pressure(store: SeatStore, threshold: Decimal) -> PressureCheck:
    """Log a seat-pressure event for each active license whose seats in use reach `threshold`.

    Runs after the sweep, so the seat counters no longer include expired leases. The event has
    the same name as the monthly report's, so one log-based alert covers both.
    """
    checked = under_pressure = 0
    for license in store.list_licenses():
        if license.status is not LicenseStatus.ACTIVE:
            continue
        checked += 1
        in_use = sum(store.seat_counters(license.id).values())
        level = pressure_seats(license.seats, threshold)
        if in_use < level:
            continue
        under_pressure += 1
        log.warning(
            "License %s has %d of %d seats in use",
            license.id,
            in_use,
            license.seats,
            extra={
                "event": SEAT_PRESSURE_EVENT,
                "source": "sweep",
                "license_id": license.id,
                "customer": license.customer,
                "seats": license.seats,
                "seats_in_use": in_use,
                "pressure_seats": level,
                "threshold": str(threshold),
            },
        )
    return PressureCheck(checked, under_pressure)


def handle_sweep(
    request: flask.Request,
    service_factory: Callable[[], LicenseService] = app_module.service,
) -> flask.Response:
    """Handle a scheduler's POST: sweep, then return the counts as JSON."""
    # Imported here because functions.http imports the application module as well.
    from functions.http import json_response, problem_response

    if request.method != "POST":
        return problem_response(
            ProblemCode.METHOD_NOT_ALLOWED,
            f"{request.method} is not allowed on the sweep; use POST.",
            headers={"Allow": "POST"},
        )
    try:
        service = service_factory()
        result = sweep_expired(service.store, service.clock)
        pressure = check_seat_pressure(service.store, Settings.from_env().seat_pressure_threshold)
    except Exception:
        log.exception("sweep failed")
        return problem_response(ProblemCode.INTERNAL_ERROR, "The sweep failed; it has been logged.")
    body = {**dataclasses.asdict(result), **dataclasses.asdict(pressure)}
    log.info("sweep finished", extra=body)
    return json_response(body)
