"""The seat cap under concurrent acquires from several OS processes on one license.

Every worker process opens its own store on the shared data folder (or sends HTTP requests
to a real server with two worker processes), waits on a barrier, and fires its acquires from
several threads at once. Exactly `seats` acquires may win.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from functions.admin import Admin
from functions.models import SeatScope
from tests.core.conftest import LicenseFactory, ServerProcess, create_license_in
from tests.core.race_workers import RaceSpec, acquire_over_http, acquire_through_store

PROCESSES = 4
THREADS = 3
ACQUIRES_PER_PROCESS = 6
JOIN_TIMEOUT_SECONDS = 90


def run_race(worker: Callable[..., None], target: str, specs: list[RaceSpec]) -> list[str]:
    """Run one spawned process per spec and return every outcome."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(specs))
    results: Any = context.Queue()
    processes = [
        context.Process(target=worker, args=(target, spec, barrier, results)) for spec in specs
    ]
    for process in processes:
        process.start()
    outcomes: list[str] = []
    try:
        for _ in processes:
            outcomes.extend(results.get(timeout=JOIN_TIMEOUT_SECONDS))
    finally:
        for process in processes:
            process.join(timeout=JOIN_TIMEOUT_SECONDS)
            if process.is_alive():
                process.kill()
    assert all(process.exitcode == 0 for process in processes)
    return outcomes


def distinct_specs(key: str) -> list[RaceSpec]:
    return [RaceSpec(key, f"p{index}", ACQUIRES_PER_PROCESS, THREADS) for index in range(PROCESSES)]


def granted_ids(outcomes: list[str]) -> list[str]:
    return [outcome.split()[1] for outcome in outcomes if outcome.startswith("granted ")]


class TestStoreRace:
    def test_exact_seat_cap(
        self, data_dir: Path, new_license: LicenseFactory, admin: Admin
    ) -> None:
        created = new_license(seats=5)

        outcomes = run_race(acquire_through_store, str(data_dir), distinct_specs(created.key))

        granted = granted_ids(outcomes)
        assert len(outcomes) == PROCESSES * ACQUIRES_PER_PROCESS
        assert len(granted) == 5
        assert len(set(granted)) == 5
        assert Counter(o for o in outcomes if not o.startswith("granted ")) == {
            "no_seat_available": PROCESSES * ACQUIRES_PER_PROCESS - 5
        }
        open_ids = {lease.id for lease in admin.store.list_open_leases(created.license.id)}
        assert open_ids == set(granted)

    def test_same_identity_one_lease(
        self, data_dir: Path, new_license: LicenseFactory, admin: Admin
    ) -> None:
        created = new_license(seats=2, scope=SeatScope.DEVICE_AND_USER)
        specs = [
            RaceSpec(created.key, f"p{index}", 4, THREADS, same_identity=True)
            for index in range(PROCESSES)
        ]

        outcomes = run_race(acquire_through_store, str(data_dir), specs)

        granted = granted_ids(outcomes)
        assert len(granted) == len(outcomes) == PROCESSES * 4
        assert len(set(granted)) == 1
        assert len(admin.store.list_open_leases(created.license.id)) == 1


class TestHttpRace:
    def test_exact_seat_cap(
        self, tmp_path: Path, server_factory: Callable[..., ServerProcess]
    ) -> None:
        data_dir = tmp_path / "server-data"
        created = create_license_in(data_dir, seats=3)
        server = server_factory(data_dir, {"WORKERS": "2", "THREADS": "4"})

        outcomes = run_race(acquire_over_http, server.url, distinct_specs(created.key))

        granted = granted_ids(outcomes)
        assert len(outcomes) == PROCESSES * ACQUIRES_PER_PROCESS
        assert len(set(granted)) == len(granted) == 3
        assert Counter(o for o in outcomes if not o.startswith("granted ")) == {
            "no_seat_available": PROCESSES * ACQUIRES_PER_PROCESS - 3
        }
