"""Server secrets through the real google-cloud-secret-manager client against the fake."""

from __future__ import annotations

import logging

import grpc
import pytest

from functions.secret_manager import SecretManagerSecrets, SecretsUnavailable, secret_manager_client
from functions.secrets import KEY_HASH_SECRET, SERVER_SECRETS
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


@pytest.mark.parametrize("fault", ["wrong_crc32c", "missing_crc32c"])
def test_payload_crc32c_failure_rejected(
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
    assert all(value.hex() not in str(vars(record)) for record in service_logs)


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
