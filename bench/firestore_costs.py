"""Reads and writes per acquire, heartbeat and release, on the Firestore emulator and SQLite.

Firestore operations are counted as Firestore bills them, by wrapping the client's API
object (see tests/store/firestore_api.py). For the embedded store the figures are SQL
statements: SELECTs as reads and INSERT, UPDATE or DELETE statements as writes. Latencies
are means over the runs on the machine that runs this script. The emulator's latency is no
guide to production Firestore.

Usage: python bench/firestore_costs.py [--runs N]
Starts its own emulator on a free 127.0.0.1 port unless FIRESTORE_EMULATOR_HOST is set.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

os.environ.setdefault("CHECKPOINT_DISABLE", "1")
os.environ.setdefault("CKV_SKIP_PACKAGE_UPDATE_CHECK", "true")
os.environ.setdefault("CLOUDSDK_CORE_DISABLE_USAGE_REPORTING", "true")

import requests  # noqa: E402

from functions.admin import Admin, SeatTerms  # noqa: E402
from functions.clock import SystemClock  # noqa: E402
from functions.identity import KeyHasher  # noqa: E402
from functions.secrets import KEY_HASH_SECRET, LocalSecrets  # noqa: E402
from functions.service import LeaseGrant, LicenseService  # noqa: E402
from functions.signing.local import LocalSigner  # noqa: E402
from functions.store import SeatStore  # noqa: E402
from functions.store.sqlite import SqliteSeatStore  # noqa: E402
from tests.store.firestore_api import CountingApi, install  # noqa: E402

PROJECT = "license-bench"
EMAIL = "bench@example.com"
LICENSE_SIZES = (5, 100)
CALLS = ("acquire (seat free)", "acquire (same seat again)", "heartbeat", "release")


@dataclass
class Tally:
    reads: int = 0
    writes: int = 0
    seconds: float = 0.0
    runs: int = 0


@dataclass
class Counter:
    """Reads and writes since the last `take`, from whichever store is measured."""

    take: Callable[[], tuple[int, int]]
    tallies: dict[str, Tally] = field(default_factory=dict)

    def measure(self, call: str, action: Callable[[], object]) -> object:
        self.take()
        started = time.perf_counter()
        result = action()
        elapsed = time.perf_counter() - started
        reads, writes = self.take()
        tally = self.tallies.setdefault(call, Tally())
        tally.reads += reads
        tally.writes += writes
        tally.seconds += elapsed
        tally.runs += 1
        return result


class SqlStatementCounter:
    def __init__(self) -> None:
        self.reads = 0
        self.writes = 0

    def __call__(self, statement: str) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb == "SELECT":
            self.reads += 1
        elif verb in ("INSERT", "UPDATE", "DELETE"):
            self.writes += 1

    def take(self) -> tuple[int, int]:
        counts = (self.reads, self.writes)
        self.reads = self.writes = 0
        return counts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def emulator() -> Iterator[str]:
    existing = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if existing:
        yield existing
        return
    host = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        ["gcloud", "emulators", "firestore", "start", f"--host-port={host}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"The Firestore emulator did not start on {host}.")
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"http://{host}/", timeout=1).ok:
                    break
            time.sleep(0.2)
        os.environ["FIRESTORE_EMULATOR_HOST"] = host
        yield host
    finally:
        # gcloud runs the emulator as a child process, so the whole group is stopped.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def run_calls(store: SeatStore, data_dir: Path, counter: Counter, runs: int) -> None:
    hasher = KeyHasher(LocalSecrets(data_dir).secret(KEY_HASH_SECRET))
    service = LicenseService(store, LocalSigner(data_dir), hasher, SystemClock(), "https://bench")
    admin = Admin(store, hasher, SystemClock())
    admin.create_product("bench")
    for seats in LICENSE_SIZES:
        key = admin.create_license("bench", "bench", SeatTerms(seats)).key
        # One lease held throughout, so that no measured acquire is the license's first.
        service.acquire(key, "hw-held", EMAIL)
        for run in range(runs):
            hardware_id = f"hw-{run}"
            prefix = f"{seats} seats: "
            acquire = functools.partial(service.acquire, key, hardware_id, EMAIL)
            grant = counter.measure(prefix + CALLS[0], acquire)
            assert isinstance(grant, LeaseGrant)
            counter.measure(prefix + CALLS[1], acquire)
            lease_call = (grant.lease.id, key, hardware_id)
            counter.measure(prefix + CALLS[2], functools.partial(service.heartbeat, *lease_call))
            counter.measure(prefix + CALLS[3], functools.partial(service.release, *lease_call))


def measure_embedded(runs: int) -> dict[str, Tally]:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        store = SqliteSeatStore(data_dir)
        statements = SqlStatementCounter()
        connection: sqlite3.Connection = store._connection()
        connection.set_trace_callback(statements)
        counter = Counter(statements.take)
        run_calls(store, data_dir, counter, runs)
        store.close()
        return counter.tallies


def measure_firestore(runs: int) -> dict[str, Tally]:
    from functions.store.firestore import FirestoreSeatStore

    with emulator() as host, tempfile.TemporaryDirectory() as tmp:
        reset = f"http://{host}/emulator/v1/projects/{PROJECT}/databases/(default)/documents"
        requests.delete(reset, timeout=10).raise_for_status()
        store = FirestoreSeatStore.connect(PROJECT, "(default)")
        api: CountingApi = install(store.client, CountingApi)
        counter = Counter(api.reset)
        run_calls(store, Path(tmp), counter, runs)
        store.close()
        return counter.tallies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="calls of each kind per license")
    args = parser.parse_args()
    results = {"embedded": measure_embedded(args.runs), "firestore": measure_firestore(args.runs)}
    print(
        "| call | Firestore reads | Firestore writes | Firestore ms | SQLite SELECTs |"
        " SQLite writes | SQLite ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for call, fs in results["firestore"].items():
        sql = results["embedded"][call]
        print(
            f"| {call} | {fs.reads / fs.runs:.1f} | {fs.writes / fs.runs:.1f} | "
            f"{1000 * fs.seconds / fs.runs:.1f} | {sql.reads / sql.runs:.1f} | "
            f"{sql.writes / sql.runs:.1f} | {1000 * sql.seconds / sql.runs:.1f} |"
        )


if __name__ == "__main__":
    main()
