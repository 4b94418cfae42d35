"""Configuration from environment variables. Secrets are never read from here."""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import os
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TypeVar

E = TypeVar("E", bound=enum.StrEnum)


class StoreKind(enum.StrEnum):
    EMBEDDED = "embedded"
    FIRESTORE = "firestore"


class SignerKind(enum.StrEnum):
    LOCAL = "local"
    KMS = "kms"


class SecretsKind(enum.StrEnum):
    LOCAL = "local"
    SECRET_MANAGER = "secret-manager"  # noqa: S105 (a configuration value, not a secret)


# A Cloud KMS crypto key resource name; each segment is one non-empty path component.
_CRYPTO_KEY_NAME = re.compile(r"projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+")
# Retired signing keys stay in the JWKS this long by default: one day, well above the default
# lease lifetime of 180 s, so that a license configured with longer leases is still covered.
# License creation caps lease lifetimes at the same default (functions.admin); lowering this
# setting below a license's lease lifetime lets its tokens outlive a retired key in the JWKS.
DEFAULT_MAX_LEASE_LIFETIME_SECONDS = 86_400


class ConfigError(ValueError):
    """An environment variable has a value the service cannot use."""


def _choice(env: Mapping[str, str], name: str, kind: type[E], default: E) -> E:
    raw = env.get(name, default.value).strip().lower()
    try:
        return kind(raw)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise ConfigError(f"{name}={raw!r} is not valid; expected one of: {choices}.") from None


def _local_endpoint(env: Mapping[str, str], name: str) -> str | None:
    """Read an optional `host:port` for a local test server, reached without TLS.

    Only loopback hosts are accepted, because the channel is unencrypted and unauthenticated.
    Production leaves these variables unset and reaches the Google APIs with TLS.
    """
    raw = env.get(name, "").strip()
    if not raw:
        return None
    host, separator, port = raw.rpartition(":")
    host = host.strip("[]")
    if not separator or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{name}={raw!r} is not valid; expected host:port, e.g. 127.0.0.1:8085.")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"{name}={raw!r} is not a loopback address; the channel to it has no TLS, so only "
            "127.0.0.1, ::1 or localhost are allowed. Unset it to use the Google API."
        )
    return raw


def _positive_int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name}={raw!r} is not valid; expected a positive integer.")
    return int(raw)


@dataclasses.dataclass(frozen=True)
class KmsSettings:
    """Settings of the Cloud KMS signer (`LICENSE_KMS_*` variables)."""

    crypto_key: str
    # Version number to sign with; None signs with the newest enabled version at start.
    key_version: int | None
    # How long a retired key version stays in the JWKS: the longest lifetime of a lease token.
    max_lease_lifetime_seconds: int
    endpoint: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KmsSettings:
        crypto_key = env.get("LICENSE_KMS_KEY", "").strip()
        if not _CRYPTO_KEY_NAME.fullmatch(crypto_key):
            raise ConfigError(
                f"LICENSE_KMS_KEY={crypto_key!r} is not valid; LICENSE_SIGNER=kms needs a crypto "
                "key name: projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY."
            )
        max_lifetime = _positive_int(env, "LICENSE_MAX_LEASE_LIFETIME_SECONDS")
        return cls(
            crypto_key=crypto_key,
            key_version=_positive_int(env, "LICENSE_KMS_KEY_VERSION"),
            max_lease_lifetime_seconds=max_lifetime or DEFAULT_MAX_LEASE_LIFETIME_SECONDS,
            endpoint=_local_endpoint(env, "LICENSE_KMS_ENDPOINT"),
        )


def _share(env: Mapping[str, str], name: str, default: str) -> Decimal:
    raw = env.get(name, default).strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal(0)
    if not value.is_finite() or not Decimal(0) < value <= 1:
        raise ConfigError(f"{name}={raw!r} is not a share; give a number in (0, 1], like 0.8.")
    return value


@dataclasses.dataclass(frozen=True)
class Settings:
    data_dir: Path
    store: StoreKind
    signer: SignerKind
    issuer: str
    google_cloud_project: str | None
    secrets: SecretsKind = SecretsKind.LOCAL
    kms: KmsSettings | None = None
    secret_manager_endpoint: str | None = None
    firestore_database: str = "(default)"
    # Share of a license's seats in use at which the sweep logs a seat-pressure event.
    seat_pressure_threshold: Decimal = Decimal("0.8")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        signer = _choice(env, "LICENSE_SIGNER", SignerKind, SignerKind.LOCAL)
        secrets = _choice(env, "LICENSE_SECRETS", SecretsKind, SecretsKind.LOCAL)
        project = env.get("GOOGLE_CLOUD_PROJECT") or None
        if secrets is SecretsKind.SECRET_MANAGER and project is None:
            raise ConfigError(
                "LICENSE_SECRETS=secret-manager needs GOOGLE_CLOUD_PROJECT, the project that "
                "holds the server secrets."
            )
        return cls(
            data_dir=Path(env.get("LICENSE_DATA_DIR", ".license-data")).expanduser(),
            store=_choice(env, "LICENSE_STORE", StoreKind, StoreKind.EMBEDDED),
            signer=signer,
            issuer=env.get("LICENSE_ISSUER", "https://licenses.coditect.ai"),
            google_cloud_project=project,
            secrets=secrets,
            kms=KmsSettings.from_env(env) if signer is SignerKind.KMS else None,
            secret_manager_endpoint=_local_endpoint(env, "LICENSE_SECRET_MANAGER_ENDPOINT"),
            seat_pressure_threshold=_share(env, "LICENSE_SEAT_PRESSURE_THRESHOLD", "0.8"),
            firestore_database=env.get("LICENSE_FIRESTORE_DATABASE") or "(default)",
        )
