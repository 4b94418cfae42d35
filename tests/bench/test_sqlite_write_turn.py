"""The SQLite store under many threads of one process: the seat cap and nested transactions."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

from functions import seats
from functions.admin import Admin
from functions.clock import SystemClock
from functions.identity import KeyHasher
from functions.store import SeatTransaction
from functions.store.sqlite import SqliteSeatStore
from tests.bench.conftest import three_seat_terms

THREADS = 8
ACQUIRES = 40


def test_threads_grant_exactly_the_seat_count(
    sqlite_store: SqliteSeatStore, hasher: KeyHasher, store_admin: Admin
) -> None:
    created = store_admin.create_license("bench", "customer", three_seat_terms())
    key_hash = hasher.license_key_hash(created.key)
    start = threading.Barrier(THREADS)

    def acquire(index: int) -> seats.Granted | seats.Denied:
        if index < THREADS:
            start.wait(timeout=30)
        now = SystemClock().now()

        def work(tx: SeatTransaction) -> seats.Granted | seats.Denied:
            return seats.acquire(
                tx, hasher, now, key_hash, f"hw-{index}", "user@example.com", f"denial_{index}"
            )

        return sqlite_store.run_transaction(work)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        outcomes = list(pool.map(acquire, range(ACQUIRES), timeout=120))

    granted = [outcome for outcome in outcomes if isinstance(outcome, seats.Granted)]
    denied = [outcome for outcome in outcomes if isinstance(outcome, seats.Denied)]
    assert len(granted) == 3
    assert len(denied) == ACQUIRES - 3
    assert len(sqlite_store.list_open_leases(created.license.id)) == 3


def test_nested_transaction_raises_instead_of_hanging(sqlite_store: SqliteSeatStore) -> None:
    errors: list[BaseException] = []

    def nested() -> None:
        try:
            sqlite_store.run_transaction(lambda tx: sqlite_store.run_transaction(lambda inner: 1))
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=nested, daemon=True)
    thread.start()
    thread.join(timeout=30)

    assert not thread.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], sqlite3.OperationalError)


def test_store_is_usable_after_nested_failure(sqlite_store: SqliteSeatStore) -> None:
    with contextlib.suppress(sqlite3.OperationalError):
        sqlite_store.run_transaction(lambda tx: sqlite_store.run_transaction(lambda inner: 1))

    assert sqlite_store.run_transaction(lambda tx: 42) == 42
