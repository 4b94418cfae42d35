"""What the embedded store keeps on disk: keyed hashes of license keys, never the keys."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from flask.testing import FlaskClient

from functions.service import LicenseService
from functions.store.sqlite import DATABASE_FILENAME, SqliteSeatStore
from tests.core.conftest import ACQUIRE, LicenseFactory, acquire_body


def data_folder_bytes(data_dir: Path) -> bytes:
    """Concatenate every file of the data folder, including the SQLite WAL."""
    return b"".join(path.read_bytes() for path in sorted(data_dir.iterdir()) if path.is_file())


def test_raw_key_absent(client: FlaskClient, new_license: LicenseFactory, data_dir: Path) -> None:
    created = new_license()
    assert client.post(ACQUIRE, json=acquire_body(created.key)).status_code == 200

    stored = data_folder_bytes(data_dir)

    # The stored hash is found, so the search does read the records.
    assert created.license.key_hash.encode() in stored
    assert created.key.encode() not in stored
    assert created.key.removeprefix("lk_").encode() not in stored


def test_hash_is_keyed(new_license: LicenseFactory, data_dir: Path) -> None:
    created = new_license()

    stored = data_folder_bytes(data_dir)

    assert hashlib.sha256(created.key.encode()).hexdigest().encode() not in stored
    assert created.license.key_hash != hashlib.sha256(created.key.encode()).hexdigest()


def test_lookup_by_hash(service: LicenseService, new_license: LicenseFactory) -> None:
    created = new_license()

    found = service.store.run_transaction(
        lambda tx: tx.license_by_key_hash(service.hasher.license_key_hash(created.key))
    )

    assert found is not None
    assert found.id == created.license.id


def test_keys_differ(new_license: LicenseFactory) -> None:
    first = new_license()
    second = new_license()

    assert first.key != second.key
    assert len(first.key) >= 40


def test_files_owner_only(
    service: LicenseService, new_license: LicenseFactory, tmp_path: Path
) -> None:
    # The fixture's folder exists already; a store in a new folder creates it owner-only.
    store = SqliteSeatStore(tmp_path / "new-data")
    created = new_license()
    service.acquire(created.key, "hw-1", "user@example.com")
    store.close()

    assert stat.S_IMODE((tmp_path / "new-data").stat().st_mode) == 0o700
    for path in [tmp_path / "new-data" / DATABASE_FILENAME, *service.store.path.parent.glob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
