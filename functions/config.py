"""Configuration from environment variables. Secrets are never read from here."""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

E = TypeVar("E", bound=enum.StrEnum)


class StoreKind(enum.StrEnum):
    EMBEDDED = "embedded"
    FIRESTORE = "firestore"


class SignerKind(enum.StrEnum):
    LOCAL = "local"
    KMS = "kms"


class ConfigError(ValueError):
    """An environment variable has a value the service cannot use."""


def _choice(env: Mapping[str, str], name: str, kind: type[E], default: E) -> E:
    raw = env.get(name, default.value).strip().lower()
    try:
        return kind(raw)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise ConfigError(f"{name}={raw!r} is not valid; expected one of: {choices}.") from None


@dataclasses.dataclass(frozen=True)
class Settings:
    data_dir: Path
    store: StoreKind
    signer: SignerKind
    issuer: str
    google_cloud_project: str | None
    firestore_database: str = "(default)"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            data_dir=Path(env.get("LICENSE_DATA_DIR", ".license-data")).expanduser(),
            store=_choice(env, "LICENSE_STORE", StoreKind, StoreKind.EMBEDDED),
            signer=_choice(env, "LICENSE_SIGNER", SignerKind, SignerKind.LOCAL),
            issuer=env.get("LICENSE_ISSUER", "https://licenses.coditect.ai"),
            google_cloud_project=env.get("GOOGLE_CLOUD_PROJECT") or None,
            firestore_database=env.get("LICENSE_FIRESTORE_DATABASE") or "(default)",
        )
