"""Fixtures of the core tests: licenses, a test client on the test's service, and checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import flask
import functions_framework
import pytest
import requests
from flask.testing import FlaskClient

from functions import app as app_module
from functions.admin import Admin, CreatedLicense, SeatTerms
from functions.clock import SystemClock
from functions.identity import KeyHasher
from functions.models import SeatScope
from functions.secrets import KEY_HASH_SECRET, LocalSecrets
from functions.service import LicenseService
from functions.store.sqlite import SqliteSeatStore
from tests.conftest import ISSUER, REPO_ROOT, free_port

ACQUIRE = "/api/v1/licenses/acquire"
HEARTBEAT = "/api/v1/licenses/heartbeat"
RELEASE = "/api/v1/licenses/release"
JWKS = "/.well-known/jwks.json"
PROBLEM_JSON = "application/problem+json"
PRODUCT = "demo"


class AnyResponse(Protocol):
    """The parts of a requests or a Werkzeug test response that the checks read."""

    status_code: int

    @property
    def headers(self) -> Any: ...


def response_bytes(response: AnyResponse) -> bytes:
    if isinstance(response, requests.Response):
        return response.content
    data: bytes = response.get_data()  # type: ignore[attr-defined]
    return data


def assert_problem(response: AnyResponse, status: int, code: str) -> dict[str, Any]:
    """Check that `response` is an RFC 9457 problem with `status` and `code`; return its body."""
    assert response.status_code == status
    assert response.headers["Content-Type"] == PROBLEM_JSON
    body: dict[str, Any] = json.loads(response_bytes(response))
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"].endswith("/" + code)
    assert body["title"]
    assert body["detail"]
    return body


def assert_no_html_or_traceback(response: AnyResponse) -> None:
    text = response_bytes(response).decode("utf-8", errors="replace")
    assert "html" not in response.headers.get("Content-Type", "")
    assert "<html" not in text.lower()
    assert "Traceback" not in text


def error_fields(body: dict[str, Any]) -> set[str]:
    return {entry["field"] for entry in body["errors"]}


def acquire_body(
    key: str, hardware_id: str = "hw-1", user_email: str = "user@example.com"
) -> dict[str, str]:
    return {"license_key": key, "hardware_id": hardware_id, "user_email": user_email}


def lease_body(lease_id: str, key: str, hardware_id: str = "hw-1") -> dict[str, str]:
    return {"lease_id": lease_id, "license_key": key, "hardware_id": hardware_id}


def require_tool(name: str) -> str:
    """Return the path of a command-line tool; skip without it, but fail when CI=true."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed; install it (Debian package {name}) to run this test."
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


LicenseFactory = Callable[..., CreatedLicense]


@pytest.fixture
def new_license(admin: Admin) -> LicenseFactory:
    """Create licenses of the `demo` product; keyword arguments set the seat terms."""

    def create(
        seats: int = 2,
        *,
        scope: SeatScope = SeatScope.DEVICE_AND_USER,
        heartbeat_interval_seconds: int = 60,
        lease_lifetime_seconds: int = 180,
        expires_at: datetime | None = None,
    ) -> CreatedLicense:
        if admin.store.product_by_slug(PRODUCT) is None:
            admin.create_product(PRODUCT)
        terms = SeatTerms(seats, heartbeat_interval_seconds, lease_lifetime_seconds, scope)
        return admin.create_license(PRODUCT, "customer-1", terms, expires_at=expires_at)

    return create


def create_license_in(
    data_dir: Path, seats: int, scope: SeatScope = SeatScope.DEVICE_AND_USER
) -> CreatedLicense:
    """Create a `demo` license in the store of another process, such as a server's."""
    store = SqliteSeatStore(data_dir)
    try:
        hasher = KeyHasher(LocalSecrets(data_dir).secret(KEY_HASH_SECRET))
        admin = Admin(store, hasher, SystemClock())
        if store.product_by_slug(PRODUCT) is None:
            admin.create_product(PRODUCT)
        return admin.create_license(PRODUCT, "customer-1", SeatTerms(seats, seat_scope=scope))
    finally:
        store.close()


@pytest.fixture(scope="session")
def flask_app() -> flask.Flask:
    """The functions-framework application of `main.py`, as Cloud Run serves it."""
    app: flask.Flask = functions_framework.create_app(  # type: ignore[no-untyped-call]
        target="licenses", source=str(REPO_ROOT / "main.py")
    )
    return app


@pytest.fixture
def client(
    flask_app: flask.Flask, service: LicenseService, monkeypatch: pytest.MonkeyPatch
) -> FlaskClient:
    """A test client whose requests reach `service`, which runs on the manual clock."""
    monkeypatch.setattr(app_module, "_service", service)
    return flask_app.test_client()


@dataclass
class ServerProcess:
    """`python main.py` with its stdout (the JSON log) and stderr kept apart."""

    url: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server_process(
    data_dir: Path, log_dir: Path, extra_env: dict[str, str] | None = None
) -> ServerProcess:
    """Start `python main.py` on a free port and wait up to 30 s for /healthz."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "LICENSE_DATA_DIR": str(data_dir),
        "LICENSE_ISSUER": ISSUER,
        "THREADS": "8",
        **(extra_env or {}),
    }

    log_dir.mkdir(parents=True, exist_ok=True)
    stdout_path = log_dir / "stdout.log"
    stderr_path = log_dir / "stderr.log"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "main.py"], cwd=REPO_ROOT, env=env, stdout=stdout, stderr=stderr
        )
    server = ServerProcess(
        f"http://127.0.0.1:{port}", port, data_dir, process, stdout_path, stderr_path
    )

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The server exited early:\n{server.stderr()}")
        try:
            if requests.get(server.url + "/healthz", timeout=1).status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"The server did not answer /healthz within 30 s:\n{server.stderr()}")


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start server processes for one test and stop them all afterwards."""
    started: list[ServerProcess] = []

    def start(data_dir: Path, extra_env: dict[str, str] | None = None) -> ServerProcess:
        server = start_server_process(data_dir, tmp_path / f"server-{len(started)}", extra_env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
