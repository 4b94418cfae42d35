"""Cloud Run services, their identities and the sweep schedule, per synthesized environment."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import TEST_IMAGE, only, reference, resources

ENVIRONMENTS = ("dev", "staging", "prod")
RUN = "google_cloud_run_v2_service"


def service(stack: dict[str, Any], name_suffix: str) -> dict[str, Any]:
    matches = [
        body for body in resources(stack, RUN).values() if body["name"].endswith(name_suffix)
    ]
    assert len(matches) == 1, f"expected one service named *{name_suffix}"
    return matches[0]


def container_env(body: dict[str, Any]) -> dict[str, str]:
    (container,) = body["template"]["containers"]
    return {item["name"]: item["value"] for item in container["env"]}


def test_exactly_two_services(stacks: dict[str, Any]) -> None:
    for name in ENVIRONMENTS:
        assert sorted(body["name"] for body in resources(stacks[name], RUN).values()) == [
            f"licenses-{name}-api",
            f"licenses-{name}-sweeper",
        ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_public_ingress_internal_and_load_balancer(stacks: dict[str, Any], env: str) -> None:
    public = service(stacks[env], "-api")
    assert public["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_sweeper_ingress_internal_only(stacks: dict[str, Any], env: str) -> None:
    assert service(stacks[env], "-sweeper")["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_services_run_pinned_image(stacks: dict[str, Any], env: str) -> None:
    for body in resources(stacks[env], RUN).values():
        (container,) = body["template"]["containers"]
        assert container["image"] == TEST_IMAGE


def test_scaling_follows_config(stacks: dict[str, Any], configs: dict[str, Any]) -> None:
    for env in ENVIRONMENTS:
        template = service(stacks[env], "-api")["template"]
        scaling = configs[env].public_scaling
        assert template["scaling"]["min_instance_count"] == scaling.min_instances
        assert template["scaling"]["max_instance_count"] == scaling.max_instances
        assert template["max_instance_request_concurrency"] == scaling.concurrency
        (container,) = template["containers"]
        assert container["resources"]["limits"] == {"cpu": scaling.cpu, "memory": scaling.memory}


def test_prod_keeps_one_warm_instance(stacks: dict[str, Any]) -> None:
    template = service(stacks["prod"], "-api")["template"]
    assert template["scaling"]["min_instance_count"] >= 1


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_public_env_wires_app_settings(
    stacks: dict[str, Any], configs: dict[str, Any], env: str
) -> None:
    stack = stacks[env]
    values = container_env(service(stack, "-api"))
    assert values == {
        "LICENSE_STORE": "firestore",
        "GOOGLE_CLOUD_PROJECT": configs[env].project_id,
        "LICENSE_FIRESTORE_DATABASE": reference(stack, "google_firestore_database", "name"),
        "LICENSE_SIGNER": "kms",
        "LICENSE_KMS_KEY": reference(stack, "google_kms_crypto_key", "id"),
        "LICENSE_SECRETS": "secret-manager",
        "LICENSE_ISSUER": f"https://{configs[env].domain}",
    }


def test_prod_issuer_is_licenses_domain(stacks: dict[str, Any]) -> None:
    values = container_env(service(stacks["prod"], "-api"))
    assert values["LICENSE_ISSUER"] == "https://licenses.coditect.ai"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_services_select_their_targets(stacks: dict[str, Any], env: str) -> None:
    (public,) = service(stacks[env], "-api")["template"]["containers"]
    (sweeper,) = service(stacks[env], "-sweeper")["template"]["containers"]
    assert public["args"] == ["--target=licenses"]
    assert sweeper["args"] == ["--target=sweep"]
    assert "command" not in public
    assert "command" not in sweeper


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_sweeper_env_matches_public(stacks: dict[str, Any], env: str) -> None:
    public = container_env(service(stacks[env], "-api"))
    assert container_env(service(stacks[env], "-sweeper")) == public
    assert "FUNCTION_TARGET" not in public


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_env_has_plain_values_only(stacks: dict[str, Any], env: str) -> None:
    for body in resources(stacks[env], RUN).values():
        (container,) = body["template"]["containers"]
        for item in container["env"]:
            assert set(item) == {"name", "value"}, f"{item['name']} is not a plain value"
        assert "volumes" not in body["template"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_services_run_as_runtime_account(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    accounts = resources(stack, "google_service_account")
    runtime = [name for name, body in accounts.items() if body["account_id"].endswith("-run")]
    assert len(runtime) == 1
    email = f"${{google_service_account.{runtime[0]}.email}}"
    for body in resources(stack, RUN).values():
        assert body["template"]["service_account"] == email


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_health_probes_use_healthz(stacks: dict[str, Any], env: str) -> None:
    for body in resources(stacks[env], RUN).values():
        (container,) = body["template"]["containers"]
        assert container["startup_probe"]["http_get"]["path"] == "/healthz"
        assert container["liveness_probe"]["http_get"]["path"] == "/healthz"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_invokers_are_all_users_and_scheduler(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    members = resources(stack, "google_cloud_run_v2_service_iam_member")
    names = {name: body for name, body in resources(stack, RUN).items()}
    by_service: dict[str, list[tuple[str, str]]] = {}
    for body in members.values():
        service_name = body["name"]
        by_service.setdefault(service_name, []).append((body["role"], body["member"]))
    public_ref = next(
        f"${{{RUN}.{name}.name}}" for name, body in names.items() if body["name"].endswith("-api")
    )
    sweeper_ref = next(
        f"${{{RUN}.{name}.name}}"
        for name, body in names.items()
        if body["name"].endswith("-sweeper")
    )
    scheduler = next(
        name
        for name, body in resources(stack, "google_service_account").items()
        if body["account_id"].endswith("-sweep")
    )
    assert by_service == {
        public_ref: [("roles/run.invoker", "allUsers")],
        sweeper_ref: [
            ("roles/run.invoker", f"serviceAccount:${{google_service_account.{scheduler}.email}}")
        ],
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_scheduler_posts_with_oidc(
    stacks: dict[str, Any], configs: dict[str, Any], env: str
) -> None:
    stack = stacks[env]
    job = only(stack, "google_cloud_scheduler_job")
    sweeper = next(
        name for name, body in resources(stack, RUN).items() if body["name"].endswith("-sweeper")
    )
    scheduler = next(
        name
        for name, body in resources(stack, "google_service_account").items()
        if body["account_id"].endswith("-sweep")
    )
    target = job["http_target"]
    assert target["http_method"] == "POST"
    assert target["uri"] == f"${{{RUN}.{sweeper}.uri}}"
    assert target["oidc_token"] == {
        "service_account_email": f"${{google_service_account.{scheduler}.email}}",
        "audience": f"${{{RUN}.{sweeper}.uri}}",
    }
    assert job["schedule"] == configs[env].sweep_schedule


def test_prod_services_deletion_protected(stacks: dict[str, Any]) -> None:
    for body in resources(stacks["prod"], RUN).values():
        assert body["deletion_protection"] is True
