"""The dev, staging and prod environments as data, and the image each one deploys.

NOTE: project ids, the billing account, the state bucket and the alert addresses are
planning values. Ops confirm them against the real organization before the first deploy
(docs/runbook.md, "Prerequisites").
"""

from __future__ import annotations

from collections.abc import Mapping

from license_infra.config import (
    AlertThresholds,
    Budget,
    ConfigError,
    EnvironmentConfig,
    KeyProtection,
    Scaling,
)

ENVIRONMENT_NAMES = ("dev", "staging", "prod")

# Image variables: LICENSE_API_IMAGE for every environment, LICENSE_API_IMAGE_<ENV> to
# override it for one (e.g. LICENSE_API_IMAGE_PROD while prod still runs the previous build).
IMAGE_VARIABLE = "LICENSE_API_IMAGE"

_BILLING_ACCOUNT = "01A2B3-C4D5E6-F7A8B9"
_DNS_ZONE = "coditect-ai"
_DNS_PROJECT = "coditect-dns"
_SWEEPER = Scaling(min_instances=0, max_instances=1, concurrency=1, cpu="1", memory="512Mi")


def image_variable(environment: str) -> str:
    return f"{IMAGE_VARIABLE}_{environment.upper()}"


def images_from_environment(variables: Mapping[str, str]) -> dict[str, str]:
    """Return the image of each environment from the process environment variables."""
    images: dict[str, str] = {}
    missing: list[str] = []
    for name in ENVIRONMENT_NAMES:
        image = variables.get(image_variable(name)) or variables.get(IMAGE_VARIABLE)
        if image:
            images[name] = image
        else:
            missing.append(name)
    if missing:
        raise ConfigError(
            f"No image for {', '.join(missing)}: set {IMAGE_VARIABLE} (or "
            f"{image_variable(missing[0])}) to REGISTRY/PATH@sha256:<digest>, as printed by "
            "the image build (docs/runbook.md, 'Build the image')."
        )
    return images


def environments(images: Mapping[str, str]) -> list[EnvironmentConfig]:
    """Build the configuration of every environment, each deploying `images[name]`."""
    return [_dev(images["dev"]), _staging(images["staging"]), _prod(images["prod"])]


def _dev(image: str) -> EnvironmentConfig:
    return EnvironmentConfig(
        name="dev",
        project_id="coditect-licenses-dev",
        region="us-central1",
        domain="licenses-dev.coditect.ai",
        dns_zone_name=_DNS_ZONE,
        dns_project_id=_DNS_PROJECT,
        image=image,
        public_scaling=Scaling(
            min_instances=0, max_instances=2, concurrency=40, cpu="1", memory="512Mi"
        ),
        sweeper_scaling=_SWEEPER,
        alert_email="licensing-dev-alerts@coditect.ai",
        budget=Budget(billing_account=_BILLING_ACCOUNT, monthly_amount=50),
        alerts=AlertThresholds(
            server_error_ratio=0.2, latency_p99_ms=3000, no_seat_denials_per_5_min=100
        ),
        state_bucket="coditect-licenses-tfstate",
        firestore_location="us-central1",
        firestore_delete_protection=False,
        firestore_point_in_time_recovery=False,
        key_protection=KeyProtection.SOFTWARE,
    )


def _staging(image: str) -> EnvironmentConfig:
    return EnvironmentConfig(
        name="staging",
        project_id="coditect-licenses-staging",
        region="us-central1",
        domain="licenses-staging.coditect.ai",
        dns_zone_name=_DNS_ZONE,
        dns_project_id=_DNS_PROJECT,
        image=image,
        public_scaling=Scaling(
            min_instances=0, max_instances=4, concurrency=40, cpu="1", memory="512Mi"
        ),
        sweeper_scaling=_SWEEPER,
        alert_email="licensing-alerts@coditect.ai",
        budget=Budget(billing_account=_BILLING_ACCOUNT, monthly_amount=100),
        alerts=AlertThresholds(
            server_error_ratio=0.05, latency_p99_ms=2000, no_seat_denials_per_5_min=50
        ),
        state_bucket="coditect-licenses-tfstate",
        firestore_location="us-central1",
        firestore_delete_protection=True,
        firestore_point_in_time_recovery=False,
        key_protection=KeyProtection.SOFTWARE,
    )


def _prod(image: str) -> EnvironmentConfig:
    return EnvironmentConfig(
        name="prod",
        project_id="coditect-licenses-prod",
        region="us-central1",
        domain="licenses.coditect.ai",
        dns_zone_name=_DNS_ZONE,
        dns_project_id=_DNS_PROJECT,
        image=image,
        public_scaling=Scaling(
            min_instances=1, max_instances=20, concurrency=80, cpu="1", memory="1Gi"
        ),
        sweeper_scaling=_SWEEPER,
        alert_email="licensing-alerts@coditect.ai",
        budget=Budget(billing_account=_BILLING_ACCOUNT, monthly_amount=500),
        alerts=AlertThresholds(
            server_error_ratio=0.02, latency_p99_ms=1000, no_seat_denials_per_5_min=50
        ),
        state_bucket="coditect-licenses-tfstate",
        firestore_location="nam5",
        firestore_delete_protection=True,
        firestore_point_in_time_recovery=True,
        key_protection=KeyProtection.HSM,
        rate_limit_requests=300,
    )
