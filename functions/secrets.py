"""Server secrets. Locally they live in an owner-only file in the data folder."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Protocol

from functions.files import read_or_create_private_file

KEY_HASH_SECRET = "license-key-hmac"  # noqa: S105 (a secret name, not a value)
# Every server secret the service reads; the infrastructure app creates one Secret Manager
# secret (without a value) per name.
SERVER_SECRETS = (KEY_HASH_SECRET,)
_LOCAL_SECRET_BYTES = 32


class SecretSource(Protocol):
    def secret(self, name: str) -> bytes:
        """Return the current value of the server secret `name`."""
        ...


class LocalSecrets:
    """Secrets as files named `secret-<name>` in the data folder, created on first use."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir

    def secret(self, name: str) -> bytes:
        path = self._data_dir / f"secret-{name}"
        return read_or_create_private_file(path, lambda: secrets.token_bytes(_LOCAL_SECRET_BYTES))
