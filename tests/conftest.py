"""Fixtures shared by every test package: services on a temporary data folder and a real server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
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
from functions.store.sqlite import SqliteSeatStore
from tests.emulators import firestore_emulator

# A session fixture for every test package, so that one emulator serves the whole run.
__all__ = ["firestore_emulator"]

REPO_ROOT = Path(__file__).resolve().parent.parent
ISSUER = "https://licenses.test"

# Nothing the tests start may call out of this machine.
os.environ.setdefault("CHECKPOINT_DISABLE", "1")
os.environ.setdefault("CLOUDSDK_CORE_DISABLE_USAGE_REPORTING", "true")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def service(data_dir: Path, clock: ManualClock) -> Iterator[LicenseService]:
    store = SqliteSeatStore(data_dir)
    hasher = KeyHasher(LocalSecrets(data_dir).secret(KEY_HASH_SECRET))
    yield LicenseService(store, LocalSigner(data_dir), hasher, clock, ISSUER)
    store.close()


@pytest.fixture
def admin(service: LicenseService) -> Admin:
    return Admin(service.store, service.hasher, service.clock)


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    data_dir: Path, log_path: Path, extra_env: dict[str, str] | None = None
) -> LiveServer:
    """Start `python main.py` on a free port and wait until /healthz returns 200."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "LICENSE_DATA_DIR": str(data_dir),
        "LICENSE_ISSUER": ISSUER,
        "THREADS": "8",
        **(extra_env or {}),
    }
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "main.py"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = LiveServer(f"http://127.0.0.1:{port}", data_dir, process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The server exited early:\n{server.log_text()}")
        try:
            if requests.get(server.url + "/healthz", timeout=1).status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"The server did not answer /healthz within 30 s:\n{server.log_text()}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real server process with its own data folder, shared by the tests of one module."""
    root = tmp_path_factory.mktemp("live-server")
    data = root / "data"
    data.mkdir()
    server = start_server(data, root / "server.log")
    yield server
    stop_server(server)
