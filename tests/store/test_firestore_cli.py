"""The admin CLI and `python main.py` on Firestore, chosen by the same environment variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from functions.store.firestore import FirestoreSeatStore
from tests.conftest import REPO_ROOT, start_server, stop_server
from tests.store.conftest import FirestoreEmulator


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "functions.cli", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_and_server_share_firestore(
    firestore_emulator: FirestoreEmulator, data_dir: Path, tmp_path: Path
) -> None:
    firestore_emulator.reset()
    env = {
        "LICENSE_STORE": "firestore",
        "LICENSE_DATA_DIR": str(data_dir),
        **firestore_emulator.env,
    }
    created = run_cli(env, "licenses", "create", "--product", "cad", "--seats", "1", "--json")
    assert created.returncode == 0, created.stderr
    license = json.loads(created.stdout)

    store = FirestoreSeatStore.connect(firestore_emulator.project, "(default)")
    try:
        assert [listed.id for listed in store.list_licenses()] == [license["id"]]
    finally:
        store.close()

    server = start_server(data_dir, tmp_path / "server.log", env)
    try:
        body = {"license_key": license["key"], "hardware_id": "hw-1", "user_email": "a@example.com"}
        response = requests.post(server.url + "/api/v1/licenses/acquire", json=body, timeout=30)
    finally:
        stop_server(server)
    assert response.status_code == 200, response.text
    assert response.json()["seats_used"] == 1

    leases = run_cli(env, "leases", "list", "--json")
    assert leases.returncode == 0, leases.stderr
    assert [lease["id"] for lease in json.loads(leases.stdout)] == [response.json()["lease_id"]]


def test_cli_firestore_needs_project(data_dir: Path) -> None:
    env = {
        "LICENSE_STORE": "firestore",
        "LICENSE_DATA_DIR": str(data_dir),
        "GOOGLE_CLOUD_PROJECT": "",
    }
    result = run_cli(env, "licenses", "list")
    assert result.returncode == 1
    assert "GOOGLE_CLOUD_PROJECT" in result.stderr
