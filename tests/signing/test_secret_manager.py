"""Server secrets through the real google-cloud-secret-manager client against the fake."""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
import pytest

from functions import cli
from functions.secret_manager import SecretManagerSecrets, SecretsUnavailable, secret_manager_client
from functions.secrets import KEY_HASH_SECRET, SERVER_SECRETS
from tests.signing.conftest import cloud_env
from tests.signing.fake_gcp import PROJECT, FakeGoogleCloud


def open_secrets(fake: FakeGoogleCloud) -> SecretManagerSecrets:
    return SecretManagerSecrets(secret_manager_client(fake.endpoint), PROJECT)


def test_secrets_read_once_at_start(fake_gcp: FakeGoogleCloud) -> None:
    source = open_secrets(fake_gcp)
    for _ in range(3):
        assert source.secret(KEY_HASH_SECRET) == fake_gcp.secrets[KEY_HASH_SECRET]
    assert fake_gcp.calls["AccessSecretVersion"] == len(SERVER_SECRETS)


def test_unknown_secret_name_raises(fake_gcp: FakeGoogleCloud) -> None:
    source = open_secrets(fake_gcp)
    with pytest.raises(KeyError, match="not a server secret"):
        source.secret("no-such-secret")


@pytest.mark.parametrize("fault", ["wrong_crc32c", "missing_crc32c", "wrong_name"])
def test_integrity_failure_rejected(
    fake_gcp: FakeGoogleCloud, fault: str, service_logs: list[logging.LogRecord]
) -> None:
    setattr(fake_gcp.secret_faults, fault, True)
    with pytest.raises(SecretsUnavailable):
        open_secrets(fake_gcp)
    rejected = [r for r in service_logs if r.getMessage() == "server secret rejected"]
    assert len(rejected) == 1
    assert KEY_HASH_SECRET in getattr(rejected[0], "secret", "")
    # The log names the secret, never its value.
    value = fake_gcp.secrets[KEY_HASH_SECRET]
    logged = " ".join(str(vars(record)) for record in service_logs)
    assert value.hex() not in logged
    assert repr(value) not in logged


@pytest.mark.parametrize(
    "status",
    [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.PERMISSION_DENIED,
    ],
)
def test_access_fault_unavailable(fake_gcp: FakeGoogleCloud, status: grpc.StatusCode) -> None:
    fake_gcp.secret_faults.status = status
    with pytest.raises(SecretsUnavailable) as raised:
        open_secrets(fake_gcp)
    assert raised.value.retry_after_seconds == 5


def test_missing_secret_unavailable(fake_gcp: FakeGoogleCloud) -> None:
    del fake_gcp.secrets[KEY_HASH_SECRET]
    with pytest.raises(SecretsUnavailable):
        open_secrets(fake_gcp)


def test_admin_cli_needs_no_signer(
    fake_gcp: FakeGoogleCloud, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in cloud_env(fake_gcp, data_dir).items():
        monkeypatch.setenv(name, value)
    assert cli.main(["products", "create", "cad-suite"]) == 0
    assert fake_gcp.calls["AccessSecretVersion"] == len(SERVER_SECRETS)
    assert fake_gcp.calls["ListCryptoKeyVersions"] == 0
    assert fake_gcp.calls["AsymmetricSign"] == 0


def test_admin_cli_reports_unavailable_secrets(
    fake_gcp: FakeGoogleCloud,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in cloud_env(fake_gcp, data_dir).items():
        monkeypatch.setenv(name, value)
    fake_gcp.secret_faults.status = grpc.StatusCode.UNAVAILABLE
    assert cli.main(["products", "create", "demo"]) == 1
    assert "Server secrets are temporarily unavailable" in capsys.readouterr().err
