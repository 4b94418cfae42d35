"""Fixtures for the KMS signer and Secret Manager tests: a fake Google Cloud on 127.0.0.1,
the service configured against it through environment variables, and token verification
with two independent JOSE libraries.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask
import functions_framework
import jwt
import pytest
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import KeySet

from functions import app as app_module
from functions.admin import SeatTerms
from functions.app import build_admin
from functions.config import Settings
from functions.secrets import SERVER_SECRETS
from tests.conftest import ISSUER, REPO_ROOT
from tests.signing.fake_gcp import CRYPTO_KEY, PROJECT, FakeGoogleCloud

PRODUCT = "cad-suite"
ACQUIRE = "/api/v1/licenses/acquire"
HEARTBEAT = "/api/v1/licenses/heartbeat"
JWKS = "/.well-known/jwks.json"


@pytest.fixture
def fake_gcp() -> Iterator[FakeGoogleCloud]:
    """A fake KMS with one enabled P-256 version and a Secret Manager holding every secret."""
    fake = FakeGoogleCloud()
    fake.add_version()
    for name in SERVER_SECRETS:
        fake.secrets[name] = secrets.token_bytes(32)
    yield fake
    fake.stop()


def cloud_env(fake: FakeGoogleCloud, data_dir: Path) -> dict[str, str]:
    """The production configuration, with the two endpoints pointing at the fake."""
    return {
        "LICENSE_DATA_DIR": str(data_dir),
        "LICENSE_ISSUER": ISSUER,
        "LICENSE_SIGNER": "kms",
        "LICENSE_KMS_KEY": CRYPTO_KEY,
        "LICENSE_KMS_ENDPOINT": fake.endpoint,
        "LICENSE_SECRETS": "secret-manager",
        "LICENSE_SECRET_MANAGER_ENDPOINT": fake.endpoint,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
    }


@pytest.fixture
def cloud_settings(
    fake_gcp: FakeGoogleCloud, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """Sets the production configuration in the environment for the process-wide service."""
    for name, value in cloud_env(fake_gcp, data_dir).items():
        monkeypatch.setenv(name, value)
    app_module.reset_service()
    yield Settings.from_env()
    app_module.reset_service()


@pytest.fixture(scope="module")
def http_app() -> flask.Flask:
    """The functions-framework app of main.py; it builds its service from the environment."""
    app: flask.Flask = functions_framework.create_app(
        target="licenses", source=str(REPO_ROOT / "main.py")
    )
    return app


@pytest.fixture
def client(http_app: flask.Flask, cloud_settings: Settings) -> flask.testing.FlaskClient:
    return http_app.test_client()


def create_license(settings: Settings, seats: int = 2) -> str:
    """Create a license through the admin path (store and Secret Manager) and return its key."""
    admin = build_admin(settings)
    try:
        if admin.store.product_by_slug(PRODUCT) is None:
            admin.create_product(PRODUCT)
        return admin.create_license(PRODUCT, "test-customer", SeatTerms(seats=seats)).key
    finally:
        admin.store.close()


def acquire_body(license_key: str, hardware_id: str = "test-hw") -> dict[str, str]:
    return {"license_key": license_key, "hardware_id": hardware_id, "user_email": "a@example.com"}


def verify_with_pyjwt(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid]
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=["ES256"], audience=PRODUCT, issuer=ISSUER
    )
    return claims


def verify_with_joserfc(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    decoded = joserfc_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256"])
    registry = joserfc_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER}, aud={"essential": True, "value": PRODUCT}
    )
    registry.validate(decoded.claims)
    return dict(decoded.claims)


class RecordList(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def service_logs() -> Iterator[list[logging.LogRecord]]:
    """Records of the `functions` loggers, which do not propagate to pytest's caplog."""
    handler = RecordList()
    logger = logging.getLogger("functions")
    logger.addHandler(handler)
    previous_level = logger.level
    logger.setLevel(logging.INFO)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(previous_level)
