"""Typed configuration of one deployment environment.

Every environment (dev, staging, prod) is one `EnvironmentConfig` value; the stack code is the
same for all of them. Validation runs when a value is built, so a bad setting fails synthesis
with a message instead of producing a plan.
"""

from __future__ import annotations

import dataclasses
import enum
import re

# Host names served by the existing GKE ingress in the same DNS zone. No stack may ever manage
# a record for them.
GKE_INGRESS_HOSTS = frozenset({"api.coditect.ai", "ide.coditect.ai"})

_IMAGE_DIGEST = re.compile(r"^[a-z0-9.-]+(?::[0-9]+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$")
_HOST_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_BILLING_ACCOUNT = re.compile(r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")
_RESOURCE_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
_GCS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
_CPU = re.compile(r"^[0-9]+(\.[0-9]+)?$|^[0-9]+m$")
_MEMORY = re.compile(r"^[0-9]+(Mi|Gi)$")
# Cloud Armor accepts only these rate-limit intervals, in seconds.
RATE_LIMIT_INTERVALS = frozenset({10, 30, 60, 120, 180, 240, 300, 600, 900, 1200, 1800, 2700, 3600})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")


class ConfigError(ValueError):
    """An environment setting has a value the stack cannot use."""


class KeyProtection(enum.StrEnum):
    """Cloud KMS protection level of the signing key versions."""

    SOFTWARE = "SOFTWARE"
    HSM = "HSM"


@dataclasses.dataclass(frozen=True)
class Scaling:
    """Instance limits and size of one Cloud Run service."""

    min_instances: int
    max_instances: int
    concurrency: int  # requests one instance serves at the same time
    cpu: str  # Cloud Run CPU limit, e.g. "1" or "500m"
    memory: str  # Cloud Run memory limit, e.g. "512Mi"

    def __post_init__(self) -> None:
        if self.min_instances < 0:
            raise ConfigError(f"min_instances={self.min_instances} is negative.")
        if self.max_instances < max(1, self.min_instances):
            raise ConfigError(
                f"max_instances={self.max_instances} must be at least 1 and at least "
                f"min_instances={self.min_instances}."
            )
        if not 1 <= self.concurrency <= 1000:
            raise ConfigError(f"concurrency={self.concurrency} is outside 1..1000.")
        if not _CPU.match(self.cpu):
            raise ConfigError(f"cpu={self.cpu!r} is not a Cloud Run CPU limit such as '1'.")
        if not _MEMORY.match(self.memory):
            raise ConfigError(f"memory={self.memory!r} is not a limit such as '512Mi' or '1Gi'.")


@dataclasses.dataclass(frozen=True)
class AlertThresholds:
    """Limits above which an alert policy opens an incident."""

    server_error_ratio: float  # share of 5xx responses over 5 minutes, 0..1
    latency_p99_ms: int  # 99th percentile request latency over 5 minutes
    no_seat_denials_per_5_min: int  # `no_seat_available` denials in a 5-minute window

    def __post_init__(self) -> None:
        if not 0 < self.server_error_ratio < 1:
            raise ConfigError(f"server_error_ratio={self.server_error_ratio} is outside (0, 1).")
        if self.latency_p99_ms <= 0:
            raise ConfigError(f"latency_p99_ms={self.latency_p99_ms} must be positive.")
        if self.no_seat_denials_per_5_min <= 0:
            raise ConfigError(
                f"no_seat_denials_per_5_min={self.no_seat_denials_per_5_min} must be positive."
            )


@dataclasses.dataclass(frozen=True)
class Budget:
    """Monthly billing budget of the environment's project."""

    billing_account: str  # e.g. "01ABCD-234567-89EF01"
    monthly_amount: int  # whole units of `currency_code`
    currency_code: str = "USD"

    def __post_init__(self) -> None:
        if not _BILLING_ACCOUNT.match(self.billing_account):
            raise ConfigError(
                f"billing_account={self.billing_account!r} is not a billing account id "
                "such as '01ABCD-234567-89EF01'."
            )
        if self.monthly_amount <= 0:
            raise ConfigError(f"monthly_amount={self.monthly_amount} must be positive.")
        if not re.fullmatch(r"[A-Z]{3}", self.currency_code):
            raise ConfigError(f"currency_code={self.currency_code!r} is not an ISO 4217 code.")


@dataclasses.dataclass(frozen=True)
class EnvironmentConfig:
    """Everything that differs between dev, staging and prod."""

    name: str  # short environment name, part of every resource name
    project_id: str
    region: str  # Cloud Run, serverless NEG, KMS key ring and Cloud Scheduler location
    domain: str  # host name the load balancer serves, e.g. "licenses.coditect.ai"
    dns_zone_name: str  # existing Cloud DNS managed zone that contains `domain`
    dns_project_id: str  # project of that zone
    image: str  # container image pinned by digest: REGISTRY/PATH@sha256:HEX
    public_scaling: Scaling
    sweeper_scaling: Scaling
    alert_email: str
    budget: Budget
    alerts: AlertThresholds
    state_bucket: str  # GCS bucket of the Terraform state, created before the first deploy
    firestore_location: str  # Firestore location id, e.g. "eur3" or "europe-west1"
    firestore_database_id: str = "licenses"
    firestore_delete_protection: bool = True
    firestore_point_in_time_recovery: bool = False
    key_protection: KeyProtection = KeyProtection.SOFTWARE
    # Cloud Armor throttle on the license paths, per client IP address.
    rate_limit_requests: int = 120
    rate_limit_interval_sec: int = 60
    sweep_schedule: str = "*/5 * * * *"  # cron, in UTC

    def __post_init__(self) -> None:
        self._validate_addresses()
        self._validate_deployment()

    def _validate_addresses(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9]{1,9}", self.name):
            raise ConfigError(
                f"name={self.name!r} must be 2-10 lowercase letters or digits, e.g. 'prod'."
            )
        for field in ("project_id", "dns_project_id"):
            value = getattr(self, field)
            if not _PROJECT_ID.match(value):
                raise ConfigError(f"{field}={value!r} is not a Google Cloud project id.")
        if not _HOST_NAME.match(self.domain):
            raise ConfigError(f"domain={self.domain!r} is not a lowercase host name.")
        if self.domain in GKE_INGRESS_HOSTS:
            raise ConfigError(
                f"domain={self.domain!r} is served by the GKE ingress; choose another host name."
            )
        if not _RESOURCE_NAME.match(self.dns_zone_name):
            raise ConfigError(f"dns_zone_name={self.dns_zone_name!r} is not a zone name.")
        if not _EMAIL.match(self.alert_email):
            raise ConfigError(f"alert_email={self.alert_email!r} is not an e-mail address.")
        if not _GCS_BUCKET.match(self.state_bucket):
            raise ConfigError(f"state_bucket={self.state_bucket!r} is not a bucket name.")

    def _validate_deployment(self) -> None:
        if not _IMAGE_DIGEST.match(self.image):
            raise ConfigError(
                f"image={self.image!r} is not pinned by digest; expected "
                "REGISTRY/PATH@sha256:<64 hex digits>."
            )
        if self.is_production and self.public_scaling.min_instances < 1:
            raise ConfigError(
                "public_scaling.min_instances must be at least 1 in prod, so no request "
                "waits for a cold start."
            )

        if (
            not _RESOURCE_NAME.match(self.firestore_database_id)
            or len(self.firestore_database_id) < 4
        ):
            raise ConfigError(
                f"firestore_database_id={self.firestore_database_id!r} must be 4-63 lowercase "
                "letters, digits or hyphens, starting with a letter."
            )

        if self.rate_limit_requests <= 0:
            raise ConfigError(f"rate_limit_requests={self.rate_limit_requests} must be positive.")
        if self.rate_limit_interval_sec not in RATE_LIMIT_INTERVALS:
            allowed = ", ".join(str(value) for value in sorted(RATE_LIMIT_INTERVALS))
            raise ConfigError(
                f"rate_limit_interval_sec={self.rate_limit_interval_sec} is not one of: {allowed}."
            )

        if len(self.sweep_schedule.split()) != 5:
            raise ConfigError(f"sweep_schedule={self.sweep_schedule!r} is not a 5-field cron.")

    @property
    def is_production(self) -> bool:
        return self.name == "prod"

    @property
    def issuer(self) -> str:
        """Token issuer and public base URL of the API."""
        return f"https://{self.domain}"

    def resource_name(self, suffix: str) -> str:
        """Return `licenses-<env>-<suffix>`, checked against the Compute Engine name rules."""
        name = f"licenses-{self.name}-{suffix}"
        if not _RESOURCE_NAME.match(name):
            raise ConfigError(
                f"resource name {name!r} breaks the naming rules (lowercase letters, digits and "
                "hyphens, 1-63 characters, starting with a letter); shorten the suffix."
            )
        return name

    def account_id(self, role: str) -> str:
        """Return a service account id (6-30 characters) for `role` in this environment."""
        account = f"lic-{self.name}-{role}"
        if not re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", account):
            raise ConfigError(f"service account id {account!r} is not 6-30 valid characters.")
        return account

    def with_image(self, image: str) -> EnvironmentConfig:
        """Return a copy that deploys `image`, validated like any other setting."""
        return dataclasses.replace(self, image=image)
