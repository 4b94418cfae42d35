"""Every failure path of the HTTP layer returns problem+json with a stable code.

Most cases run on the functions-framework application through a Flask test client; the
`TestRealServer` cases send raw bodies (chunked, oversized) to a real server process.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask
import pytest
import requests
from flask.testing import FlaskClient

from functions import app as app_module
from functions.admin import CreatedLicense
from functions.service import LicenseService
from functions.store import sqlite as sqlite_store
from tests.conftest import LiveServer
from tests.core.conftest import (
    ACQUIRE,
    HEARTBEAT,
    JWKS,
    RELEASE,
    LicenseFactory,
    acquire_body,
    assert_no_html_or_traceback,
    assert_problem,
    create_license_in,
    error_fields,
    lease_body,
)

MAX_BODY = 16 * 1024
LEASE_PATHS = [HEARTBEAT, RELEASE]
POST_PATHS = [ACQUIRE, HEARTBEAT, RELEASE]


def valid_body(path: str) -> dict[str, Any]:
    if path == ACQUIRE:
        return acquire_body("lk_unknown")
    return lease_body("lease_unknown", "lk_unknown")


def post_raw(client: FlaskClient, path: str, data: bytes, content_type: str | None) -> Any:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    return client.post(path, data=data, headers=headers)


@pytest.mark.parametrize("path", POST_PATHS)
class TestBody:
    def test_missing_body(self, client: FlaskClient, path: str) -> None:
        response = client.post(path)

        assert_problem(response, 400, "missing_body")
        assert_no_html_or_traceback(response)

    def test_empty_json_body(self, client: FlaskClient, path: str) -> None:
        response = post_raw(client, path, b"", "application/json")

        assert_problem(response, 400, "missing_body")

    def test_whitespace_body(self, client: FlaskClient, path: str) -> None:
        response = post_raw(client, path, b" \r\n\t ", "application/json")

        assert_problem(response, 400, "missing_body")

    @pytest.mark.parametrize(
        "content_type",
        [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
            "application/json; charset=latin-1",
        ],
    )
    def test_wrong_content_type(self, client: FlaskClient, path: str, content_type: str) -> None:
        data = json.dumps(valid_body(path)).encode()

        response = post_raw(client, path, data, content_type)

        assert_problem(response, 415, "unsupported_media_type")
        assert_no_html_or_traceback(response)

    def test_no_content_type(self, client: FlaskClient, path: str) -> None:
        response = post_raw(client, path, json.dumps(valid_body(path)).encode(), None)

        assert_problem(response, 415, "unsupported_media_type")

    @pytest.mark.parametrize(
        "data",
        [
            b"{",
            b'{"license_key": "k",}',
            b"{'license_key': 'k'}",
            b'{"a": NaN}',
            b'{"a": Infinity}',
            b'{"a": -Infinity}',
            b"\xff\xfe{}",
            b'{"license_key": "\xe9"}',
        ],
        ids=[
            "truncated",
            "trailing-comma",
            "single-quotes",
            "nan",
            "infinity",
            "minus-infinity",
            "utf16-bom",
            "latin1-byte",
        ],
    )
    def test_invalid_json(self, client: FlaskClient, path: str, data: bytes) -> None:
        response = post_raw(client, path, data, "application/json")

        assert_problem(response, 400, "invalid_json")
        assert_no_html_or_traceback(response)

    @pytest.mark.parametrize(
        "data", [b"[" * 8000 + b"]" * 8000, b'{"a":' * 2000 + b"1" + b"}" * 2000]
    )
    def test_deep_nesting(self, client: FlaskClient, path: str, data: bytes) -> None:
        assert len(data) <= MAX_BODY

        response = post_raw(client, path, data, "application/json")

        assert_problem(response, 400, "invalid_json")

    @pytest.mark.parametrize("data", [b"[]", b"null", b'"text"', b"42", b"true"])
    def test_not_an_object(self, client: FlaskClient, path: str, data: bytes) -> None:
        response = post_raw(client, path, data, "application/json")

        body = assert_problem(response, 422, "validation_failed")
        assert error_fields(body) == {"body"}

    @pytest.mark.parametrize(
        ("data", "found"),
        [(b"[]", "an array"), (b"null", "null"), (b'"text"', "a string"), (b"42", "a number")],
    )
    def test_not_an_object_names_type(
        self, client: FlaskClient, path: str, data: bytes, found: str
    ) -> None:
        response = post_raw(client, path, data, "application/json")

        body = assert_problem(response, 422, "validation_failed")
        assert body["detail"].endswith(f"found {found}.")

    def test_duplicate_key(self, client: FlaskClient, path: str) -> None:
        pairs = ", ".join(f'"{name}": "x"' for name in valid_body(path))
        data = ("{" + pairs + ', "hardware_id": "other"}').encode()

        response = post_raw(client, path, data, "application/json")

        body = assert_problem(response, 400, "invalid_json")
        assert "'hardware_id'" in body["detail"]

    def test_byte_order_mark(self, client: FlaskClient, path: str) -> None:
        data = "\ufeff".encode() + json.dumps(valid_body(path)).encode()

        response = post_raw(client, path, data, "application/json")

        body = assert_problem(response, 400, "invalid_json")
        assert "byte order mark" in body["detail"]

    def test_compressed_body(self, client: FlaskClient, path: str) -> None:
        response = client.post(
            path,
            data=gzip.compress(json.dumps(valid_body(path)).encode()),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )

        body = assert_problem(response, 415, "unsupported_media_type")
        assert "gzip" in body["detail"]

    def test_over_cap(self, client: FlaskClient, path: str) -> None:
        data = b'{"pad": "' + b"x" * MAX_BODY + b'"}'

        response = post_raw(client, path, data, "application/json")

        assert_problem(response, 413, "payload_too_large")

    def test_over_cap_before_parsing(self, client: FlaskClient, path: str) -> None:
        response = post_raw(client, path, b"{" * (MAX_BODY + 1), "text/plain")

        assert_problem(response, 413, "payload_too_large")

    def test_at_cap_accepted(self, client: FlaskClient, path: str) -> None:
        data = json.dumps(valid_body(path)).encode()
        data = data + b" " * (MAX_BODY - len(data))
        assert len(data) == MAX_BODY

        response = post_raw(client, path, data, "application/json")

        assert response.status_code == 404
        assert response.get_json()["code"] in ("license_not_found", "lease_not_found")


# (field, value, path) for values that fail validation on the field they are sent in.
INVALID_FIELDS = [
    ("license_key", "", ACQUIRE),
    ("license_key", "   ", ACQUIRE),
    ("license_key", "\t", ACQUIRE),
    ("license_key", "k" * 129, ACQUIRE),
    ("license_key", 12345, ACQUIRE),
    ("license_key", None, ACQUIRE),
    ("license_key", ["k"], ACQUIRE),
    ("hardware_id", "", ACQUIRE),
    ("hardware_id", " \t ", ACQUIRE),
    ("hardware_id", "h" * 257, ACQUIRE),
    ("hardware_id", "hw\x00id", ACQUIRE),
    ("hardware_id", 7, ACQUIRE),
    ("hardware_id", True, ACQUIRE),
    ("hardware_id", {"id": "x"}, ACQUIRE),
    ("user_email", "", ACQUIRE),
    ("user_email", "   ", ACQUIRE),
    ("user_email", "not-an-email", ACQUIRE),
    ("user_email", "user@", ACQUIRE),
    ("user_email", "a b@example.com", ACQUIRE),
    ("user_email", "u" * 250 + "@example.com", ACQUIRE),
    ("user_email", 1.5, ACQUIRE),
    ("license_key", "lk_\ud800", ACQUIRE),
    ("hardware_id", "hw-\udfff", ACQUIRE),
    ("user_email", "u\ud800@example.com", ACQUIRE),
    ("lease_id", "lease_\ud800", RELEASE),
    ("lease_id", "", HEARTBEAT),
    ("lease_id", "  ", HEARTBEAT),
    ("lease_id", "l" * 129, HEARTBEAT),
    ("lease_id", 42, HEARTBEAT),
    ("license_key", "", HEARTBEAT),
    ("hardware_id", "h" * 257, HEARTBEAT),
    ("lease_id", "", RELEASE),
    ("lease_id", 42, RELEASE),
    ("license_key", "k" * 129, RELEASE),
    ("hardware_id", "", RELEASE),
]


class TestFields:
    @pytest.mark.parametrize(("field", "value", "path"), INVALID_FIELDS)
    def test_invalid_value(self, client: FlaskClient, field: str, value: Any, path: str) -> None:
        body = {**valid_body(path), field: value}

        response = client.post(path, json=body)

        problem = assert_problem(response, 422, "validation_failed")
        assert error_fields(problem) == {field}
        assert field in problem["detail"]
        assert_no_html_or_traceback(response)

    @pytest.mark.parametrize("path", POST_PATHS)
    def test_unknown_field(self, client: FlaskClient, path: str) -> None:
        response = client.post(path, json={**valid_body(path), "seats": 5})

        problem = assert_problem(response, 422, "validation_failed")
        assert error_fields(problem) == {"seats"}

    @pytest.mark.parametrize("path", POST_PATHS)
    def test_missing_fields(self, client: FlaskClient, path: str) -> None:
        response = client.post(path, json={})

        problem = assert_problem(response, 422, "validation_failed")
        assert error_fields(problem) == set(valid_body(path))

    def test_each_error_listed(self, client: FlaskClient) -> None:
        body = {"license_key": "", "hardware_id": 1, "user_email": "x", "extra": 1}

        response = client.post(ACQUIRE, json=body)

        problem = assert_problem(response, 422, "validation_failed")
        assert error_fields(problem) == {"license_key", "hardware_id", "user_email", "extra"}

    def test_detail_punctuation(self, client: FlaskClient) -> None:
        response = client.post(ACQUIRE, json={"user_email": "nobody"})

        problem = assert_problem(response, 422, "validation_failed")
        assert ".;" not in problem["detail"]
        assert "user_email: Not a valid email address" in problem["detail"]

    def test_problem_hides_input(self, client: FlaskClient) -> None:
        response = client.post(ACQUIRE, json={**acquire_body("lk_secret-value"), "extra": "x"})

        assert "lk_secret-value" not in response.get_data(as_text=True)

    @pytest.mark.parametrize(
        ("field", "value"),
        [("license_key", "k" * 128), ("hardware_id", "h" * 256), ("user_email", "A@B.example")],
    )
    def test_limit_accepted(self, client: FlaskClient, field: str, value: str) -> None:
        response = client.post(ACQUIRE, json={**acquire_body("lk_unknown"), field: value})

        assert_problem(response, 404, "license_not_found")


class TestRouting:
    @pytest.mark.parametrize(
        "path",
        [
            "/",
            "/nope",
            "/favicon.ico",
            "/robots.txt",
            "/api/v1/licenses",
            "/api/v1/licenses/acquire/",
            "/api/v2/licenses/acquire",
        ],
    )
    def test_unknown_path(self, client: FlaskClient, path: str) -> None:
        response = client.get(path)

        assert_problem(response, 404, "not_found")
        assert_no_html_or_traceback(response)

    def test_trailing_slash_hint(self, client: FlaskClient) -> None:
        response = client.post(ACQUIRE + "/", json=acquire_body("lk_unknown"))

        body = assert_problem(response, 404, "not_found")
        assert f"Did you mean {ACQUIRE}" in body["detail"]

    def test_unknown_path_post(self, client: FlaskClient) -> None:
        response = client.post("/api/v1/licenses/borrow", json={})

        assert_problem(response, 404, "not_found")

    @pytest.mark.parametrize(
        ("method", "path", "allow"),
        [
            ("GET", ACQUIRE, "POST"),
            ("PUT", ACQUIRE, "POST"),
            ("DELETE", HEARTBEAT, "POST"),
            ("PATCH", RELEASE, "POST"),
            ("POST", "/healthz", "GET"),
            ("DELETE", JWKS, "GET"),
            ("PUT", "/openapi.json", "GET"),
        ],
    )
    def test_wrong_method(self, client: FlaskClient, method: str, path: str, allow: str) -> None:
        response = client.open(path, method=method)

        assert_problem(response, 405, "method_not_allowed")
        assert allow in [value.strip() for value in response.headers["Allow"].split(",")]
        assert_no_html_or_traceback(response)

    def test_options_lists_methods(self, client: FlaskClient) -> None:
        response = client.options(ACQUIRE)

        assert response.status_code == 204
        assert response.headers["Allow"] == "OPTIONS, POST"
        assert_no_html_or_traceback(response)


class TestFault:
    def test_internal_error_hidden(
        self, client: FlaskClient, service: LicenseService, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def fail(work: Any) -> Any:
            raise RuntimeError("disk I/O error at /srv/data/licenses.sqlite3")

        monkeypatch.setattr(service.store, "run_transaction", fail)

        response = client.post(ACQUIRE, json=acquire_body("lk_any"))

        assert_problem(response, 500, "internal_error")
        assert "disk I/O" not in response.get_data(as_text=True)
        assert_no_html_or_traceback(response)

    def test_lock_contention(
        self,
        flask_app: flask.Flask,
        service: LicenseService,
        data_dir: Path,
        new_license: LicenseFactory,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        created = new_license()
        monkeypatch.setattr(sqlite_store, "_BUSY_TIMEOUT_MS", 20)
        store = sqlite_store.SqliteSeatStore(data_dir, max_attempts=2)
        contended = LicenseService(
            store, service.signer, service.hasher, service.clock, service.issuer
        )
        monkeypatch.setattr(app_module, "_service", contended)
        # Another connection holds the write lock for the whole request.
        blocker = sqlite3.connect(store.path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            response = flask_app.test_client().post(ACQUIRE, json=acquire_body(created.key))
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
            store.close()

        assert_problem(response, 503, "contention")
        assert response.headers["Retry-After"] == "1"


def chunks(data: bytes, size: int = 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


class TestRealServer:
    @pytest.fixture
    def seat_license(self, live_server: LiveServer) -> CreatedLicense:
        return create_license_in(live_server.data_dir, seats=2)

    def test_length_over_cap(self, live_server: LiveServer) -> None:
        response = requests.post(
            live_server.url + ACQUIRE,
            data=b"x" * (MAX_BODY + 1),
            headers={"Content-Type": "application/json"},
            timeout=5,
        )

        assert_problem(response, 413, "payload_too_large")

    def test_chunked_over_cap(self, live_server: LiveServer) -> None:
        data = b'{"pad": "' + b"x" * MAX_BODY + b'"}'

        response = requests.post(
            live_server.url + ACQUIRE,
            data=chunks(data),
            headers={"Content-Type": "application/json"},
            timeout=5,
        )

        assert response.request.headers["Transfer-Encoding"] == "chunked"
        assert_problem(response, 413, "payload_too_large")

    def test_chunked_accepted(self, live_server: LiveServer, seat_license: CreatedLicense) -> None:
        data = json.dumps(acquire_body(seat_license.key)).encode()

        response = requests.post(
            live_server.url + ACQUIRE,
            data=chunks(data, 16),
            headers={"Content-Type": "application/json"},
            timeout=5,
        )

        assert response.status_code == 200
        assert response.json()["seats_total"] == 2

    @pytest.mark.parametrize("path", ["/favicon.ico", "/robots.txt", "/nope"])
    def test_unknown_path(self, live_server: LiveServer, path: str) -> None:
        response = requests.get(live_server.url + path, timeout=5)

        assert_problem(response, 404, "not_found")

    def test_wrong_method(self, live_server: LiveServer) -> None:
        response = requests.get(live_server.url + ACQUIRE, timeout=5)

        assert_problem(response, 405, "method_not_allowed")
        assert response.headers["Allow"] == "OPTIONS, POST"

    def test_invalid_json(self, live_server: LiveServer) -> None:
        response = requests.post(
            live_server.url + ACQUIRE,
            data=b'{"a": NaN}',
            headers={"Content-Type": "application/json"},
            timeout=5,
        )

        assert_problem(response, 400, "invalid_json")

    def test_wrong_content_type(self, live_server: LiveServer) -> None:
        response = requests.post(
            live_server.url + ACQUIRE, data=json.dumps(acquire_body("k")), timeout=5
        )

        assert_problem(response, 415, "unsupported_media_type")

    def test_validation(self, live_server: LiveServer) -> None:
        response = requests.post(
            live_server.url + ACQUIRE, json={**acquire_body("k"), "user_email": "x"}, timeout=5
        )

        problem = assert_problem(response, 422, "validation_failed")
        assert error_fields(problem) == {"user_email"}
