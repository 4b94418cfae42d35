"""Firestore reads and writes per call, counted at the client's API object.

These are the billed operations behind the cost figures in docs/firestore.md. A change to
the layout or the seat logic that adds reads or writes to a hot path fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from functions import seats
from functions.admin import Admin, SeatTerms
from functions.clock import ManualClock
from functions.errors import LicenseError
from functions.identity import KeyHasher
from functions.secrets import KEY_HASH_SECRET, LocalSecrets
from functions.service import LicenseService
from functions.signing.local import LocalSigner
from functions.store.firestore import FirestoreSeatStore
from tests.conftest import ISSUER
from tests.store.conftest import FirestoreEmulator
from tests.store.firestore_api import CountingApi, install

EMAIL = "user@example.com"


@pytest.fixture
def counted(
    firestore_emulator: FirestoreEmulator, data_dir: Path, clock: ManualClock
) -> Iterator[tuple[LicenseService, CountingApi]]:
    firestore_emulator.reset()
    store = FirestoreSeatStore.connect(firestore_emulator.project, "(default)")
    hasher = KeyHasher(LocalSecrets(data_dir).secret(KEY_HASH_SECRET))
    service = LicenseService(store, LocalSigner(data_dir), hasher, clock, ISSUER)
    counter = install(store.client, CountingApi)
    yield service, counter
    store.close()


def new_license_key(service: LicenseService, seats_total: int) -> str:
    admin = Admin(service.store, service.hasher, service.clock)
    if service.store.product_by_slug("cad") is None:
        admin.create_product("cad")
    return admin.create_license("cad", "acme", SeatTerms(seats_total)).key


def test_call_costs_one_shard(counted: tuple[LicenseService, CountingApi]) -> None:
    service, counter = counted
    key = new_license_key(service, 5)
    service.acquire(key, "hw-0", EMAIL)
    counter.reset()

    granted = service.acquire(key, "hw-1", EMAIL)
    assert counter.reset() == (3, 3)
    service.heartbeat(granted.lease.id, key, "hw-1")
    assert counter.reset() == (1, 1)
    service.acquire(key, "hw-1", EMAIL)
    assert counter.reset() == (4, 1)
    # The close writes the lease, the seat, the shard and the usage record.
    service.release(granted.lease.id, key, "hw-1")
    assert counter.reset() == (1, 4)


def test_denied_acquire_writes_denial(counted: tuple[LicenseService, CountingApi]) -> None:
    service, counter = counted
    key = new_license_key(service, 1)
    service.acquire(key, "hw-0", EMAIL)
    counter.reset()

    with pytest.raises(LicenseError):
        service.acquire(key, "hw-1", EMAIL)
    # License, seat, shard, and the query for expired leases; the one write is the denial.
    assert counter.reset() == (4, 1)


def test_call_costs_many_shards(counted: tuple[LicenseService, CountingApi]) -> None:
    service, counter = counted
    seats_total = 100
    assert len(seats.shard_caps(seats_total)) > 1
    key = new_license_key(service, seats_total)
    counter.reset()

    granted = service.acquire(key, "hw-1", EMAIL)
    # Three reads in the transaction, plus a count of open leases for `seats_used`.
    assert counter.reset() == (4, 3)
    service.heartbeat(granted.lease.id, key, "hw-1")
    assert counter.reset() == (1, 1)
