"""Structured logs of a real server process: JSON lines, trace ids, and no secrets.

One server handles a fixed sequence of grants, heartbeats, releases and failures, some with
an `X-Cloud-Trace-Context` header. The tests read its output after it stops.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.core.conftest import (
    ACQUIRE,
    HEARTBEAT,
    RELEASE,
    acquire_body,
    create_license_in,
    lease_body,
    start_server_process,
)

PROJECT = "log-test-project"
TRACE_ID = "105445aa7843bc8bf206b12000100000"
TRACE_HEADER = {"X-Cloud-Trace-Context": f"{TRACE_ID}/42;o=1"}
WRONG_KEY = "lk_wrong-key-that-must-not-be-logged"
SEVERITIES = {"DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL"}


@dataclass(frozen=True)
class ServerRun:
    stdout: str
    stderr: str
    license_id: str
    key: str
    lease_id: str
    tokens: list[str]

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return requests.post(url, json=body, headers=headers, timeout=5)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerRun]:
    root = tmp_path_factory.mktemp("logs")
    data_dir = root / "data"
    created = create_license_in(data_dir, seats=1)
    server = start_server_process(data_dir, root, {"GOOGLE_CLOUD_PROJECT": PROJECT})
    key = created.key
    try:
        granted = post(server.url + ACQUIRE, acquire_body(key, "hw-1"), TRACE_HEADER).json()
        lease_id = granted["lease_id"]
        renewed = post(server.url + HEARTBEAT, lease_body(lease_id, key, "hw-1")).json()
        post(server.url + ACQUIRE, acquire_body(key, "hw-2"), TRACE_HEADER)
        post(server.url + ACQUIRE, acquire_body(WRONG_KEY))
        post(server.url + ACQUIRE, {**acquire_body(key), "extra": key})
        post(server.url + HEARTBEAT, lease_body(lease_id, key, "hw-other"))
        post(server.url + HEARTBEAT, lease_body(lease_id, WRONG_KEY, "hw-1"))
        post(server.url + RELEASE, lease_body(lease_id, key, "hw-1"), TRACE_HEADER)
    finally:
        server.stop()
    yield ServerRun(
        stdout=server.stdout(),
        stderr=server.stderr(),
        license_id=created.license.id,
        key=key,
        lease_id=lease_id,
        tokens=[granted["token"], renewed["token"]],
    )


def entries_with(run: ServerRun, message: str) -> list[dict[str, Any]]:
    return [entry for entry in run.entries() if entry["message"] == message]


class TestFormat:
    def test_lines_are_json(self, run: ServerRun) -> None:
        lines = [line for line in run.stdout.splitlines() if line.strip()]
        assert lines
        for line in lines:
            assert isinstance(json.loads(line), dict), line

    def test_severity_and_message(self, run: ServerRun) -> None:
        for entry in run.entries():
            assert entry["severity"] in SEVERITIES
            assert isinstance(entry["message"], str)
            assert entry["message"]

    def test_grant_has_ids(self, run: ServerRun) -> None:
        [entry] = entries_with(run, "lease granted")
        assert entry["license_id"] == run.license_id
        assert entry["lease_id"] == run.lease_id

    def test_release_has_ids(self, run: ServerRun) -> None:
        [entry] = entries_with(run, "lease released")
        assert entry["license_id"] == run.license_id
        assert entry["lease_id"] == run.lease_id

    def test_denial_has_code(self, run: ServerRun) -> None:
        codes = {entry.get("code") for entry in entries_with(run, "request denied")}
        assert {"no_seat_available", "license_not_found", "lease_owner_mismatch"} <= codes

    def test_denial_has_license(self, run: ServerRun) -> None:
        [entry] = [
            entry
            for entry in entries_with(run, "request denied")
            if entry["code"] == "no_seat_available"
        ]
        assert entry["license_id"] == run.license_id


class TestTrace:
    def test_trace_on_grant(self, run: ServerRun) -> None:
        [entry] = entries_with(run, "lease granted")
        assert entry["logging.googleapis.com/trace"] == f"projects/{PROJECT}/traces/{TRACE_ID}"
        assert entry["logging.googleapis.com/spanId"] == "42"

    def test_trace_on_denial(self, run: ServerRun) -> None:
        traced = [
            entry
            for entry in entries_with(run, "request denied")
            if entry["code"] == "no_seat_available"
        ]
        assert traced[0]["logging.googleapis.com/trace"].endswith(TRACE_ID)

    def test_no_trace_without_header(self, run: ServerRun) -> None:
        [entry] = [
            entry
            for entry in entries_with(run, "request denied")
            if entry["code"] == "license_not_found"
        ]
        assert "logging.googleapis.com/trace" not in entry


class TestSecrets:
    @pytest.mark.parametrize("stream", ["stdout", "stderr"])
    def test_no_license_key(self, run: ServerRun, stream: str) -> None:
        text = getattr(run, stream)
        assert run.key not in text
        assert WRONG_KEY not in text
        assert "lk_" not in text

    @pytest.mark.parametrize("stream", ["stdout", "stderr"])
    def test_no_token(self, run: ServerRun, stream: str) -> None:
        text = getattr(run, stream)
        for token in run.tokens:
            for segment in token.split("."):
                assert segment not in text

    def test_no_key_file_content(self, run: ServerRun) -> None:
        assert "PRIVATE KEY" not in run.stdout + run.stderr
