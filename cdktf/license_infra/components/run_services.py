"""The two Cloud Run services: the public license API and the private lease sweeper."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from cdktf import ITerraformDependable
from cdktf_cdktf_provider_google.cloud_run_v2_service import (
    CloudRunV2Service,
    CloudRunV2ServiceTemplate,
    CloudRunV2ServiceTemplateContainers,
    CloudRunV2ServiceTemplateContainersEnv,
    CloudRunV2ServiceTemplateContainersLivenessProbe,
    CloudRunV2ServiceTemplateContainersLivenessProbeHttpGet,
    CloudRunV2ServiceTemplateContainersPorts,
    CloudRunV2ServiceTemplateContainersResources,
    CloudRunV2ServiceTemplateContainersStartupProbe,
    CloudRunV2ServiceTemplateContainersStartupProbeHttpGet,
    CloudRunV2ServiceTemplateScaling,
)
from cdktf_cdktf_provider_google.cloud_run_v2_service_iam_member import (
    CloudRunV2ServiceIamMember,
)
from constructs import Construct

from license_infra.app_contract import HEALTH_PATH, PUBLIC_TARGET, SWEEP_TARGET
from license_infra.config import EnvironmentConfig, Scaling

# Both values are the Cloud Run Admin API v2 `IngressTraffic` enum.
PUBLIC_INGRESS = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
# Cloud Run's ingress documentation counts Cloud Scheduler requests from the same project as
# internal traffic. NOTE: not yet observed on a deployment; the runbook's first-deploy check
# runs the job once and reads its status.
SWEEPER_INGRESS = "INGRESS_TRAFFIC_INTERNAL_ONLY"
REQUEST_TIMEOUT = "30s"


@dataclasses.dataclass(frozen=True)
class RuntimeSettings:
    """Plain configuration values of the application. Secrets are never among them."""

    project_id: str
    firestore_database_id: str
    kms_key: str
    issuer: str

    def env(self) -> dict[str, str]:
        """Return the environment variables of both containers."""
        return {
            "LICENSE_STORE": "firestore",
            "GOOGLE_CLOUD_PROJECT": self.project_id,
            "LICENSE_FIRESTORE_DATABASE": self.firestore_database_id,
            "LICENSE_SIGNER": "kms",
            "LICENSE_KMS_KEY": self.kms_key,
            # The service reads the server secrets by name from Secret Manager at start.
            "LICENSE_SECRETS": "secret-manager",
            "LICENSE_ISSUER": self.issuer,
        }


class LicenseServices(Construct):
    """Public service (target `licenses`) and sweeper service (target `sweep`).

    Anyone may invoke the public service, but its ingress accepts only internal traffic and
    the load balancer, so callers reach it only through the load balancer and Cloud Armor.
    Only the scheduler's service account may invoke the sweeper.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        settings: RuntimeSettings,
        runtime_account_email: str,
        sweep_invoker_member: str,
        depends_on: Sequence[ITerraformDependable],
    ) -> None:
        super().__init__(scope, id_)
        self.public = self._service(
            "public",
            config=config,
            name=config.resource_name("api"),
            target=PUBLIC_TARGET,
            scaling=config.public_scaling,
            ingress=PUBLIC_INGRESS,
            env=settings.env(),
            account_email=runtime_account_email,
            depends_on=depends_on,
        )
        self.sweeper = self._service(
            "sweeper",
            config=config,
            name=config.resource_name("sweeper"),
            target=SWEEP_TARGET,
            scaling=config.sweeper_scaling,
            ingress=SWEEPER_INGRESS,
            env=settings.env(),
            account_email=runtime_account_email,
            depends_on=depends_on,
        )
        CloudRunV2ServiceIamMember(
            self,
            "public-invoker",
            project=config.project_id,
            location=config.region,
            name=self.public.name,
            role="roles/run.invoker",
            member="allUsers",
        )
        CloudRunV2ServiceIamMember(
            self,
            "sweeper-invoker",
            project=config.project_id,
            location=config.region,
            name=self.sweeper.name,
            role="roles/run.invoker",
            member=sweep_invoker_member,
        )

    def _service(
        self,
        id_: str,
        *,
        config: EnvironmentConfig,
        name: str,
        target: str,
        scaling: Scaling,
        ingress: str,
        env: dict[str, str],
        account_email: str,
        depends_on: Sequence[ITerraformDependable],
    ) -> CloudRunV2Service:
        container = CloudRunV2ServiceTemplateContainers(
            name=target,
            image=config.image,
            # The image's entry point is functions-framework. FUNCTION_TARGET is reserved on
            # Cloud Run, so the target goes in as an argument.
            args=[f"--target={target}"],
            ports=CloudRunV2ServiceTemplateContainersPorts(container_port=8080),
            env=[
                CloudRunV2ServiceTemplateContainersEnv(name=key, value=value)
                for key, value in env.items()
            ],
            resources=CloudRunV2ServiceTemplateContainersResources(
                limits={"cpu": scaling.cpu, "memory": scaling.memory},
                cpu_idle=True,
                startup_cpu_boost=True,
            ),
            startup_probe=CloudRunV2ServiceTemplateContainersStartupProbe(
                http_get=CloudRunV2ServiceTemplateContainersStartupProbeHttpGet(path=HEALTH_PATH),
                period_seconds=2,
                failure_threshold=15,
                timeout_seconds=1,
            ),
            liveness_probe=CloudRunV2ServiceTemplateContainersLivenessProbe(
                http_get=CloudRunV2ServiceTemplateContainersLivenessProbeHttpGet(path=HEALTH_PATH),
                period_seconds=30,
                failure_threshold=3,
                timeout_seconds=5,
            ),
        )
        return CloudRunV2Service(
            self,
            id_,
            project=config.project_id,
            location=config.region,
            name=name,
            ingress=ingress,
            deletion_protection=config.is_production,
            labels={"app": "license-api", "env": config.name},
            template=CloudRunV2ServiceTemplate(
                service_account=account_email,
                max_instance_request_concurrency=scaling.concurrency,
                timeout=REQUEST_TIMEOUT,
                scaling=CloudRunV2ServiceTemplateScaling(
                    min_instance_count=scaling.min_instances,
                    max_instance_count=scaling.max_instances,
                ),
                containers=[container],
            ),
            depends_on=list(depends_on),
        )
