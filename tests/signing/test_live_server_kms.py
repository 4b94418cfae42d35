"""A real server process (`python main.py`) configured for the fake KMS and Secret Manager."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests

from functions.config import Settings
from tests.conftest import LiveServer, start_server, stop_server
from tests.signing.conftest import (
    ACQUIRE,
    JWKS,
    acquire_body,
    cloud_env,
    create_license,
    verify_with_joserfc,
    verify_with_pyjwt,
)
from tests.signing.fake_gcp import FakeGoogleCloud


@pytest.fixture
def kms_server(fake_gcp: FakeGoogleCloud, tmp_path: Path) -> Iterator[LiveServer]:
    data = tmp_path / "data"
    data.mkdir()
    server = start_server(data, tmp_path / "server.log", cloud_env(fake_gcp, data))
    yield server
    stop_server(server)


def test_live_server_signs_through_kms(kms_server: LiveServer, fake_gcp: FakeGoogleCloud) -> None:
    key = create_license(Settings.from_env(cloud_env(fake_gcp, kms_server.data_dir)))
    jwks = requests.get(kms_server.url + JWKS, timeout=5).json()
    fake_gcp.reset_calls()

    response = requests.post(kms_server.url + ACQUIRE, json=acquire_body(key), timeout=10)
    assert response.status_code == 200
    token = response.json()["token"]
    assert verify_with_pyjwt(token, jwks) == verify_with_joserfc(token, jwks)
    assert fake_gcp.calls["AsymmetricSign"] == 1
    assert fake_gcp.calls["GetPublicKey"] == 0
    assert "KMS signer ready" in kms_server.log_text()


def test_live_server_kms_unavailable_503(kms_server: LiveServer, fake_gcp: FakeGoogleCloud) -> None:
    key = create_license(Settings.from_env(cloud_env(fake_gcp, kms_server.data_dir)))
    fake_gcp.kms_faults.sign_status = grpc.StatusCode.UNAVAILABLE
    response = requests.post(kms_server.url + ACQUIRE, json=acquire_body(key), timeout=10)
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["code"] == "service_unavailable"
    assert "token" not in response.json()
    assert '"message": "KMS signing failed"' in kms_server.log_text()
