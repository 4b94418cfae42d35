"""Injected Firestore faults: aborted commits and a commit whose reply was lost.

The faults are injected in the client's API object, below the transaction code, so the
store's retry loop and the seat logic run exactly as in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import flask
import pytest

from functions.admin import Admin, SeatTerms
from functions.clock import ManualClock
from functions.errors import LicenseError, ProblemCode
from functions.http import ACQUIRE_PATH, handle
from functions.identity import KeyHasher
from functions.secrets import KEY_HASH_SECRET, LocalSecrets
from functions.service import LicenseService
from functions.signing.local import LocalSigner
from functions.store.firestore import FirestoreSeatStore
from tests.conftest import ISSUER
from tests.store.conftest import FirestoreEmulator, assert_counters_match_leases
from tests.store.firestore_api import FaultyCommits, install

EMAIL = "user@example.com"


@pytest.fixture
def firestore_store(firestore_emulator: FirestoreEmulator) -> Iterator[FirestoreSeatStore]:
    firestore_emulator.reset()
    store = FirestoreSeatStore.connect(firestore_emulator.project, "(default)", max_attempts=3)
    yield store
    store.close()


@pytest.fixture
def firestore_service(
    firestore_store: FirestoreSeatStore, data_dir: Path, clock: ManualClock
) -> LicenseService:
    hasher = KeyHasher(LocalSecrets(data_dir).secret(KEY_HASH_SECRET))
    return LicenseService(firestore_store, LocalSigner(data_dir), hasher, clock, ISSUER)


def create_license(service: LicenseService, seats: int) -> tuple[str, str]:
    admin = Admin(service.store, service.hasher, service.clock)
    admin.create_product("cad")
    created = admin.create_license("cad", "acme", SeatTerms(seats))
    return created.key, created.license.id


def test_acquire_commits_after_two_aborts(
    firestore_service: LicenseService, firestore_store: FirestoreSeatStore
) -> None:
    key, license_id = create_license(firestore_service, 2)
    faults = install(firestore_store.client, FaultyCommits, ["abort", "abort"])
    granted = firestore_service.acquire(key, "hw-1", EMAIL)
    assert faults.commits == 3
    assert granted.renewed is False
    assert granted.seats_used == 1
    assert [lease.id for lease in firestore_store.list_open_leases(license_id)] == [
        granted.lease.id
    ]
    assert_counters_match_leases(firestore_store, license_id)


def test_lost_commit_reply_takes_one_seat(
    firestore_service: LicenseService, firestore_store: FirestoreSeatStore
) -> None:
    key, license_id = create_license(firestore_service, 2)
    faults = install(firestore_store.client, FaultyCommits, ["unavailable"])
    granted = firestore_service.acquire(key, "hw-1", EMAIL)
    # The first commit went through; the retry found its lease by seat identity.
    assert faults.commits == 2
    assert granted.renewed is True
    assert granted.seats_used == 1
    assert len(firestore_store.list_open_leases(license_id)) == 1
    assert firestore_store.seat_counters(license_id) == {0: 1}
    assert_counters_match_leases(firestore_store, license_id)


def test_lost_release_reply_is_harmless(
    firestore_service: LicenseService, firestore_store: FirestoreSeatStore
) -> None:
    key, license_id = create_license(firestore_service, 1)
    granted = firestore_service.acquire(key, "hw-1", EMAIL)
    install(firestore_store.client, FaultyCommits, ["unavailable"])
    released = firestore_service.release(granted.lease.id, key, "hw-1")
    assert released.already_closed is True
    assert firestore_store.seat_counters(license_id) == {0: 0}


def test_aborts_exhaust_attempts(
    firestore_service: LicenseService, firestore_store: FirestoreSeatStore
) -> None:
    key, license_id = create_license(firestore_service, 1)
    install(firestore_store.client, FaultyCommits, ["abort"] * 3)
    with pytest.raises(LicenseError) as error:
        firestore_service.acquire(key, "hw-1", EMAIL)
    assert error.value.code is ProblemCode.CONTENTION
    assert firestore_store.list_open_leases(license_id) == []


def test_unavailable_exhausts_as_503(
    firestore_service: LicenseService, firestore_store: FirestoreSeatStore
) -> None:
    key, license_id = create_license(firestore_service, 1)
    granted = firestore_service.acquire(key, "hw-1", EMAIL)
    install(firestore_store.client, FaultyCommits, ["unavailable"] * 3)
    with pytest.raises(LicenseError) as error:
        firestore_service.heartbeat(granted.lease.id, key, "hw-1")
    assert error.value.code is ProblemCode.SERVICE_UNAVAILABLE
    assert error.value.retry_after_seconds is not None
    # Each attempt committed; a repeated heartbeat changes nothing but the expiry.
    assert [lease.id for lease in firestore_store.list_open_leases(license_id)] == [
        granted.lease.id
    ]


def test_contention_is_503_problem(
    firestore_service: LicenseService, firestore_store: FirestoreSeatStore
) -> None:
    key, _ = create_license(firestore_service, 1)
    install(firestore_store.client, FaultyCommits, ["abort"] * 3)
    body = {"license_key": key, "hardware_id": "hw-1", "user_email": EMAIL}
    app = flask.Flask(__name__)
    with app.test_request_context(ACQUIRE_PATH, method="POST", json=body):
        response = handle(flask.request, lambda: firestore_service)
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "contention"
    assert response.headers["Retry-After"].isdigit()
