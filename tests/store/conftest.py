"""Fixtures for the seat store tests: both stores, and a Firestore emulator the tests start.

The emulator runs once per test session on a free port and is cleared before every test
through its reset endpoint. Without gcloud or Java the Firestore cases skip, except under
CI=true, where they fail: CI must run the contract on both stores.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from functions.admin import Admin
from functions.clock import ManualClock
from functions.identity import KeyHasher
from functions.secrets import KEY_HASH_SECRET, LocalSecrets
from functions.service import LicenseService
from functions.signing.local import LocalSigner
from functions.store import SeatStore
from functions.store.sqlite import SqliteSeatStore
from tests.conftest import ISSUER, free_port

EMULATOR_PROJECT = "license-store-test"
EMULATOR_START_TIMEOUT_SECONDS = 90


@dataclass(frozen=True)
class FirestoreEmulator:
    host: str
    project: str

    @property
    def env(self) -> dict[str, str]:
        return {"FIRESTORE_EMULATOR_HOST": self.host, "GOOGLE_CLOUD_PROJECT": self.project}

    def reset(self) -> None:
        """Delete every document of the emulator's default database."""
        url = (
            f"http://{self.host}/emulator/v1/projects/{self.project}/databases/(default)/documents"
        )
        response = requests.delete(url, timeout=10)
        response.raise_for_status()


def _missing_tools() -> list[str]:
    return [tool for tool in ("gcloud", "java") if shutil.which(tool) is None]


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} CI=true requires the Firestore store tests to run.")
    pytest.skip(reason)


def _stop(process: subprocess.Popen[bytes]) -> None:
    # gcloud starts the Java emulator as a child, so the whole process group is stopped.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="session")
def firestore_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirestoreEmulator]:
    missing = _missing_tools()
    if missing:
        _skip_or_fail(
            f"The Firestore emulator needs {' and '.join(missing)} on PATH; install the "
            "Google Cloud CLI with its cloud-firestore-emulator component and Java 17 or later."
        )
    host = f"127.0.0.1:{free_port()}"
    log_path = tmp_path_factory.mktemp("firestore-emulator") / "emulator.log"
    env = {
        **os.environ,
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    }
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            ["gcloud", "emulators", "firestore", "start", f"--host-port={host}"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    emulator = FirestoreEmulator(host, EMULATOR_PROJECT)
    try:
        _wait_until_ready(process, host, log_path)
        # In-process Firestore clients find the emulator through this variable. The project
        # is passed explicitly, and server processes get `emulator.env`.
        previous = os.environ.get("FIRESTORE_EMULATOR_HOST")
        os.environ["FIRESTORE_EMULATOR_HOST"] = host
        yield emulator
    finally:
        _stop(process)
    if previous is None:
        os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
    else:
        os.environ["FIRESTORE_EMULATOR_HOST"] = previous


def _wait_until_ready(process: subprocess.Popen[bytes], host: str, log_path: Path) -> None:
    deadline = time.monotonic() + EMULATOR_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _skip_or_fail(
                f"The Firestore emulator exited with status {process.returncode}:\n"
                f"{log_path.read_text(errors='replace')}"
            )
        try:
            if requests.get(f"http://{host}/", timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"The Firestore emulator did not answer on {host} within "
        f"{EMULATOR_START_TIMEOUT_SECONDS} s:\n{log_path.read_text(errors='replace')}"
    )


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
