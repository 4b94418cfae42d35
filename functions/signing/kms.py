"""Cloud KMS signer: ES256 signatures from an EC_SIGN_P256_SHA256 key version that stays in KMS.

Each AsymmetricSign call is checked with the CRC32C fields in both directions, and the
returned signature is verified against the version's public key before it is used, so a
damaged or misrouted signature never reaches a client. Public keys are fetched once per key
version: when the instance starts, or when a JWKS refresh finds a new version. Issuing a
token makes one AsymmetricSign call and no other KMS call.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import grpc
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from google.api_core import exceptions as core_exceptions
from google.cloud import kms_v1
from google.cloud.kms_v1.services.key_management_service.transports import (
    KeyManagementServiceGrpcTransport,
)

from functions.clock import Clock
from functions.config import KmsSettings
from functions.errors import ServiceUnavailable
from functions.gcp import (
    CALL_TIMEOUT_SECONDS,
    RETRY_AFTER_SECONDS,
    TRANSIENT_RETRY,
    crc32c,
    status_name,
)
from functions.signing import der_to_jose, public_jwk

log = logging.getLogger(__name__)

_P256_SHA256 = kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm.EC_SIGN_P256_SHA256
_ENABLED = kms_v1.CryptoKeyVersion.CryptoKeyVersionState.ENABLED

# The JWKS endpoint lists the key versions again at most this often. Clients cache the JWKS
# for the same 300 s (its Cache-Control max-age).
KEY_SET_REFRESH_INTERVAL = timedelta(minutes=5)


class KmsIntegrityError(Exception):
    """A KMS reply failed a CRC32C, name or signature check and was discarded."""


class KmsKeyError(Exception):
    """The configured crypto key has no version this signer can use."""


class SignerUnavailable(ServiceUnavailable):
    """Cloud KMS failed to return a signature that passed the checks, so no token was issued."""

    def __init__(self) -> None:
        super().__init__(
            "Token signing is temporarily unavailable; no token was issued. "
            f"Retry after {RETRY_AFTER_SECONDS} seconds.",
            retry_after_seconds=RETRY_AFTER_SECONDS,
        )


def kms_client(endpoint: str | None) -> kms_v1.KeyManagementServiceClient:
    """Build a KMS client: the Google API by default, or a local test server at `endpoint`.

    A local endpoint is reached over an insecure channel with no credentials, so configuration
    accepts only loopback addresses for it.
    """
    if endpoint is None:
        return kms_v1.KeyManagementServiceClient()
    transport = KeyManagementServiceGrpcTransport(channel=grpc.insecure_channel(endpoint))
    return kms_v1.KeyManagementServiceClient(transport=transport)


@dataclasses.dataclass
class _VersionKey:
    public_key: ec.EllipticCurvePublicKey
    jwk: dict[str, str]
    number: int
    # Time this instance first found the version no longer ENABLED, or None while it is enabled.
    retired_at: datetime | None = None


class KmsSigner:
    """Signer that uses one KMS key version, chosen at start, and publishes every live version."""

    def __init__(
        self,
        client: kms_v1.KeyManagementServiceClient,
        crypto_key: str,
        *,
        key_version: int | None,
        max_lease_lifetime: timedelta,
        clock: Clock,
    ) -> None:
        self._client = client
        self._crypto_key = crypto_key
        self._max_lease_lifetime = max_lease_lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, _VersionKey] = {}

        now = clock.now()
        try:
            versions = self._list_versions()
            self._version_name = self._choose_signing_version(versions, key_version)
            self._update_key_set(versions, now)
        except (core_exceptions.GoogleAPIError, KmsIntegrityError, KmsKeyError) as error:
            log.error(
                "loading the KMS signing keys failed",
                extra={"crypto_key": crypto_key, "error": str(error)},
            )
            raise SignerUnavailable() from None
        self._key_id = self._keys[self._version_name].jwk["kid"]
        self._next_refresh = now + KEY_SET_REFRESH_INTERVAL
        log.info(
            "KMS signer ready",
            extra={"key_version": self._version_name, "kid": self._key_id},
        )

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def key_version(self) -> str:
        """The full resource name of the key version this instance signs with."""
        return self._version_name

    def sign(self, signing_input: bytes) -> bytes:
        digest = hashlib.sha256(signing_input).digest()
        try:
            response = self._client.asymmetric_sign(
                request={
                    "name": self._version_name,
                    "digest": {"sha256": digest},
                    "digest_crc32c": crc32c(digest),
                },
                retry=TRANSIENT_RETRY,
                timeout=CALL_TIMEOUT_SECONDS,
            )
            return self._checked_signature(response, digest)
        except core_exceptions.GoogleAPIError as error:
            log.error(
                "KMS signing failed",
                extra={"key_version": self._version_name, "grpc_status": status_name(error)},
            )
        except KmsIntegrityError as error:
            log.error(
                "KMS signature rejected",
                extra={"key_version": self._version_name, "reason": str(error)},
            )
        raise SignerUnavailable()

    def _checked_signature(self, response: kms_v1.AsymmetricSignResponse, digest: bytes) -> bytes:
        if not response.verified_digest_crc32c:
            raise KmsIntegrityError("KMS did not confirm that it verified the digest CRC32C.")
        if response.name != self._version_name:
            raise KmsIntegrityError(f"The reply names key version {response.name!r}.")
        if response.signature_crc32c != crc32c(response.signature):
            raise KmsIntegrityError("The signature does not match its CRC32C.")
        try:
            signature = der_to_jose(response.signature)
        except (ValueError, OverflowError):
            raise KmsIntegrityError("The signature is not a valid DER ECDSA signature.") from None
        self._verify(signature, digest)
        return signature

    def _verify(self, signature: bytes, digest: bytes) -> None:
        # The CRC32C fields catch damage in transit; this catches a signature from another key.
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        public_key = self._keys[self._version_name].public_key
        try:
            public_key.verify(
                encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(hashes.SHA256()))
            )
        except InvalidSignature:
            raise KmsIntegrityError("The signature does not verify with the public key.") from None

    def jwks(self) -> dict[str, Any]:
        now = self._clock.now()
        with self._lock:
            if now >= self._next_refresh:
                self._next_refresh = now + KEY_SET_REFRESH_INTERVAL
                self._refresh(now)
            self._drop_expired(now)
            ordered = sorted(self._keys.values(), key=lambda key: key.number, reverse=True)
            return {"keys": [dict(key.jwk) for key in ordered]}

    def _refresh(self, now: datetime) -> None:
        try:
            self._update_key_set(self._list_versions(), now)
        except (core_exceptions.GoogleAPIError, KmsIntegrityError) as error:
            # The cached key set stays valid, so the JWKS is still served from it.
            log.warning(
                "refreshing the KMS key set failed, serving the cached keys",
                extra={"crypto_key": self._crypto_key, "error": str(error)},
            )

    def _list_versions(self) -> list[kms_v1.CryptoKeyVersion]:
        pager = self._client.list_crypto_key_versions(
            request={"parent": self._crypto_key},
            retry=TRANSIENT_RETRY,
            timeout=CALL_TIMEOUT_SECONDS,
        )
        return list(pager)

    def _choose_signing_version(
        self, versions: Sequence[kms_v1.CryptoKeyVersion], pinned: int | None
    ) -> str:
        usable = [v for v in versions if v.state == _ENABLED and v.algorithm == _P256_SHA256]
        if pinned is not None:
            for version in usable:
                if _version_number(version.name) == pinned:
                    return str(version.name)
            raise KmsKeyError(
                f"LICENSE_KMS_KEY_VERSION={pinned} is not an enabled EC_SIGN_P256_SHA256 version "
                f"of {self._crypto_key}; enable it or change the setting."
            )
        if not usable:
            raise KmsKeyError(
                f"{self._crypto_key} has no enabled EC_SIGN_P256_SHA256 version. Create one."
            )
        newest = max(usable, key=lambda v: _version_number(v.name))
        return str(newest.name)

    def _update_key_set(self, versions: Sequence[kms_v1.CryptoKeyVersion], now: datetime) -> None:
        enabled = set()
        for version in versions:
            if version.state != _ENABLED or version.algorithm != _P256_SHA256:
                continue
            name = str(version.name)
            enabled.add(name)
            known = self._keys.get(name)
            if known is None:
                self._keys[name] = self._fetch_public_key(name)
            else:
                known.retired_at = None
        # NOTE: only versions this instance saw enabled can be retired here. An instance started
        # after a version was disabled never publishes it, because public keys are fetched for
        # enabled versions only. The rotation procedure in docs/signing.md allows for that.
        for name, key in self._keys.items():
            if name not in enabled and key.retired_at is None:
                key.retired_at = now
                log.info("KMS key version retired", extra={"key_version": name})

    def _drop_expired(self, now: datetime) -> None:
        # A retired version may have signed tokens until it was retired, and the longest of them
        # expires one maximum lease lifetime later. The signing version is never dropped.
        expired = [
            name
            for name, key in self._keys.items()
            if key.retired_at is not None
            and now >= key.retired_at + self._max_lease_lifetime
            and name != self._version_name
        ]
        for name in expired:
            del self._keys[name]
            log.info("KMS key version removed from the JWKS", extra={"key_version": name})

    def _fetch_public_key(self, name: str) -> _VersionKey:
        response = self._client.get_public_key(
            request={"name": name}, retry=TRANSIENT_RETRY, timeout=CALL_TIMEOUT_SECONDS
        )
        if response.name != name:
            raise KmsIntegrityError(f"GetPublicKey for {name} returned {response.name!r}.")
        if response.pem_crc32c != crc32c(response.pem.encode("utf-8")):
            raise KmsIntegrityError(f"The public key PEM of {name} does not match its CRC32C.")
        if response.algorithm != _P256_SHA256:
            raise KmsIntegrityError(
                f"{name} is {response.algorithm.name}, not EC_SIGN_P256_SHA256."
            )
        public_key = serialization.load_pem_public_key(response.pem.encode("utf-8"))
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise KmsIntegrityError(f"The public key of {name} is not an EC key.")
        return _VersionKey(public_key, public_jwk(public_key), _version_number(name))


def _version_number(name: str) -> int:
    parts = kms_v1.KeyManagementServiceClient.parse_crypto_key_version_path(name)
    return int(parts["crypto_key_version"])


def open_kms_signer(settings: KmsSettings, clock: Clock) -> KmsSigner:
    return KmsSigner(
        kms_client(settings.endpoint),
        settings.crypto_key,
        key_version=settings.key_version,
        max_lease_lifetime=timedelta(seconds=settings.max_lease_lifetime_seconds),
        clock=clock,
    )
