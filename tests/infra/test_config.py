"""Validation of the per-environment configuration and of the image variables."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.infra.conftest import TEST_IMAGE


def test_environments_are_dev_staging_prod(configs: dict[str, Any]) -> None:
    assert sorted(configs) == ["dev", "prod", "staging"]
    assert configs["prod"].domain == "licenses.coditect.ai"


def test_environments_use_distinct_projects(configs: dict[str, Any]) -> None:
    projects = [config.project_id for config in configs.values()]
    assert len(set(projects)) == len(projects)
    domains = [config.domain for config in configs.values()]
    assert len(set(domains)) == len(domains)


@pytest.mark.parametrize(
    "image",
    [
        "us-central1-docker.pkg.dev/p/r/api:latest",
        "us-central1-docker.pkg.dev/p/r/api@sha256:1234",
        "api@sha256:" + "ab" * 32,
        "",
    ],
)
def test_image_without_digest_rejected(configs: dict[str, Any], image: str) -> None:
    from license_infra.config import ConfigError

    with pytest.raises(ConfigError, match="pinned by digest"):
        configs["dev"].with_image(image)


def test_prod_min_instances_zero_rejected(configs: dict[str, Any]) -> None:
    from license_infra.config import ConfigError

    prod = configs["prod"]
    cold = dataclasses.replace(prod.public_scaling, min_instances=0)
    with pytest.raises(ConfigError, match="at least 1 in prod"):
        dataclasses.replace(prod, public_scaling=cold)


def test_dev_min_instances_zero_allowed(configs: dict[str, Any]) -> None:
    assert configs["dev"].public_scaling.min_instances == 0


@pytest.mark.parametrize("domain", ["api.coditect.ai", "ide.coditect.ai"])
def test_gke_ingress_host_rejected(configs: dict[str, Any], domain: str) -> None:
    from license_infra.config import ConfigError

    with pytest.raises(ConfigError, match="GKE ingress"):
        dataclasses.replace(configs["dev"], domain=domain)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("project_id", "Bad_Project", "project id"),
        ("domain", "Licenses.Coditect.AI", "host name"),
        ("alert_email", "not-an-address", "e-mail"),
        ("rate_limit_interval_sec", 45, "not one of"),
        ("sweep_schedule", "every 5 minutes", "cron"),
        ("name", "Production-1", "lowercase"),
    ],
)
def test_invalid_setting_rejected(
    configs: dict[str, Any], field: str, value: object, message: str
) -> None:
    from license_infra.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(configs["dev"], **{field: value})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_instances": 0}, "max_instances"),
        ({"min_instances": 3, "max_instances": 2}, "max_instances"),
        ({"concurrency": 0}, "concurrency"),
        ({"cpu": "one"}, "cpu"),
        ({"memory": "512MB"}, "memory"),
    ],
)
def test_invalid_scaling_rejected(
    configs: dict[str, Any], changes: dict[str, object], message: str
) -> None:
    from license_infra.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(configs["dev"].public_scaling, **changes)


def test_billing_account_format_checked() -> None:
    from license_infra.config import Budget, ConfigError

    with pytest.raises(ConfigError, match="billing account"):
        Budget(billing_account="123", monthly_amount=10)


def test_resource_name_too_long_rejected(configs: dict[str, Any]) -> None:
    from license_infra.config import ConfigError

    assert configs["staging"].resource_name("https-rule") == "licenses-staging-https-rule"
    with pytest.raises(ConfigError, match="naming rules"):
        configs["staging"].resource_name("x" * 60)


def test_image_variable_per_environment_overrides() -> None:
    from license_infra.environments import images_from_environment

    previous = "us-central1-docker.pkg.dev/p/r/api@sha256:" + "cd" * 32
    images = images_from_environment(
        {"LICENSE_API_IMAGE": TEST_IMAGE, "LICENSE_API_IMAGE_PROD": previous}
    )
    assert images == {"dev": TEST_IMAGE, "staging": TEST_IMAGE, "prod": previous}


def test_missing_image_names_variable() -> None:
    from license_infra.config import ConfigError
    from license_infra.environments import images_from_environment

    with pytest.raises(ConfigError, match="LICENSE_API_IMAGE") as raised:
        images_from_environment({"LICENSE_API_IMAGE_DEV": TEST_IMAGE})
    assert "staging, prod" in str(raised.value)
