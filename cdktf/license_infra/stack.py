"""One Terraform stack per environment, assembled from the component constructs."""

from __future__ import annotations

from cdktf import App, GcsBackend, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_google.provider import GoogleProvider
from constructs import Construct

from license_infra.app_contract import (
    JWKS_PATH,
    load_firestore_declaration,
    server_secret_names,
)
from license_infra.components.apis import ProjectApis
from license_infra.components.budget import SpendBudget
from license_infra.components.dns_record import ApiDnsRecord
from license_infra.components.firestore import SeatDatabase
from license_infra.components.identities import ServiceIdentities
from license_infra.components.load_balancer import HttpsLoadBalancer
from license_infra.components.monitoring import Monitoring
from license_infra.components.run_services import LicenseServices, RuntimeSettings
from license_infra.components.server_secrets import ServerSecrets
from license_infra.components.signing_key import SigningKey
from license_infra.components.sweep_schedule import SweepSchedule
from license_infra.config import EnvironmentConfig

STATE_PREFIX = "license-api"


def stack_id(config: EnvironmentConfig) -> str:
    """Return the stack name ops pass to `cdktf deploy`, e.g. `licenses-prod`."""
    return f"licenses-{config.name}"


class LicenseApiStack(TerraformStack):
    """Everything the license API needs in one environment's project."""

    def __init__(self, scope: Construct, id_: str, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, id_)
        GoogleProvider(
            self,
            "google",
            project=config.project_id,
            region=config.region,
            # Bills API quota (budgets, Firestore admin) to the project, not to the caller's
            # credentials, which user accounts need for these APIs.
            user_project_override=True,
            billing_project=config.project_id,
            default_labels={"app": "license-api", "env": config.name},
        )
        GcsBackend(self, bucket=config.state_bucket, prefix=f"{STATE_PREFIX}/{config.name}")

        apis = ProjectApis(self, "apis", project_id=config.project_id).services
        identities = ServiceIdentities(self, "identities", config=config, depends_on=apis)
        signing = SigningKey(
            self,
            "signing",
            config=config,
            signer_member=identities.runtime_member,
            depends_on=apis,
        )
        secrets = ServerSecrets(
            self,
            "secrets",
            config=config,
            names=server_secret_names(),
            reader_member=identities.runtime_member,
            depends_on=apis,
        )
        database = SeatDatabase(
            self,
            "firestore",
            config=config,
            declaration=load_firestore_declaration(),
            depends_on=apis,
        )
        services = LicenseServices(
            self,
            "services",
            config=config,
            settings=RuntimeSettings(
                project_id=config.project_id,
                firestore_database_id=database.database.name,
                kms_key=signing.key_resource_name,
                issuer=config.issuer,
            ),
            runtime_account_email=identities.runtime.email,
            sweep_invoker_member=identities.scheduler_member,
            # A revision reads its key and secrets at start, so the grants come first.
            depends_on=[
                *apis,
                *identities.grants,
                *signing.grants,
                *secrets.grants,
                database.database,
            ],
        )
        SweepSchedule(
            self,
            "sweep",
            config=config,
            sweeper_url=services.sweeper.uri,
            caller_email=identities.scheduler.email,
            depends_on=apis,
        )
        load_balancer = HttpsLoadBalancer(
            self,
            "lb",
            config=config,
            cloud_run_service_name=services.public.name,
            depends_on=apis,
        )
        ApiDnsRecord(self, "dns", config=config, ip_address=load_balancer.ip_address)
        monitoring = Monitoring(
            self,
            "monitoring",
            config=config,
            public_service_name=services.public.name,
            depends_on=apis,
        )
        SpendBudget(
            self,
            "budget",
            config=config,
            notification_channel_id=monitoring.channel.id,
            depends_on=apis,
        )

        TerraformOutput(self, "load_balancer_ip", value=load_balancer.ip_address)
        TerraformOutput(self, "api_url", value=config.issuer)
        TerraformOutput(self, "public_service_url", value=services.public.uri)
        TerraformOutput(self, "sweeper_service_url", value=services.sweeper.uri)
        TerraformOutput(self, "jwks_url", value=f"{config.issuer}{JWKS_PATH}")


def build_stacks(app: App, configs: list[EnvironmentConfig]) -> list[LicenseApiStack]:
    return [LicenseApiStack(app, stack_id(config), config=config) for config in configs]
