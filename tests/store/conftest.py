"""Fixtures for the seat store tests: both stores, the Firestore one on the test emulator.

The emulator (tests/emulators.py) is cleared before every test through its reset endpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.admin import Admin
from functions.clock import ManualClock
from functions.identity import KeyHasher
from functions.secrets import KEY_HASH_SECRET, LocalSecrets
from functions.service import LicenseService
from functions.signing.local import LocalSigner
from functions.store import SeatStore
from functions.store.sqlite import SqliteSeatStore
from tests.conftest import ISSUER
from tests.emulators import FirestoreEmulator

__all__ = ["FirestoreEmulator", "assert_counters_match_leases"]


def open_firestore_store(emulator: FirestoreEmulator) -> SeatStore:
    from functions.store.firestore import FirestoreSeatStore

    return FirestoreSeatStore.connect(emulator.project, "(default)")


@pytest.fixture(params=["embedded", "firestore"])
def store(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[SeatStore]:
    """Each seat store in turn; the Firestore one on a freshly cleared emulator."""
    opened: SeatStore
    if request.param == "embedded":
        opened = SqliteSeatStore(data_dir)
    else:
        emulator: FirestoreEmulator = request.getfixturevalue("firestore_emulator")
        emulator.reset()
        opened = open_firestore_store(emulator)
    yield opened
    opened.close()


@pytest.fixture
def service(store: SeatStore, data_dir: Path, clock: ManualClock) -> LicenseService:
    hasher = KeyHasher(LocalSecrets(data_dir).secret(KEY_HASH_SECRET))
    return LicenseService(store, LocalSigner(data_dir), hasher, clock, ISSUER)


@pytest.fixture
def admin(service: LicenseService) -> Admin:
    return Admin(service.store, service.hasher, service.clock)


def assert_counters_match_leases(store: SeatStore, license_id: str) -> None:
    """Check that every shard counter equals the number of open leases counted in it."""
    open_per_shard: dict[int, int] = {}
    for lease in store.list_open_leases(license_id):
        open_per_shard[lease.shard] = open_per_shard.get(lease.shard, 0) + 1
    counters = {shard: used for shard, used in store.seat_counters(license_id).items() if used}
    assert counters == open_per_shard
