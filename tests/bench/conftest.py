"""Fixtures for the benchmark script's tests and the SQLite store's thread handling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.admin import Admin, SeatTerms
from functions.clock import SystemClock
from functions.identity import KeyHasher
from functions.secrets import KEY_HASH_SECRET, LocalSecrets
from functions.store.sqlite import SqliteSeatStore


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteSeatStore]:
    store = SqliteSeatStore(tmp_path / "data")
    yield store
    store.close()


@pytest.fixture
def hasher(tmp_path: Path) -> KeyHasher:
    return KeyHasher(LocalSecrets(tmp_path / "data").secret(KEY_HASH_SECRET))


@pytest.fixture
def store_admin(sqlite_store: SqliteSeatStore, hasher: KeyHasher) -> Admin:
    admin = Admin(sqlite_store, hasher, SystemClock())
    admin.create_product("bench")
    return admin


def three_seat_terms() -> SeatTerms:
    return SeatTerms(seats=3)
