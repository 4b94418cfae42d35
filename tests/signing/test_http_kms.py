"""The HTTP API configured for Cloud KMS and Secret Manager, through the functions-framework app."""

from __future__ import annotations

import flask.testing
import grpc
import pytest

from functions.config import Settings
from tests.signing.conftest import (
    ACQUIRE,
    HEARTBEAT,
    JWKS,
    PRODUCT,
    acquire_body,
    create_license,
    verify_with_joserfc,
    verify_with_pyjwt,
)
from tests.signing.fake_gcp import FakeGoogleCloud


def test_token_verifies_with_both_libraries(
    client: flask.testing.FlaskClient, cloud_settings: Settings
) -> None:
    key = create_license(cloud_settings)
    response = client.post(ACQUIRE, json=acquire_body(key))
    assert response.status_code == 200
    token = response.get_json()["token"]
    jwks = client.get(JWKS).get_json()
    pyjwt_claims = verify_with_pyjwt(token, jwks)
    joserfc_claims = verify_with_joserfc(token, jwks)
    assert pyjwt_claims == joserfc_claims
    assert pyjwt_claims["aud"] == PRODUCT
    assert pyjwt_claims["jti"] == response.get_json()["lease_id"]


def test_request_path_calls_sign_once_per_token(
    client: flask.testing.FlaskClient, cloud_settings: Settings, fake_gcp: FakeGoogleCloud
) -> None:
    key = create_license(cloud_settings, seats=3)
    client.get(JWKS)  # builds the service: lists versions and fetches the public key
    fake_gcp.reset_calls()

    lease_ids = []
    for index in range(3):
        response = client.post(ACQUIRE, json=acquire_body(key, f"hw-{index}"))
        assert response.status_code == 200
        lease_ids.append(response.get_json()["lease_id"])
    for index, lease_id in enumerate(lease_ids):
        body = {"lease_id": lease_id, "license_key": key, "hardware_id": f"hw-{index}"}
        assert client.post(HEARTBEAT, json=body).status_code == 200

    assert fake_gcp.calls["AsymmetricSign"] == 6
    assert fake_gcp.calls["GetPublicKey"] == 0
    assert fake_gcp.calls["ListCryptoKeyVersions"] == 0
    assert fake_gcp.calls["AccessSecretVersion"] == 0


def assert_unavailable_problem(response: flask.testing.TestResponse) -> None:
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    body = response.get_json()
    assert body["code"] == "service_unavailable"
    assert "token" not in body


@pytest.mark.parametrize(
    "status", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED]
)
def test_sign_fault_gives_503_and_no_token(
    client: flask.testing.FlaskClient,
    cloud_settings: Settings,
    fake_gcp: FakeGoogleCloud,
    status: grpc.StatusCode,
) -> None:
    key = create_license(cloud_settings)
    fake_gcp.kms_faults.sign_status = status
    response = client.post(ACQUIRE, json=acquire_body(key))
    assert_unavailable_problem(response)

    # Once KMS is back, the retried acquire gets the lease that was granted, with a token.
    fake_gcp.kms_faults.sign_status = None
    retried = client.post(ACQUIRE, json=acquire_body(key))
    assert retried.status_code == 200
    assert retried.get_json()["renewed"] is True
    verify_with_pyjwt(retried.get_json()["token"], client.get(JWKS).get_json())


@pytest.mark.parametrize(
    "fault", ["unverified_digest", "wrong_signature_crc32c", "wrong_name", "wrong_key"]
)
def test_integrity_failure_gives_503(
    client: flask.testing.FlaskClient,
    cloud_settings: Settings,
    fake_gcp: FakeGoogleCloud,
    fault: str,
) -> None:
    key = create_license(cloud_settings)
    setattr(fake_gcp.kms_faults, fault, True)
    assert_unavailable_problem(client.post(ACQUIRE, json=acquire_body(key)))


def test_kms_unavailable_at_start_gives_503(
    client: flask.testing.FlaskClient, cloud_settings: Settings, fake_gcp: FakeGoogleCloud
) -> None:
    key = create_license(cloud_settings)
    fake_gcp.kms_faults.list_status = grpc.StatusCode.UNAVAILABLE
    assert_unavailable_problem(client.post(ACQUIRE, json=acquire_body(key)))
    assert_unavailable_problem(client.get(JWKS))

    fake_gcp.kms_faults.list_status = None
    assert client.post(ACQUIRE, json=acquire_body(key)).status_code == 200


def test_wrong_pem_crc32c_gives_503(
    client: flask.testing.FlaskClient, cloud_settings: Settings, fake_gcp: FakeGoogleCloud
) -> None:
    fake_gcp.kms_faults.wrong_pem_crc32c = True
    assert_unavailable_problem(client.get(JWKS))


@pytest.mark.parametrize("fault", ["status", "wrong_crc32c"])
def test_secret_manager_fault_gives_503(
    client: flask.testing.FlaskClient,
    cloud_settings: Settings,
    fake_gcp: FakeGoogleCloud,
    fault: str,
) -> None:
    key = create_license(cloud_settings)
    if fault == "status":
        fake_gcp.secret_faults.status = grpc.StatusCode.UNAVAILABLE
    else:
        fake_gcp.secret_faults.wrong_crc32c = True
    assert_unavailable_problem(client.post(ACQUIRE, json=acquire_body(key)))
    assert fake_gcp.calls["AsymmetricSign"] == 0
