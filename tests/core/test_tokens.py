"""Lease tokens, verified by PyJWT and joserfc against the JWKS that a real server serves."""

from __future__ import annotations

import base64
import hashlib
import stat
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from joserfc import jwt as jose_jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from functions.admin import CreatedLicense
from functions.signing.local import KEY_FILENAME
from tests.conftest import ISSUER, LiveServer
from tests.core.conftest import (
    ACQUIRE,
    HEARTBEAT,
    JWKS,
    PRODUCT,
    ServerProcess,
    acquire_body,
    create_license_in,
    lease_body,
)

HARDWARE_ID = "hw-token-1"


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def key_set(jwks: dict[str, Any]) -> KeySet:
    return KeySet.import_key_set(jwks)  # type: ignore[arg-type]


def timestamp(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


@pytest.fixture(scope="module")
def seat_license(live_server: LiveServer) -> CreatedLicense:
    return create_license_in(live_server.data_dir, seats=3)


@pytest.fixture(scope="module")
def grant(live_server: LiveServer, seat_license: CreatedLicense) -> dict[str, Any]:
    response = requests.post(
        live_server.url + ACQUIRE, json=acquire_body(seat_license.key, HARDWARE_ID), timeout=5
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def jwks(live_server: LiveServer) -> dict[str, Any]:
    response = requests.get(live_server.url + JWKS, timeout=5)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


class TestJwks:
    def test_one_p256_key(self, jwks: dict[str, Any]) -> None:
        [key] = jwks["keys"]
        assert key["kty"] == "EC"
        assert key["crv"] == "P-256"
        assert key["alg"] == "ES256"
        assert key["use"] == "sig"
        assert key["kid"]

    def test_no_private_member(self, jwks: dict[str, Any]) -> None:
        [key] = jwks["keys"]
        assert "d" not in key

    def test_kid_is_thumbprint(self, jwks: dict[str, Any]) -> None:
        [key] = jwks["keys"]
        thumbprint = key_set({"keys": [key]}).keys[0].thumbprint()
        assert key["kid"] == thumbprint

    def test_cacheable(self, live_server: LiveServer) -> None:
        response = requests.get(live_server.url + JWKS, timeout=5)
        assert response.headers["Content-Type"] == "application/json"
        assert "max-age" in response.headers["Cache-Control"]


class TestSignature:
    def test_header(self, grant: dict[str, Any], jwks: dict[str, Any]) -> None:
        header = jwt.get_unverified_header(grant["token"])
        assert header["alg"] == "ES256"
        assert header["kid"] == jwks["keys"][0]["kid"]
        assert header["typ"] == "license-lease+jwt"

    def test_signature_64_bytes(self, grant: dict[str, Any]) -> None:
        signature = grant["token"].split(".")[2]
        assert len(b64url_decode(signature)) == 64

    def test_pyjwt_verifies(self, live_server: LiveServer, grant: dict[str, Any]) -> None:
        signing_key = jwt.PyJWKClient(live_server.url + JWKS).get_signing_key_from_jwt(
            grant["token"]
        )

        claims = jwt.decode(
            grant["token"],
            signing_key,
            algorithms=["ES256"],
            audience=PRODUCT,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "nbf", "sub", "jti", "aud", "iss"]},
        )

        assert claims["jti"] == grant["lease_id"]

    def test_joserfc_verifies(self, grant: dict[str, Any], jwks: dict[str, Any]) -> None:
        token = jose_jwt.decode(grant["token"], key_set(jwks), algorithms=["ES256"])
        registry = jose_jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": ISSUER},
            aud={"essential": True, "value": PRODUCT},
            sub={"essential": True},
            jti={"essential": True, "value": grant["lease_id"]},
        )

        registry.validate(token.claims)

        assert token.header["kid"] == jwks["keys"][0]["kid"]

    def test_tampered_claims_rejected(self, grant: dict[str, Any], jwks: dict[str, Any]) -> None:
        header, payload, signature = grant["token"].split(".")
        claims = b64url_decode(payload).replace(b'"seats":3', b'"seats":9')
        assert claims != b64url_decode(payload)
        forged_payload = base64.urlsafe_b64encode(claims).rstrip(b"=").decode()
        forged = f"{header}.{forged_payload}.{signature}"

        with pytest.raises(BadSignatureError):
            jose_jwt.decode(forged, key_set(jwks), algorithms=["ES256"])

    def test_heartbeat_token_verifies(
        self,
        live_server: LiveServer,
        seat_license: CreatedLicense,
        grant: dict[str, Any],
        jwks: dict[str, Any],
    ) -> None:
        response = requests.post(
            live_server.url + HEARTBEAT,
            json=lease_body(grant["lease_id"], seat_license.key, HARDWARE_ID),
            timeout=5,
        )
        body = response.json()

        token = jose_jwt.decode(body["token"], key_set(jwks), algorithms=["ES256"])

        assert token.claims["jti"] == grant["lease_id"]
        assert token.claims["exp"] == timestamp(body["expires_at"])


class TestClaims:
    @pytest.fixture
    def claims(self, grant: dict[str, Any], jwks: dict[str, Any]) -> dict[str, Any]:
        key = jwt.PyJWK(jwks["keys"][0])
        decoded: dict[str, Any] = jwt.decode(
            grant["token"], key, algorithms=["ES256"], audience=PRODUCT
        )
        return decoded

    def test_iss(self, claims: dict[str, Any]) -> None:
        assert claims["iss"] == ISSUER

    def test_sub_is_license(self, claims: dict[str, Any], seat_license: CreatedLicense) -> None:
        assert claims["sub"] == seat_license.license.id

    def test_aud_is_product(self, claims: dict[str, Any]) -> None:
        assert claims["aud"] == PRODUCT

    def test_jti_is_lease(self, claims: dict[str, Any], grant: dict[str, Any]) -> None:
        assert claims["jti"] == grant["lease_id"]

    def test_exp_is_lease_expiry(self, claims: dict[str, Any], grant: dict[str, Any]) -> None:
        assert claims["exp"] == timestamp(grant["expires_at"])

    def test_iat_nbf_lifetime(self, claims: dict[str, Any]) -> None:
        assert claims["iat"] == claims["nbf"]
        assert claims["exp"] - claims["iat"] in range(179, 181)

    def test_hardware_hash(self, claims: dict[str, Any]) -> None:
        expected = hashlib.sha256(HARDWARE_ID.encode()).hexdigest()
        assert claims["hardware_id_sha256"] == expected

    def test_no_raw_identity(self, grant: dict[str, Any]) -> None:
        payload = b64url_decode(grant["token"].split(".")[1]).decode()
        assert HARDWARE_ID not in payload
        assert "@example.com" not in payload

    def test_seats(self, claims: dict[str, Any]) -> None:
        assert claims["seats"] == 3

    def test_typ(self, claims: dict[str, Any]) -> None:
        assert claims["typ"] == "license_lease"


class TestSigningKey:
    def test_file_owner_only(self, live_server: LiveServer) -> None:
        mode = stat.S_IMODE((live_server.data_dir / KEY_FILENAME).stat().st_mode)
        assert mode == 0o600

    def test_secret_owner_only(self, live_server: LiveServer) -> None:
        [secret] = live_server.data_dir.glob("secret-*")
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600

    def test_reused_after_restart(
        self, tmp_path: Path, server_factory: Callable[..., ServerProcess]
    ) -> None:
        data_dir = tmp_path / "restart-data"
        created = create_license_in(data_dir, seats=1)
        first = server_factory(data_dir)
        first_jwks = requests.get(first.url + JWKS, timeout=5).json()
        token = requests.post(
            first.url + ACQUIRE, json=acquire_body(created.key), timeout=5
        ).json()["token"]
        first.stop()

        second = server_factory(data_dir)
        second_jwks = requests.get(second.url + JWKS, timeout=5).json()

        assert second_jwks["keys"][0]["kid"] == first_jwks["keys"][0]["kid"]
        decoded = jose_jwt.decode(token, key_set(second_jwks), algorithms=["ES256"])
        assert decoded.claims["sub"] == created.license.id
