"""Google APIs the stack uses."""

from __future__ import annotations

from cdktf import ITerraformDependable
from cdktf_cdktf_provider_google.project_service import ProjectService
from constructs import Construct

REQUIRED_APIS = (
    "billingbudgets.googleapis.com",
    "cloudkms.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "dns.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
)


class ProjectApis(Construct):
    """Enabled project APIs.

    Teardown leaves them enabled, because other workloads in the project may use them.
    """

    def __init__(self, scope: Construct, id_: str, *, project_id: str) -> None:
        super().__init__(scope, id_)
        self.services: list[ITerraformDependable] = []
        for api in REQUIRED_APIS:
            service = ProjectService(
                self,
                api.split(".")[0],
                project=project_id,
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
            )
            self.services.append(service)
