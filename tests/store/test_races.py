"""Concurrent acquires and heartbeats from several OS processes, on both stores.

On Firestore the processes are API servers sharing one emulator, as Cloud Run instances
share one database. A license with few seats has one counter document, so concurrent
acquires of it all read that document and then write it. The emulator (Google Cloud SDK
528.0.0) lets such transactions wait on each other's locks for about 2 s and then aborts
all but at most one of them. Each clash therefore costs about 2 s on the emulator, so the
Firestore race is kept to eight clients and two seats, with clients retrying a
`contention` answer as real clients would. The heavy race runs on the embedded store, whose
lock waits are short.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from functions.admin import Admin, CreatedLicense, SeatTerms
from functions.clock import SystemClock
from functions.errors import LicenseError, ProblemCode
from functions.identity import KeyHasher
from functions.secrets import KEY_HASH_SECRET, LocalSecrets
from functions.service import LicenseService
from functions.signing.local import LocalSigner
from functions.store.firestore import FirestoreSeatStore
from functions.store.sqlite import SqliteSeatStore
from tests.conftest import ISSUER, LiveServer, start_server, stop_server
from tests.store.conftest import FirestoreEmulator, assert_counters_match_leases

ACQUIRE = "/api/v1/licenses/acquire"
HEARTBEAT = "/api/v1/licenses/heartbeat"
EMAIL = "race@example.com"
SERVER_COUNT = 3


def hasher_for(data_dir: Path) -> KeyHasher:
    return KeyHasher(LocalSecrets(data_dir).secret(KEY_HASH_SECRET))


@pytest.fixture
def firestore_servers(
    firestore_emulator: FirestoreEmulator, tmp_path: Path
) -> Iterator[tuple[list[LiveServer], FirestoreSeatStore, Path]]:
    """API server processes on one emulator, sharing one data folder for their keys."""
    firestore_emulator.reset()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # Create the hashing secret and signing key before the servers start, so that they do
    # not race to create different ones.
    hasher_for(data_dir)
    LocalSigner(data_dir)
    store = FirestoreSeatStore.connect(firestore_emulator.project, "(default)")
    # A license must exist before the servers start, or each would seed a demo license.
    Admin(store, hasher_for(data_dir), SystemClock()).create_product("cad")
    env = {"LICENSE_STORE": "firestore", **firestore_emulator.env}
    servers: list[LiveServer] = []
    try:
        admin = Admin(store, hasher_for(data_dir), SystemClock())
        admin.create_license("cad", "seed", SeatTerms(1))
        for number in range(SERVER_COUNT):
            servers.append(start_server(data_dir, tmp_path / f"server-{number}.log", env))
        yield servers, store, data_dir
    finally:
        for server in servers:
            stop_server(server)
        store.close()


CLIENT_ATTEMPTS = 6


def post(url: str, body: dict[str, str]) -> requests.Response:
    """POST like a well-behaved client: retry a 503 after its Retry-After, a few times."""
    for _ in range(CLIENT_ATTEMPTS - 1):
        response = requests.post(url, json=body, timeout=60)
        if response.status_code != 503:
            return response
        time.sleep(float(response.headers["Retry-After"]) * random.uniform(0.5, 1.5))
    return requests.post(url, json=body, timeout=60)


def test_firestore_race_grants_exactly_seats(
    firestore_servers: tuple[list[LiveServer], FirestoreSeatStore, Path],
) -> None:
    servers, store, data_dir = firestore_servers
    admin = Admin(store, hasher_for(data_dir), SystemClock())
    seats_total = 2
    created = admin.create_license("cad", "acme", SeatTerms(seats_total))
    clients = 8

    def acquire(number: int) -> requests.Response:
        server = servers[number % len(servers)]
        body = {"license_key": created.key, "hardware_id": f"hw-{number}", "user_email": EMAIL}
        return post(server.url + ACQUIRE, body)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        responses = list(pool.map(acquire, range(clients)))

    statuses = Counter(response.status_code for response in responses)
    codes = Counter(
        response.json().get("code") for response in responses if response.status_code != 200
    )
    assert statuses[200] == seats_total
    assert codes == Counter({"no_seat_available": clients - seats_total})
    assert len(store.list_open_leases(created.license.id)) == seats_total
    assert_counters_match_leases(store, created.license.id)
    for server in servers:
        assert "Traceback" not in server.log_text()


def test_firestore_heartbeat_load_no_contention(
    firestore_servers: tuple[list[LiveServer], FirestoreSeatStore, Path],
) -> None:
    servers, store, data_dir = firestore_servers
    admin = Admin(store, hasher_for(data_dir), SystemClock())
    leases_total = 30
    created = admin.create_license("cad", "acme", SeatTerms(leases_total))
    lease_ids = []
    for number in range(leases_total):
        body = {"license_key": created.key, "hardware_id": f"hw-{number}", "user_email": EMAIL}
        response = post(servers[number % len(servers)].url + ACQUIRE, body)
        assert response.status_code == 200, response.text
        lease_ids.append(response.json()["lease_id"])

    rounds = 3

    def heartbeat(job: int) -> int:
        number = job % leases_total
        # Each round sends a lease's heartbeat through a different server process.
        server = servers[(number + job // leases_total) % len(servers)]
        body = {
            "lease_id": lease_ids[number],
            "license_key": created.key,
            "hardware_id": f"hw-{number}",
        }
        return post(server.url + HEARTBEAT, body).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = Counter(pool.map(heartbeat, range(leases_total * rounds)))
    assert statuses == Counter({200: leases_total * rounds})
    assert len(store.list_open_leases(created.license.id)) == leases_total
    assert_counters_match_leases(store, created.license.id)


def test_firestore_sharded_concurrent_acquires(
    firestore_emulator: FirestoreEmulator, data_dir: Path
) -> None:
    firestore_emulator.reset()
    store = FirestoreSeatStore.connect(firestore_emulator.project, "(default)")
    service = LicenseService(
        store, LocalSigner(data_dir), hasher_for(data_dir), SystemClock(), ISSUER
    )
    admin = Admin(store, service.hasher, SystemClock())
    admin.create_product("cad")
    seats_total = 100
    created = admin.create_license("cad", "acme", SeatTerms(seats_total))
    clients = 6

    def acquire(number: int) -> str:
        return service.acquire(created.key, f"hw-{number}", EMAIL).lease.id

    try:
        with ThreadPoolExecutor(max_workers=clients) as pool:
            lease_ids = set(pool.map(acquire, range(clients)))
        assert len(lease_ids) == clients
        counters = store.seat_counters(created.license.id)
        assert sum(counters.values()) == clients
        # The acquires spread over more than one counter document. Seat keys are keyed hashes
        # under a random secret, so all six landing on one of five shards has a chance of
        # 5 * (1/5)**6, about 1 in 3000.
        assert len([shard for shard, used in counters.items() if used]) > 1
        assert_counters_match_leases(store, created.license.id)
    finally:
        store.close()


def _acquire_in_process(data_dir: str, key: str, worker: int, attempts: int) -> list[str]:
    """Acquire `attempts` distinct seats from a fresh process; return the outcome codes."""
    store = SqliteSeatStore(Path(data_dir))
    service = LicenseService(
        store, LocalSigner(Path(data_dir)), hasher_for(Path(data_dir)), SystemClock(), ISSUER
    )
    outcomes = []
    try:
        for attempt in range(attempts):
            try:
                service.acquire(key, f"hw-{worker}-{attempt}", EMAIL)
                outcomes.append("granted")
            except LicenseError as error:
                outcomes.append(error.code.value)
    finally:
        store.close()
    return outcomes


def test_embedded_heavy_race_grants_exactly_seats(data_dir: Path) -> None:
    hasher_for(data_dir)
    LocalSigner(data_dir)
    store = SqliteSeatStore(data_dir)
    admin = Admin(store, hasher_for(data_dir), SystemClock())
    admin.create_product("cad")
    seats_total = seats_in_race = 25
    created: CreatedLicense = admin.create_license("cad", "acme", SeatTerms(seats_in_race))
    workers, attempts = 8, 12
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        results = pool.starmap(
            _acquire_in_process,
            [(str(data_dir), created.key, worker, attempts) for worker in range(workers)],
        )
    outcomes = Counter(outcome for result in results for outcome in result)
    assert outcomes["granted"] == seats_total
    assert set(outcomes) <= {"granted", ProblemCode.NO_SEAT_AVAILABLE.value, "contention"}
    assert len(store.list_open_leases(created.license.id)) == seats_total
    assert_counters_match_leases(store, created.license.id)
    store.close()
