"""Worker processes for the seat race tests.

They live apart from the test modules so that a spawned process imports only what it runs.
Each worker waits on a shared barrier, then sends its acquires from a few threads at once
and puts one outcome per acquire on the result queue: `granted <lease_id>` or the problem code.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

BARRIER_TIMEOUT_SECONDS = 60
HTTP_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class RaceSpec:
    """One worker's share of the race; identities are `<prefix>-<n>` unless `same_identity`."""

    key: str
    prefix: str
    acquires: int
    threads: int
    same_identity: bool = False

    def identity(self, number: int) -> tuple[str, str]:
        if self.same_identity:
            return "shared-hw", "shared@example.com"
        return f"{self.prefix}-{number}", f"{self.prefix}-{number}@example.com"


def acquire_through_store(
    data_dir: str, spec: RaceSpec, barrier: Barrier, results: Queue[list[str]]
) -> None:
    """Open this process's own store, signer and key hasher on `data_dir`, then race."""
    from functions.clock import SystemClock
    from functions.errors import LicenseError
    from functions.identity import KeyHasher
    from functions.secrets import KEY_HASH_SECRET, LocalSecrets
    from functions.service import LicenseService
    from functions.signing.local import LocalSigner
    from functions.store.sqlite import SqliteSeatStore

    folder = Path(data_dir)
    store = SqliteSeatStore(folder)
    hasher = KeyHasher(LocalSecrets(folder).secret(KEY_HASH_SECRET))
    service = LicenseService(
        store, LocalSigner(folder), hasher, SystemClock(), "https://licenses.test"
    )

    def acquire(number: int) -> str:
        hardware_id, email = spec.identity(number)
        try:
            grant = service.acquire(spec.key, hardware_id, email)
        except LicenseError as error:
            return error.code.value
        except Exception as error:
            # Reported as an outcome so that the test fails on it instead of waiting.
            return f"error {type(error).__name__}: {error}"
        return f"granted {grant.lease.id}"

    try:
        barrier.wait(BARRIER_TIMEOUT_SECONDS)
        with ThreadPoolExecutor(spec.threads) as pool:
            results.put(list(pool.map(acquire, range(spec.acquires))))
    finally:
        store.close()


def acquire_over_http(
    url: str, spec: RaceSpec, barrier: Barrier, results: Queue[list[str]]
) -> None:
    import requests

    def acquire(number: int) -> str:
        hardware_id, email = spec.identity(number)
        body = {"license_key": spec.key, "hardware_id": hardware_id, "user_email": email}
        try:
            response = requests.post(
                url + "/api/v1/licenses/acquire", json=body, timeout=HTTP_TIMEOUT_SECONDS
            )
        except requests.RequestException as error:
            return f"error {type(error).__name__}: {error}"
        if response.status_code == 200:
            return f"granted {response.json()['lease_id']}"
        return str(response.json().get("code", response.status_code))

    barrier.wait(BARRIER_TIMEOUT_SECONDS)
    with ThreadPoolExecutor(spec.threads) as pool:
        results.put(list(pool.map(acquire, range(spec.acquires))))
