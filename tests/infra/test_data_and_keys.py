"""Firestore, the KMS signing key, Secret Manager secrets and their IAM grants."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import REPO_ROOT, only, reference, resources

ENVIRONMENTS = ("dev", "staging", "prod")
DECLARATION = REPO_ROOT / "functions" / "store" / "firestore_indexes.json"


def runtime_member(stack: dict[str, Any]) -> str:
    (name,) = [
        name
        for name, body in resources(stack, "google_service_account").items()
        if body["account_id"].endswith("-run")
    ]
    return f"serviceAccount:${{google_service_account.{name}.email}}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_firestore_native_database(
    stacks: dict[str, Any], configs: dict[str, Any], env: str
) -> None:
    database = only(stacks[env], "google_firestore_database")
    assert database["type"] == "FIRESTORE_NATIVE"
    assert database["name"] == configs[env].firestore_database_id
    assert database["location_id"] == configs[env].firestore_location


def test_prod_firestore_protected_with_pitr(stacks: dict[str, Any]) -> None:
    database = only(stacks["prod"], "google_firestore_database")
    assert database["delete_protection_state"] == "DELETE_PROTECTION_ENABLED"
    assert database["point_in_time_recovery_enablement"] == "POINT_IN_TIME_RECOVERY_ENABLED"
    assert database["deletion_policy"] == "ABANDON"


def test_dev_firestore_can_be_deleted(stacks: dict[str, Any]) -> None:
    database = only(stacks["dev"], "google_firestore_database")
    assert database["delete_protection_state"] == "DELETE_PROTECTION_DISABLED"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_ttl_fields_match_declaration(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    declared = json.loads(DECLARATION.read_text(encoding="utf-8"))["ttl_fields"]
    fields = resources(stack, "google_firestore_field").values()
    assert sorted((body["collection"], body["field"]) for body in fields) == sorted(
        (item["collection_group"], item["field"]) for item in declared
    )
    for body in fields:
        assert body["ttl_config"] == {}
        assert body["database"] == reference(stack, "google_firestore_database", "name")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_composite_indexes_match_declaration(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    declared = json.loads(DECLARATION.read_text(encoding="utf-8"))["composite_indexes"]
    synthesized = [
        {
            "collection_group": body["collection"],
            "query_scope": body["query_scope"],
            "fields": body["fields"],
        }
        for body in resources(stack, "google_firestore_index").values()
    ]
    key = json.dumps
    assert sorted(map(key, synthesized)) == sorted(map(key, declared))


def test_declaration_changes_reach_stack(
    tmp_path: Any, configs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cdktf import Testing

    from license_infra import app_contract
    from license_infra.stack import LicenseApiStack

    changed = json.loads(DECLARATION.read_text(encoding="utf-8"))
    changed["composite_indexes"].append(
        {
            "collection_group": "usage",
            "query_scope": "COLLECTION_GROUP",
            "fields": [
                {"field_path": "product_id", "order": "ASCENDING"},
                {"field_path": "at", "order": "DESCENDING"},
            ],
        }
    )
    path = tmp_path / "firestore_indexes.json"
    path.write_text(json.dumps(changed), encoding="utf-8")
    monkeypatch.setattr(app_contract, "INDEX_DECLARATION", path)
    stack = json.loads(
        Testing.synth(LicenseApiStack(Testing.app(), "changed", config=configs["dev"]))
    )
    collections = sorted(
        body["collection"] for body in resources(stack, "google_firestore_index").values()
    )
    assert collections == sorted(item["collection_group"] for item in changed["composite_indexes"])


def test_declaration_wrong_shape_rejected(tmp_path: Any) -> None:
    from license_infra.app_contract import load_firestore_declaration

    path = tmp_path / "firestore_indexes.json"
    path.write_text(json.dumps({"ttl_fields": [{"collection_group": "leases"}]}), "utf-8")
    with pytest.raises(ValueError, match="expected shape"):
        load_firestore_declaration(path)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_signing_key_es256_prevent_destroy(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    key = only(stack, "google_kms_crypto_key")
    assert key["purpose"] == "ASYMMETRIC_SIGN"
    assert key["version_template"]["algorithm"] == "EC_SIGN_P256_SHA256"
    assert key["lifecycle"] == {"prevent_destroy": True}
    assert key["key_ring"] == reference(stack, "google_kms_key_ring", "id")
    assert only(stack, "google_kms_key_ring")["lifecycle"] == {"prevent_destroy": True}


def test_key_protection_hsm_in_prod_software_in_dev(stacks: dict[str, Any]) -> None:
    prod = only(stacks["prod"], "google_kms_crypto_key")["version_template"]
    dev = only(stacks["dev"], "google_kms_crypto_key")["version_template"]
    assert prod["protection_level"] == "HSM"
    assert dev["protection_level"] == "SOFTWARE"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_runtime_key_grants_on_key_only(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    grants = resources(stack, "google_kms_crypto_key_iam_member").values()
    key = reference(stack, "google_kms_crypto_key", "id")
    assert sorted(body["role"] for body in grants) == [
        "roles/cloudkms.signerVerifier",
        "roles/cloudkms.viewer",
    ]
    for body in grants:
        assert body["crypto_key_id"] == key
        assert body["member"] == runtime_member(stack)
    assert not resources(stack, "google_kms_key_ring_iam_member")
    assert not resources(stack, "google_kms_key_ring_iam_binding")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_secrets_match_server_secret_names(stacks: dict[str, Any], env: str) -> None:
    from functions.secrets import SERVER_SECRETS

    secrets = resources(stacks[env], "google_secret_manager_secret").values()
    assert sorted(body["secret_id"] for body in secrets) == sorted(SERVER_SECRETS)
    for body in secrets:
        assert body["replication"] == {"auto": {}}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_secret_versions(stacks: dict[str, Any], env: str) -> None:
    assert not resources(stacks[env], "google_secret_manager_secret_version")
    assert "google_secret_manager_secret_version" not in stacks[env].get("data", {})


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_secret_accessor_per_secret(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    secrets = resources(stack, "google_secret_manager_secret")
    grants = list(resources(stack, "google_secret_manager_secret_iam_member").values())
    assert len(grants) == len(secrets)
    expected = {f"${{google_secret_manager_secret.{name}.secret_id}}" for name in secrets}
    assert {body["secret_id"] for body in grants} == expected
    for body in grants:
        assert body["role"] == "roles/secretmanager.secretAccessor"
        assert body["member"] == runtime_member(stack)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_project_roles_limited_to_firestore_and_telemetry(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    grants = resources(stack, "google_project_iam_member").values()
    assert sorted((body["role"], body["member"]) for body in grants) == [
        ("roles/datastore.user", runtime_member(stack)),
        ("roles/logging.logWriter", runtime_member(stack)),
        ("roles/monitoring.metricWriter", runtime_member(stack)),
    ]
