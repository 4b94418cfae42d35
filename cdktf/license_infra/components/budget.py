"""Billing budget of the environment's project, alerting at 50, 90 and 100 % of spend."""

from __future__ import annotations

from collections.abc import Sequence

from cdktf import ITerraformDependable
from cdktf_cdktf_provider_google.billing_budget import (
    BillingBudget,
    BillingBudgetAllUpdatesRule,
    BillingBudgetAmount,
    BillingBudgetAmountSpecifiedAmount,
    BillingBudgetBudgetFilter,
    BillingBudgetThresholdRules,
)
from cdktf_cdktf_provider_google.data_google_project import DataGoogleProject
from constructs import Construct

from license_infra.config import EnvironmentConfig

THRESHOLDS = (0.5, 0.9, 1.0)


class SpendBudget(Construct):
    """Budget on current spend; the notification channel and billing admins get each alert."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        notification_channel_id: str,
        depends_on: Sequence[ITerraformDependable],
    ) -> None:
        super().__init__(scope, id_)
        # Budget filters take the project number, which the Resource Manager API returns.
        project = DataGoogleProject(self, "project", project_id=config.project_id)
        self.budget = BillingBudget(
            self,
            "budget",
            billing_account=config.budget.billing_account,
            display_name=f"License API {config.name}",
            budget_filter=BillingBudgetBudgetFilter(
                projects=[f"projects/{project.number}"],
                calendar_period="MONTH",
            ),
            amount=BillingBudgetAmount(
                specified_amount=BillingBudgetAmountSpecifiedAmount(
                    currency_code=config.budget.currency_code,
                    units=str(config.budget.monthly_amount),
                )
            ),
            threshold_rules=[
                BillingBudgetThresholdRules(threshold_percent=ratio, spend_basis="CURRENT_SPEND")
                for ratio in THRESHOLDS
            ],
            all_updates_rule=BillingBudgetAllUpdatesRule(
                monitoring_notification_channels=[notification_channel_id],
                disable_default_iam_recipients=False,
            ),
            depends_on=list(depends_on),
        )
