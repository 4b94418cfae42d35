"""Assembly of the service from configuration: store, signer, secrets and clock."""

from __future__ import annotations

import threading

from functions.admin import Admin
from functions.clock import SystemClock
from functions.config import ConfigError, SecretsKind, Settings, SignerKind, StoreKind
from functions.identity import KeyHasher
from functions.secrets import KEY_HASH_SECRET, LocalSecrets, SecretSource
from functions.service import LicenseService
from functions.signing import Signer
from functions.signing.local import LocalSigner
from functions.store import SeatStore
from functions.store.sqlite import SqliteSeatStore


def open_store(settings: Settings) -> SeatStore:
    if settings.store is StoreKind.EMBEDDED:
        return SqliteSeatStore(settings.data_dir)
    if settings.store is StoreKind.FIRESTORE:
        if settings.google_cloud_project is None:
            raise ConfigError(
                "LICENSE_STORE=firestore needs GOOGLE_CLOUD_PROJECT set to the project that "
                "holds the Firestore database."
            )
        # Imported here so that the embedded store runs without the Firestore client loaded.
        from functions.store.firestore import FirestoreSeatStore

        return FirestoreSeatStore.connect(
            settings.google_cloud_project, settings.firestore_database
        )
    raise ConfigError(f"LICENSE_STORE={settings.store.value} is not available in this build.")


def open_signer(settings: Settings) -> Signer:
    if settings.signer is SignerKind.LOCAL:
        return LocalSigner(settings.data_dir)
    if settings.kms is None:
        raise ConfigError("LICENSE_SIGNER=kms needs LICENSE_KMS_KEY, the crypto key to sign with.")
    # Imported here so that local runs and the admin CLI never load the KMS client library.
    from functions.signing.kms import open_kms_signer

    return open_kms_signer(settings.kms, SystemClock())


def open_secrets(settings: Settings) -> SecretSource:
    if settings.secrets is SecretsKind.LOCAL:
        return LocalSecrets(settings.data_dir)
    if settings.google_cloud_project is None:
        raise ConfigError("LICENSE_SECRETS=secret-manager needs GOOGLE_CLOUD_PROJECT.")
    from functions.secret_manager import SecretManagerSecrets, secret_manager_client

    client = secret_manager_client(settings.secret_manager_endpoint)
    return SecretManagerSecrets(client, settings.google_cloud_project)


def open_hasher(settings: Settings) -> KeyHasher:
    return KeyHasher(open_secrets(settings).secret(KEY_HASH_SECRET))


def build_service(settings: Settings) -> LicenseService:
    # Signer and secrets come first: they can fail while KMS or Secret Manager is unavailable,
    # and then no store connection is left open.
    signer = open_signer(settings)
    hasher = open_hasher(settings)
    return LicenseService(
        store=open_store(settings),
        signer=signer,
        hasher=hasher,
        clock=SystemClock(),
        issuer=settings.issuer,
    )


def build_admin(settings: Settings) -> Admin:
    """Build the administration entry point, which needs the store and hasher but no signer."""
    return Admin(open_store(settings), open_hasher(settings), SystemClock())


_service: LicenseService | None = None
_service_lock = threading.Lock()


def service() -> LicenseService:
    """Return the process-wide service, built from the environment on first use."""
    global _service
    if _service is None:
        with _service_lock:
            if _service is None:
                _service = build_service(Settings.from_env())
    return _service


def reset_service() -> None:
    """Close and forget the process-wide service; the next `service()` call builds a new one."""
    global _service
    with _service_lock:
        if _service is not None:
            _service.store.close()
        _service = None
