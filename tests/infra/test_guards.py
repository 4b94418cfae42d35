"""What no stack may contain: foreign DNS, GKE objects, secret values, broad IAM grants."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.infra.conftest import resources

ENVIRONMENTS = ("dev", "staging", "prod")
BROAD_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
# Project-level IAM resources that replace or override grants made outside this stack.
AUTHORITATIVE_PROJECT_IAM = (
    "google_project_iam_binding",
    "google_project_iam_policy",
    "google_project_iam_audit_config",
)


def all_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from all_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from all_strings(item)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_only_dns_record_is_api_host(
    stacks: dict[str, Any], configs: dict[str, Any], env: str
) -> None:
    stack = stacks[env]
    dns_types = [name for name in stack["resource"] if name.startswith("google_dns_")]
    assert dns_types == ["google_dns_record_set"]
    names = [body["name"] for body in resources(stack, "google_dns_record_set").values()]
    assert names == [f"{configs[env].domain}."]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_gke_ingress_host_anywhere(stacks: dict[str, Any], env: str) -> None:
    text = json.dumps(stacks[env])
    assert "api.coditect.ai" not in text
    assert "ide.coditect.ai" not in text


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_zone_only_read_never_managed(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    assert not resources(stack, "google_dns_managed_zone")
    assert list(stack["data"]["google_dns_managed_zone"]) != []
    assert "import" not in stack


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_kubernetes_or_gke_resources(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    for section in ("resource", "data"):
        for resource_type in stack.get(section, {}):
            assert not resource_type.startswith("kubernetes_")
            assert not resource_type.startswith("helm_")
            assert not resource_type.startswith("google_container_")
            assert not resource_type.startswith("google_gke_")
    assert set(stack["provider"]) == {"google"}
    assert set(stack["terraform"]["required_providers"]) == {"google"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_secret_values_in_json(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    assert not resources(stack, "google_secret_manager_secret_version")
    for text in all_strings(stack):
        assert "secret_data" not in text
        assert not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text)
        assert "AIza" not in text  # Google API key prefix


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_sensitive_outputs(stacks: dict[str, Any], env: str) -> None:
    for body in stacks[env]["output"].values():
        assert "secret" not in json.dumps(body["value"]).lower()


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_broad_or_authoritative_project_iam(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    for resource_type in AUTHORITATIVE_PROJECT_IAM:
        assert not resources(stack, resource_type)
    for resource_type, items in stack["resource"].items():
        if "_iam_" not in resource_type:
            continue
        for body in items.values():
            assert body["role"] not in BROAD_ROLES, f"{resource_type} grants {body['role']}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_all_users_only_on_public_service(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    grants = [
        (resource_type, body)
        for resource_type, items in stack["resource"].items()
        if "_iam_" in resource_type
        for body in items.values()
        if body.get("member") in {"allUsers", "allAuthenticatedUsers"}
    ]
    assert len(grants) == 1
    resource_type, body = grants[0]
    assert resource_type == "google_cloud_run_v2_service_iam_member"
    public = next(
        name
        for name, service in resources(stack, "google_cloud_run_v2_service").items()
        if service["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
    )
    assert body["name"] == f"${{google_cloud_run_v2_service.{public}.name}}"
    assert body["role"] == "roles/run.invoker"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_service_uses_ingress_all(stacks: dict[str, Any], env: str) -> None:
    for body in resources(stacks[env], "google_cloud_run_v2_service").values():
        assert body["ingress"] != "INGRESS_TRAFFIC_ALL"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_iam_members_are_additive(stacks: dict[str, Any], env: str) -> None:
    for resource_type in stacks[env]["resource"]:
        if "_iam_" in resource_type:
            assert resource_type.endswith("_iam_member"), resource_type
