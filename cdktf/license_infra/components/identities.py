"""Service accounts of the license API, with the project-wide roles the runtime needs.

Every other grant is made on a single resource by the construct that owns it: the signing
key, each secret, the sweeper service.
"""

from __future__ import annotations

from collections.abc import Sequence

from cdktf import ITerraformDependable
from cdktf_cdktf_provider_google.project_iam_member import ProjectIamMember
from cdktf_cdktf_provider_google.service_account import ServiceAccount
from constructs import Construct

from license_infra.config import EnvironmentConfig

# Firestore data access is granted by project-level roles (the provider has no IAM resource
# for one database). Log and metric writing are project-level permissions too.
RUNTIME_PROJECT_ROLES = (
    "roles/datastore.user",
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
)


class ServiceIdentities(Construct):
    """The runtime account both Cloud Run services run as, and the scheduler's caller account."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        depends_on: Sequence[ITerraformDependable],
    ) -> None:
        super().__init__(scope, id_)
        self.runtime = ServiceAccount(
            self,
            "runtime",
            project=config.project_id,
            account_id=config.account_id("run"),
            display_name=f"License API runtime ({config.name})",
            depends_on=list(depends_on),
        )
        self.scheduler = ServiceAccount(
            self,
            "scheduler",
            project=config.project_id,
            account_id=config.account_id("sweep"),
            display_name=f"License lease sweep caller ({config.name})",
            depends_on=list(depends_on),
        )
        self.runtime_member = f"serviceAccount:{self.runtime.email}"
        self.scheduler_member = f"serviceAccount:{self.scheduler.email}"
        self.grants: list[ITerraformDependable] = []
        for role in RUNTIME_PROJECT_ROLES:
            grant = ProjectIamMember(
                self,
                f"runtime-{role.split('/')[1]}",
                project=config.project_id,
                role=role,
                member=self.runtime_member,
            )
            self.grants.append(grant)
