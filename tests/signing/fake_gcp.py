"""A local gRPC server that speaks the Cloud KMS and Secret Manager methods the service calls.

It serves the real protocol (the request and response messages of google-cloud-kms and
google-cloud-secret-manager), signs with real P-256 keys, and counts every call, so tests
can point the real client libraries at it. Faults are set per test on `KmsFaults` and
`SecretFaults`.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any

import google_crc32c
import grpc
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
)
from google.cloud import kms_v1, secretmanager_v1

State = kms_v1.CryptoKeyVersion.CryptoKeyVersionState
Algorithm = kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm

PROJECT = "test-project"
CRYPTO_KEY = f"projects/{PROJECT}/locations/global/keyRings/licenses/cryptoKeys/lease-tokens"
KMS_SERVICE = "google.cloud.kms.v1.KeyManagementService"
SECRET_MANAGER_SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"
# r or s below this value has leading zero bytes in its 32-byte big-endian form.
SHORT_COORDINATE_LIMIT = 1 << 248


def crc32c(data: bytes) -> int:
    return int(google_crc32c.value(data))


@dataclasses.dataclass
class KmsFaults:
    """Faults of the fake KMS; every field off by default."""

    # Abort AsymmetricSign with this status.
    sign_status: grpc.StatusCode | None = None
    # Abort ListCryptoKeyVersions with this status.
    list_status: grpc.StatusCode | None = None
    # Reply verified_digest_crc32c=false.
    unverified_digest: bool = False
    # Reply a signature_crc32c that does not match the signature.
    wrong_signature_crc32c: bool = False
    # Reply with the name of another key version.
    wrong_name: bool = False
    # Sign with a key that is not the version's key (correct CRC32C, wrong signature).
    wrong_key: bool = False
    # Reply a pem_crc32c that does not match the PEM.
    wrong_pem_crc32c: bool = False
    # Sign again until r or s is shorter than 32 bytes.
    short_coordinate: bool = False


@dataclasses.dataclass
class SecretFaults:
    status: grpc.StatusCode | None = None
    wrong_crc32c: bool = False
    missing_crc32c: bool = False
    # Reply with the version name of another secret.
    wrong_name: bool = False


@dataclasses.dataclass
class FakeVersion:
    number: int
    private_key: ec.EllipticCurvePrivateKey
    state: Any = State.ENABLED
    algorithm: Any = Algorithm.EC_SIGN_P256_SHA256


class FakeGoogleCloud:
    """One gRPC server on 127.0.0.1 with both services; `endpoint` is its host:port."""

    def __init__(self) -> None:
        self.kms_faults = KmsFaults()
        self.secret_faults = SecretFaults()
        self.calls: collections.Counter[str] = collections.Counter()
        self.versions: dict[int, FakeVersion] = {}
        self.secrets: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    KMS_SERVICE,
                    {
                        "AsymmetricSign": _unary(
                            self._asymmetric_sign,
                            kms_v1.AsymmetricSignRequest,
                            kms_v1.AsymmetricSignResponse,
                        ),
                        "GetPublicKey": _unary(
                            self._get_public_key, kms_v1.GetPublicKeyRequest, kms_v1.PublicKey
                        ),
                        "ListCryptoKeyVersions": _unary(
                            self._list_versions,
                            kms_v1.ListCryptoKeyVersionsRequest,
                            kms_v1.ListCryptoKeyVersionsResponse,
                        ),
                    },
                ),
                grpc.method_handlers_generic_handler(
                    SECRET_MANAGER_SERVICE,
                    {
                        "AccessSecretVersion": _unary(
                            self._access_secret_version,
                            secretmanager_v1.AccessSecretVersionRequest,
                            secretmanager_v1.AccessSecretVersionResponse,
                        )
                    },
                ),
            )
        )
        port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"127.0.0.1:{port}"
        self._server.start()

    def stop(self) -> None:
        self._server.stop(grace=None).wait(timeout=5)

    # Test controls.

    def add_version(
        self, algorithm: Any = Algorithm.EC_SIGN_P256_SHA256, state: Any = State.ENABLED
    ) -> FakeVersion:
        with self._lock:
            number = max(self.versions, default=0) + 1
            version = FakeVersion(number, ec.generate_private_key(ec.SECP256R1()), state, algorithm)
            self.versions[number] = version
            return version

    def set_state(self, number: int, state: Any) -> None:
        with self._lock:
            self.versions[number].state = state

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    @staticmethod
    def version_name(number: int) -> str:
        return f"{CRYPTO_KEY}/cryptoKeyVersions/{number}"

    # KMS methods.

    def _version(self, name: str, context: grpc.ServicerContext) -> FakeVersion:
        prefix = CRYPTO_KEY + "/cryptoKeyVersions/"
        number = name.removeprefix(prefix)
        if not name.startswith(prefix) or not number.isdigit() or int(number) not in self.versions:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{name} not found.")
        version = self.versions[int(number)]
        if version.state != State.ENABLED:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"{name} is not enabled.")
        return version

    def _asymmetric_sign(
        self, request: kms_v1.AsymmetricSignRequest, context: grpc.ServicerContext
    ) -> kms_v1.AsymmetricSignResponse:
        self._count("AsymmetricSign")
        faults = self.kms_faults
        if faults.sign_status is not None:
            context.abort(faults.sign_status, "Injected fault.")
        version = self._version(request.name, context)
        digest = request.digest.sha256
        if len(digest) != 32:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "A SHA-256 digest is 32 bytes.")
        if request.digest_crc32c is not None and request.digest_crc32c != crc32c(digest):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "The digest CRC32C does not match.")
        key = ec.generate_private_key(ec.SECP256R1()) if faults.wrong_key else version.private_key
        signature = _sign(key, digest, faults.short_coordinate)
        name = self.version_name(version.number + 1000) if faults.wrong_name else request.name
        signature_crc32c = crc32c(signature) ^ (1 if faults.wrong_signature_crc32c else 0)
        return kms_v1.AsymmetricSignResponse(
            signature=signature,
            signature_crc32c=signature_crc32c,
            verified_digest_crc32c=request.digest_crc32c is not None
            and not faults.unverified_digest,
            name=name,
            protection_level=kms_v1.ProtectionLevel.HSM,
        )

    def _get_public_key(
        self, request: kms_v1.GetPublicKeyRequest, context: grpc.ServicerContext
    ) -> kms_v1.PublicKey:
        self._count("GetPublicKey")
        version = self._version(request.name, context)
        pem = (
            version.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )
        pem_crc32c = crc32c(pem.encode("ascii")) ^ (1 if self.kms_faults.wrong_pem_crc32c else 0)
        return kms_v1.PublicKey(
            pem=pem,
            pem_crc32c=pem_crc32c,
            algorithm=version.algorithm,
            name=request.name,
            protection_level=kms_v1.ProtectionLevel.HSM,
        )

    def _list_versions(
        self, request: kms_v1.ListCryptoKeyVersionsRequest, context: grpc.ServicerContext
    ) -> kms_v1.ListCryptoKeyVersionsResponse:
        self._count("ListCryptoKeyVersions")
        if self.kms_faults.list_status is not None:
            context.abort(self.kms_faults.list_status, "Injected fault.")
        if request.parent != CRYPTO_KEY:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.parent} not found.")
        with self._lock:
            versions = [
                kms_v1.CryptoKeyVersion(
                    name=self.version_name(v.number), state=v.state, algorithm=v.algorithm
                )
                for v in self.versions.values()
            ]
        return kms_v1.ListCryptoKeyVersionsResponse(
            crypto_key_versions=versions, total_size=len(versions)
        )

    # Secret Manager methods.

    def _access_secret_version(
        self, request: secretmanager_v1.AccessSecretVersionRequest, context: grpc.ServicerContext
    ) -> secretmanager_v1.AccessSecretVersionResponse:
        self._count("AccessSecretVersion")
        faults = self.secret_faults
        if faults.status is not None:
            context.abort(faults.status, "Injected fault.")
        prefix = f"projects/{PROJECT}/secrets/"
        secret, _, version = request.name.removeprefix(prefix).partition("/versions/")
        if not request.name.startswith(prefix) or version != "latest":
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found.")
        if secret not in self.secrets:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Secret {secret} not found.")
        data = self.secrets[secret]
        payload = secretmanager_v1.SecretPayload(data=data)
        if not faults.missing_crc32c:
            payload.data_crc32c = crc32c(data) ^ (1 if faults.wrong_crc32c else 0)
        reply_secret = "other-secret" if faults.wrong_name else secret
        return secretmanager_v1.AccessSecretVersionResponse(
            name=f"{prefix}{reply_secret}/versions/3", payload=payload
        )

    def _count(self, method: str) -> None:
        with self._lock:
            self.calls[method] += 1


def _unary(
    handler: Callable[[Any, grpc.ServicerContext], Any], request_type: Any, response_type: Any
) -> grpc.RpcMethodHandler:
    return grpc.unary_unary_rpc_method_handler(
        handler,
        request_deserializer=request_type.deserialize,
        response_serializer=response_type.serialize,
    )


def _sign(key: ec.EllipticCurvePrivateKey, digest: bytes, short_coordinate: bool) -> bytes:
    algorithm = ec.ECDSA(Prehashed(hashes.SHA256()))
    signature = key.sign(digest, algorithm)
    if not short_coordinate:
        return signature
    # About 1 in 128 signatures has a short r or s; 20,000 attempts fail to find one with
    # probability below 1e-60.
    for _ in range(20_000):
        r, s = decode_dss_signature(signature)
        if r < SHORT_COORDINATE_LIMIT or s < SHORT_COORDINATE_LIMIT:
            return signature
        signature = key.sign(digest, algorithm)
    raise RuntimeError("No signature with a short r or s in 20,000 attempts.")
