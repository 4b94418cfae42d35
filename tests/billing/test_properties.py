"""Property: billed seat time equals the integral of concurrent seats, checked by brute force.

Random schedules of acquires, heartbeats, releases and silent clients run through the real
license service on a manual clock that starts two minutes before a month ends. A model in this
file predicts, from the schedule alone, which seat each client holds and until when its seat is
billable. Seat counts are then summed second by second, independently of the billing code.
"""

from __future__ import annotations

import dataclasses
import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.admin import SeatTerms
from functions.billing.intervals import concurrency_steps, peak
from functions.billing.periods import Month
from functions.billing.reports import build_base_report
from functions.errors import LicenseError, ProblemCode
from functions.models import LicenseStatus
from tests.billing.conftest import Billing, open_billing

SEATS = 3
CLIENTS = 5
INTERVAL = 10
LIFETIME = 30
START = datetime(2026, 11, 30, 23, 58, tzinfo=UTC)
BOUNDARY = 120  # seconds from START to the first instant of December

ACTIONS = ("acquire", "heartbeat", "release", "idle")
steps_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=CLIENTS - 1),
        st.sampled_from(ACTIONS),
        st.integers(min_value=0, max_value=2 * LIFETIME),
    ),
    min_size=1,
    max_size=30,
)
FINISHES = ("suspend", "force_release", "release_then_force")


@dataclasses.dataclass
class ModelLease:
    lease_id: str
    acquired: int
    last_heartbeat: int

    def is_live(self, now: int) -> bool:
        return now < self.last_heartbeat + LIFETIME

    def capped_end(self, now: int) -> int:
        return min(now, self.last_heartbeat + INTERVAL)


def brute_force(intervals: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """Return (seat-seconds, peak seats) over `[start, end)` by counting every second."""
    total = 0
    highest = 0
    for second in range(start, end):
        held = sum(1 for first, last in intervals if first <= second < last)
        total += held
        highest = max(highest, held)
    return total, highest


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(steps=steps_strategy, finish=st.sampled_from(FINISHES), tail=st.integers(0, 100))
def test_billed_seconds_match_brute_force(
    steps: list[tuple[int, str, int]], finish: str, tail: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        billing = open_billing(Path(directory), START)
        try:
            run_schedule(billing, steps, finish, tail)
        finally:
            billing.store.close()


def run_schedule(
    billing: Billing, steps: list[tuple[int, str, int]], finish: str, tail: int
) -> None:
    billing.admin.create_product("cad")
    created = billing.admin.create_license(
        "cad",
        "acme",
        SeatTerms(
            seats=SEATS, heartbeat_interval_seconds=INTERVAL, lease_lifetime_seconds=LIFETIME
        ),
    )
    key = created.key
    held: dict[int, ModelLease] = {}
    billed: list[tuple[int, int]] = []
    expected_denials = 0
    now = 0

    def hardware(client: int) -> str:
        return f"hw-{client}"

    for client, action, advance in steps:
        billing.clock.advance(advance)
        now += advance
        lease = held.get(client)
        if action == "acquire":
            if lease is not None and lease.is_live(now):
                grant = billing.service.acquire(key, hardware(client), f"{client}@example.com")
                assert grant.renewed
                assert grant.lease.id == lease.lease_id
                lease.last_heartbeat = now
                continue
            if lease is not None:
                billed.append((lease.acquired, lease.capped_end(now)))
                del held[client]
            live = sum(1 for other in held.values() if other.is_live(now))
            if live < SEATS:
                grant = billing.service.acquire(key, hardware(client), f"{client}@example.com")
                assert not grant.renewed
                held[client] = ModelLease(grant.lease.id, now, now)
            else:
                try:
                    billing.service.acquire(key, hardware(client), f"{client}@example.com")
                except LicenseError as error:
                    assert error.code is ProblemCode.NO_SEAT_AVAILABLE
                    expected_denials += 1
                else:
                    raise AssertionError(f"acquire at {now} s should have found every seat taken")
        elif action == "heartbeat" and lease is not None:
            if lease.is_live(now):
                billing.service.heartbeat(lease.lease_id, key, hardware(client))
                lease.last_heartbeat = now
            else:
                try:
                    billing.service.heartbeat(lease.lease_id, key, hardware(client))
                except LicenseError as error:
                    assert error.code is ProblemCode.LEASE_EXPIRED
                else:
                    raise AssertionError(f"heartbeat at {now} s should find the lease expired")
                billed.append((lease.acquired, lease.capped_end(now)))
                del held[client]
        elif action == "release" and lease is not None:
            billing.service.release(lease.lease_id, key, hardware(client))
            end = now if lease.is_live(now) else lease.capped_end(now)
            billed.append((lease.acquired, end))
            del held[client]
        # "idle" and actions of clients without a lease change nothing: the client is silent.

    billing.clock.advance(tail)
    now += tail
    if finish == "release_then_force":
        for client, lease in list(held.items()):
            if lease.is_live(now):
                billing.service.release(lease.lease_id, key, hardware(client))
                billed.append((lease.acquired, now))
                del held[client]
    if finish == "suspend":
        billing.admin.set_status(created.license.id, LicenseStatus.SUSPENDED)
    else:
        for lease in billing.store.list_open_leases():
            billing.admin.force_release(lease.id)
    billed.extend((lease.acquired, lease.capped_end(now)) for lease in held.values())
    assert billing.store.list_open_leases() == []

    end_of_time = START + timedelta(days=62)
    records = billing.store.usage_records(START - timedelta(days=1), end_of_time)
    expected_total, expected_peak = brute_force(billed, 0, now + 1)
    assert len(records) == len(billed)
    assert sum(record.seconds_held for record in records) == Decimal(expected_total)
    steps_from_ledger = concurrency_steps((r.acquired_at, r.ended_at) for r in records)
    assert peak(steps_from_ledger) == expected_peak

    # The monthly reports split the same seat time at the month boundary, with exact peaks.
    november = build_base_report(billing.store, Month(2026, 11), billing.clock.now())
    december = build_base_report(billing.store, Month(2026, 12), billing.clock.now())
    for report, (first, last) in ((november, (0, BOUNDARY)), (december, (BOUNDARY, now + 1))):
        total, highest = brute_force(billed, first, max(first, last))
        seat_seconds = sum(
            (Decimal(item["seat_seconds"]) for item in report["licenses"]), Decimal(0)
        )
        peaks = [item["peak_concurrent_seats"] for item in report["licenses"]]
        assert seat_seconds == Decimal(total), report["month"]
        assert max(peaks, default=0) == highest, report["month"]

    denials = billing.store.denials(START, end_of_time)
    assert len(denials) == expected_denials
