"""The KMS signer through the real google-cloud-kms client against the local fake KMS."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import timedelta
from typing import Any

import grpc
import jwt
import pytest

from functions.clock import ManualClock
from functions.signing import b64url
from functions.signing.kms import KEY_SET_REFRESH_INTERVAL, KmsSigner, SignerUnavailable, kms_client
from tests.signing.fake_gcp import (
    CRYPTO_KEY,
    SHORT_COORDINATE_LIMIT,
    Algorithm,
    FakeGoogleCloud,
    KmsFaults,
    State,
)

MAX_LEASE_LIFETIME = timedelta(hours=1)


def open_signer(
    fake: FakeGoogleCloud, clock: ManualClock | None = None, key_version: int | None = None
) -> KmsSigner:
    return KmsSigner(
        kms_client(fake.endpoint),
        CRYPTO_KEY,
        key_version=key_version,
        max_lease_lifetime=MAX_LEASE_LIFETIME,
        clock=clock or ManualClock(),
    )


def compact_jws(signer: KmsSigner, claims: dict[str, Any]) -> str:
    header = b64url(json.dumps({"alg": "ES256", "kid": signer.key_id, "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}"
    return f"{signing_input}.{b64url(signer.sign(signing_input.encode()))}"


def verify(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid]
    claims: dict[str, Any] = jwt.decode(token, key.key, algorithms=["ES256"])
    return claims


def kids(signer: KmsSigner) -> set[str]:
    return {key["kid"] for key in signer.jwks()["keys"]}


def test_thousand_signatures_are_64_bytes_and_verify(fake_gcp: FakeGoogleCloud) -> None:
    signer = open_signer(fake_gcp)
    jwks = signer.jwks()
    key = jwt.PyJWKSet.from_dict(jwks)[signer.key_id]
    for index in range(1000):
        signing_input = b64url(b'{"alg":"ES256"}') + "." + b64url(f"token {index}".encode())
        signature = signer.sign(signing_input.encode())
        assert len(signature) == 64
        token = signing_input + "." + b64url(signature)
        jwt.api_jws.decode_complete(token, key.key, algorithms=["ES256"])
    assert fake_gcp.calls["AsymmetricSign"] == 1000


def test_short_coordinate_from_kms_verifies(fake_gcp: FakeGoogleCloud) -> None:
    signer = open_signer(fake_gcp)
    fake_gcp.kms_faults.short_coordinate = True
    token = compact_jws(signer, {"sub": "short"})
    signature = jwt.utils.base64url_decode(token.rsplit(".", 1)[1])
    assert len(signature) == 64
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    assert r < SHORT_COORDINATE_LIMIT or s < SHORT_COORDINATE_LIMIT
    assert verify(token, signer.jwks())["sub"] == "short"


def test_sign_makes_one_call_and_no_key_calls(fake_gcp: FakeGoogleCloud) -> None:
    signer = open_signer(fake_gcp)
    fake_gcp.reset_calls()
    for index in range(5):
        signer.sign(f"input {index}".encode())
    assert fake_gcp.calls["AsymmetricSign"] == 5
    assert fake_gcp.calls["GetPublicKey"] == 0
    assert fake_gcp.calls["ListCryptoKeyVersions"] == 0


def test_public_key_fetched_once_per_version(fake_gcp: FakeGoogleCloud) -> None:
    clock = ManualClock()
    signer = open_signer(fake_gcp, clock)
    assert fake_gcp.calls["GetPublicKey"] == 1
    fake_gcp.add_version()
    for _ in range(3):
        clock.advance(KEY_SET_REFRESH_INTERVAL.total_seconds())
        signer.jwks()
    assert fake_gcp.calls["ListCryptoKeyVersions"] == 4
    assert fake_gcp.calls["GetPublicKey"] == 2


def test_newest_enabled_version_signs(fake_gcp: FakeGoogleCloud) -> None:
    second = fake_gcp.add_version()
    fake_gcp.add_version(state=State.DISABLED)
    signer = open_signer(fake_gcp)
    assert signer.key_version == fake_gcp.version_name(second.number)
    assert len(signer.jwks()["keys"]) == 2


def test_pinned_version_signs(fake_gcp: FakeGoogleCloud) -> None:
    fake_gcp.add_version()
    signer = open_signer(fake_gcp, key_version=1)
    assert signer.key_version == fake_gcp.version_name(1)
    token = compact_jws(signer, {"sub": "pinned"})
    assert verify(token, signer.jwks())["sub"] == "pinned"


def test_pinned_disabled_version_unavailable(fake_gcp: FakeGoogleCloud) -> None:
    fake_gcp.add_version()
    fake_gcp.set_state(1, State.DISABLED)
    with pytest.raises(SignerUnavailable):
        open_signer(fake_gcp, key_version=1)


def test_other_algorithm_is_not_used(fake_gcp: FakeGoogleCloud) -> None:
    fake_gcp.add_version(algorithm=Algorithm.EC_SIGN_P384_SHA384)
    signer = open_signer(fake_gcp)
    assert signer.key_version == fake_gcp.version_name(1)
    assert len(signer.jwks()["keys"]) == 1


def test_no_enabled_version_unavailable(fake_gcp: FakeGoogleCloud) -> None:
    fake_gcp.set_state(1, State.DESTROY_SCHEDULED)
    with pytest.raises(SignerUnavailable):
        open_signer(fake_gcp)


def test_wrong_pem_crc32c_rejected_at_start(fake_gcp: FakeGoogleCloud) -> None:
    fake_gcp.kms_faults.wrong_pem_crc32c = True
    with pytest.raises(SignerUnavailable):
        open_signer(fake_gcp)


@pytest.mark.parametrize(
    "fault",
    ["unverified_digest", "wrong_signature_crc32c", "wrong_name", "wrong_key"],
)
def test_integrity_failure_rejected(
    fake_gcp: FakeGoogleCloud, fault: str, service_logs: list[logging.LogRecord]
) -> None:
    signer = open_signer(fake_gcp)
    fake_gcp.kms_faults = dataclasses.replace(KmsFaults(), **{fault: True})
    with pytest.raises(SignerUnavailable) as raised:
        signer.sign(b"header.payload")
    assert raised.value.retry_after_seconds is not None
    rejected = [r for r in service_logs if r.getMessage() == "KMS signature rejected"]
    assert len(rejected) == 1
    assert rejected[0].levelno == logging.ERROR
    assert getattr(rejected[0], "key_version", None) == signer.key_version


@pytest.mark.parametrize(
    "status", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED]
)
def test_sign_fault_unavailable(
    fake_gcp: FakeGoogleCloud, status: grpc.StatusCode, service_logs: list[logging.LogRecord]
) -> None:
    signer = open_signer(fake_gcp)
    fake_gcp.kms_faults.sign_status = status
    with pytest.raises(SignerUnavailable):
        signer.sign(b"header.payload")
    failed = [r for r in service_logs if r.getMessage() == "KMS signing failed"]
    assert len(failed) == 1
    assert getattr(failed[0], "key_version", None) == signer.key_version
    assert getattr(failed[0], "grpc_status", None) == status.name


def test_resource_exhausted_not_retried(fake_gcp: FakeGoogleCloud) -> None:
    signer = open_signer(fake_gcp)
    fake_gcp.reset_calls()
    fake_gcp.kms_faults.sign_status = grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(SignerUnavailable):
        signer.sign(b"header.payload")
    assert fake_gcp.calls["AsymmetricSign"] == 1


def test_list_unavailable_at_start(fake_gcp: FakeGoogleCloud) -> None:
    fake_gcp.kms_faults.list_status = grpc.StatusCode.UNAVAILABLE
    with pytest.raises(SignerUnavailable):
        open_signer(fake_gcp)


def test_refresh_failure_keeps_cached_keys(fake_gcp: FakeGoogleCloud) -> None:
    clock = ManualClock()
    signer = open_signer(fake_gcp, clock)
    before = signer.jwks()
    fake_gcp.kms_faults.list_status = grpc.StatusCode.UNAVAILABLE
    clock.advance(KEY_SET_REFRESH_INTERVAL.total_seconds())
    assert signer.jwks() == before


class TestRotation:
    def test_new_version_published_before_use(self, fake_gcp: FakeGoogleCloud) -> None:
        clock = ManualClock()
        old = open_signer(fake_gcp, clock)
        second = fake_gcp.add_version()
        new = open_signer(fake_gcp, clock)
        assert new.key_version == fake_gcp.version_name(second.number)
        clock.advance(KEY_SET_REFRESH_INTERVAL.total_seconds())
        assert new.key_id in kids(old)

    def test_old_tokens_verify_after_rotation(self, fake_gcp: FakeGoogleCloud) -> None:
        clock = ManualClock()
        old = open_signer(fake_gcp, clock)
        old_token = compact_jws(old, {"sub": "before rotation"})
        fake_gcp.add_version()
        new = open_signer(fake_gcp, clock)
        new_token = compact_jws(new, {"sub": "after rotation"})
        assert old.key_id != new.key_id

        # The old version is disabled; its key stays for one maximum lease lifetime.
        fake_gcp.set_state(1, State.DISABLED)
        clock.advance(KEY_SET_REFRESH_INTERVAL.total_seconds())
        assert verify(old_token, new.jwks())["sub"] == "before rotation"
        assert verify(new_token, new.jwks())["sub"] == "after rotation"

        clock.advance(MAX_LEASE_LIFETIME.total_seconds() - 1)
        assert old.key_id in kids(new)
        clock.advance(1)
        assert kids(new) == {new.key_id}
        assert verify(new_token, new.jwks())["sub"] == "after rotation"

    def test_destroy_scheduled_version_kept_then_dropped(self, fake_gcp: FakeGoogleCloud) -> None:
        clock = ManualClock()
        fake_gcp.add_version()
        signer = open_signer(fake_gcp, clock)
        assert len(kids(signer)) == 2
        fake_gcp.set_state(1, State.DESTROY_SCHEDULED)
        clock.advance(KEY_SET_REFRESH_INTERVAL.total_seconds())
        assert len(kids(signer)) == 2
        clock.advance(MAX_LEASE_LIFETIME.total_seconds())
        assert kids(signer) == {signer.key_id}

    def test_reenabled_version_stays(self, fake_gcp: FakeGoogleCloud) -> None:
        clock = ManualClock()
        fake_gcp.add_version()
        signer = open_signer(fake_gcp, clock)
        fake_gcp.set_state(1, State.DISABLED)
        clock.advance(KEY_SET_REFRESH_INTERVAL.total_seconds())
        signer.jwks()
        fake_gcp.set_state(1, State.ENABLED)
        clock.advance(MAX_LEASE_LIFETIME.total_seconds())
        assert len(kids(signer)) == 2

    def test_signing_version_never_dropped(self, fake_gcp: FakeGoogleCloud) -> None:
        clock = ManualClock()
        signer = open_signer(fake_gcp, clock)
        fake_gcp.set_state(1, State.DISABLED)
        clock.advance(KEY_SET_REFRESH_INTERVAL.total_seconds())
        signer.jwks()
        clock.advance(MAX_LEASE_LIFETIME.total_seconds() * 2)
        assert kids(signer) == {signer.key_id}
        with pytest.raises(SignerUnavailable):
            signer.sign(b"header.payload")

    def test_kid_stable_per_version(self, fake_gcp: FakeGoogleCloud) -> None:
        first = open_signer(fake_gcp)
        second = open_signer(fake_gcp)
        assert first.key_id == second.key_id
