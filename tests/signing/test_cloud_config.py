"""Configuration of the KMS signer and Secret Manager from environment variables."""

from __future__ import annotations

import pytest

from functions.config import (
    DEFAULT_MAX_LEASE_LIFETIME_SECONDS,
    ConfigError,
    SecretsKind,
    Settings,
    SignerKind,
)
from tests.signing.fake_gcp import CRYPTO_KEY, PROJECT

KMS_ENV = {"LICENSE_SIGNER": "kms", "LICENSE_KMS_KEY": CRYPTO_KEY}


def test_defaults_are_local() -> None:
    settings = Settings.from_env({})
    assert settings.signer is SignerKind.LOCAL
    assert settings.secrets is SecretsKind.LOCAL
    assert settings.kms is None
    assert settings.secret_manager_endpoint is None


def test_kms_settings_read() -> None:
    settings = Settings.from_env(
        {
            **KMS_ENV,
            "LICENSE_KMS_KEY_VERSION": "3",
            "LICENSE_MAX_LEASE_LIFETIME_SECONDS": "600",
            "LICENSE_KMS_ENDPOINT": "127.0.0.1:9000",
        }
    )
    assert settings.kms is not None
    assert settings.kms.crypto_key == CRYPTO_KEY
    assert settings.kms.key_version == 3
    assert settings.kms.max_lease_lifetime_seconds == 600
    assert settings.kms.endpoint == "127.0.0.1:9000"


def test_kms_production_defaults() -> None:
    settings = Settings.from_env(KMS_ENV)
    assert settings.kms is not None
    assert settings.kms.key_version is None
    assert settings.kms.endpoint is None
    assert settings.kms.max_lease_lifetime_seconds == DEFAULT_MAX_LEASE_LIFETIME_SECONDS


@pytest.mark.parametrize(
    "crypto_key",
    [
        "",
        "projects/p/locations/l/keyRings/r",
        f"{CRYPTO_KEY}/cryptoKeyVersions/1",
        "projects//locations/l/keyRings/r/cryptoKeys/k",
    ],
)
def test_invalid_crypto_key_rejected(crypto_key: str) -> None:
    with pytest.raises(ConfigError, match="LICENSE_KMS_KEY"):
        Settings.from_env({"LICENSE_SIGNER": "kms", "LICENSE_KMS_KEY": crypto_key})


@pytest.mark.parametrize("version", ["0", "-1", "latest", "1.5"])
def test_invalid_key_version_rejected(version: str) -> None:
    with pytest.raises(ConfigError, match="LICENSE_KMS_KEY_VERSION"):
        Settings.from_env({**KMS_ENV, "LICENSE_KMS_KEY_VERSION": version})


@pytest.mark.parametrize("endpoint", ["localhost:9000", "[::1]:9000", "127.0.0.5:1"])
def test_loopback_endpoint_accepted(endpoint: str) -> None:
    settings = Settings.from_env({**KMS_ENV, "LICENSE_KMS_ENDPOINT": endpoint})
    assert settings.kms is not None
    assert settings.kms.endpoint == endpoint


@pytest.mark.parametrize(
    "endpoint", ["kms.example.com:443", "10.0.0.1:9000", "127.0.0.1", "127.0.0.1:0", ":9000"]
)
def test_remote_or_invalid_endpoint_rejected(endpoint: str) -> None:
    with pytest.raises(ConfigError, match="LICENSE_SECRET_MANAGER_ENDPOINT"):
        Settings.from_env({"LICENSE_SECRET_MANAGER_ENDPOINT": endpoint})


def test_secret_manager_needs_project() -> None:
    with pytest.raises(ConfigError, match="GOOGLE_CLOUD_PROJECT"):
        Settings.from_env({"LICENSE_SECRETS": "secret-manager"})
    settings = Settings.from_env(
        {"LICENSE_SECRETS": "secret-manager", "GOOGLE_CLOUD_PROJECT": PROJECT}
    )
    assert settings.secrets is SecretsKind.SECRET_MANAGER
