"""The first calls a new user makes, through a real server process."""

from __future__ import annotations

import requests

from tests.conftest import LiveServer

ACQUIRE = "/api/v1/licenses/acquire"


def test_unknown_key_gets_json_404(live_server: LiveServer) -> None:
    response = requests.post(
        live_server.url + ACQUIRE,
        json={
            "license_key": "test-key",
            "hardware_id": "test-hw",
            "user_email": "test@example.com",
        },
        timeout=5,
    )
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "license_not_found"


def test_missing_body_gets_json_400(live_server: LiveServer) -> None:
    response = requests.post(live_server.url + ACQUIRE, timeout=5)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "missing_body"
