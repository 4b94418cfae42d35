"""The Firestore emulator, started once per test session for every test package that needs it.

The emulator runs on a free port and a test clears it through `FirestoreEmulator.reset`.
Without gcloud or Java the Firestore cases skip, except under CI=true, where they fail: CI
must run the Firestore tests.
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
    # Imported here because tests/conftest.py imports this module.
    from tests.conftest import free_port

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
