"""Cloud Scheduler job that calls the sweeper with an OIDC token."""

from __future__ import annotations

from collections.abc import Sequence

from cdktf import ITerraformDependable
from cdktf_cdktf_provider_google.cloud_scheduler_job import (
    CloudSchedulerJob,
    CloudSchedulerJobHttpTarget,
    CloudSchedulerJobHttpTargetOidcToken,
    CloudSchedulerJobRetryConfig,
)
from constructs import Construct

from license_infra.config import EnvironmentConfig


class SweepSchedule(Construct):
    """POSTs to the sweeper on `config.sweep_schedule`, signed in as the scheduler account.

    The token's audience is the sweeper URL, which Cloud Run checks before the request reaches
    the handler. The sweeper's IAM policy admits only this account.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        sweeper_url: str,
        caller_email: str,
        depends_on: Sequence[ITerraformDependable],
    ) -> None:
        super().__init__(scope, id_)
        self.job = CloudSchedulerJob(
            self,
            "job",
            project=config.project_id,
            region=config.region,
            name=config.resource_name("sweep"),
            description="Reclaim seats of expired leases.",
            schedule=config.sweep_schedule,
            time_zone="Etc/UTC",
            attempt_deadline="120s",
            retry_config=CloudSchedulerJobRetryConfig(retry_count=1),
            http_target=CloudSchedulerJobHttpTarget(
                uri=sweeper_url,
                http_method="POST",
                oidc_token=CloudSchedulerJobHttpTargetOidcToken(
                    service_account_email=caller_email,
                    audience=sweeper_url,
                ),
            ),
            depends_on=list(depends_on),
        )
