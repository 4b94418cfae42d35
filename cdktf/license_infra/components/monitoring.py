"""Uptime check, log-based metric and alert policies, all notifying one e-mail channel."""

from __future__ import annotations

from collections.abc import Sequence

from cdktf import ITerraformDependable
from cdktf_cdktf_provider_google.logging_metric import LoggingMetric, LoggingMetricMetricDescriptor
from cdktf_cdktf_provider_google.monitoring_alert_policy import (
    MonitoringAlertPolicy,
    MonitoringAlertPolicyConditions,
    MonitoringAlertPolicyConditionsConditionThreshold,
    MonitoringAlertPolicyConditionsConditionThresholdAggregations,
    MonitoringAlertPolicyConditionsConditionThresholdDenominatorAggregations,
    MonitoringAlertPolicyDocumentation,
)
from cdktf_cdktf_provider_google.monitoring_notification_channel import (
    MonitoringNotificationChannel,
)
from cdktf_cdktf_provider_google.monitoring_uptime_check_config import (
    MonitoringUptimeCheckConfig,
    MonitoringUptimeCheckConfigHttpCheck,
    MonitoringUptimeCheckConfigMonitoredResource,
)
from constructs import Construct

from license_infra.app_contract import HEALTH_PATH, NO_SEAT_CODE, SEAT_PRESSURE_EVENT
from license_infra.config import EnvironmentConfig

WINDOW = "300s"


def _run_filter(service_name: str, metric_type: str, extra: str = "") -> str:
    parts = [
        'resource.type = "cloud_run_revision"',
        f'resource.labels.service_name = "{service_name}"',
        f'metric.type = "{metric_type}"',
    ]
    if extra:
        parts.append(extra)
    return " AND ".join(parts)


class Monitoring(Construct):
    """Alerts on uptime failure, 5xx ratio, p99 latency and a spike of no-seat denials."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        public_service_name: str,
        depends_on: Sequence[ITerraformDependable],
    ) -> None:
        super().__init__(scope, id_)
        project = config.project_id
        deps = list(depends_on)
        self._project = project
        self._env = config.name

        self.channel = MonitoringNotificationChannel(
            self,
            "email",
            project=project,
            display_name=f"License API alerts ({config.name})",
            type="email",
            labels={"email_address": config.alert_email},
            depends_on=deps,
        )
        self.uptime_check = MonitoringUptimeCheckConfig(
            self,
            "uptime",
            project=project,
            display_name=f"License API health ({config.name})",
            timeout="10s",
            period="60s",
            checker_type="STATIC_IP_CHECKERS",
            http_check=MonitoringUptimeCheckConfigHttpCheck(
                path=HEALTH_PATH,
                port=443,
                use_ssl=True,
                validate_ssl=True,
                request_method="GET",
            ),
            monitored_resource=MonitoringUptimeCheckConfigMonitoredResource(
                type="uptime_url", labels={"project_id": project, "host": config.domain}
            ),
            depends_on=deps,
        )
        # Counts the denials the HTTP layer logs with the `no_seat_available` code.
        self.no_seat_metric = LoggingMetric(
            self,
            "no-seat-metric",
            project=project,
            name=f"license_api_{config.name}_no_seat_denials",
            description="License acquisitions denied because every seat was taken.",
            filter=(
                'resource.type = "cloud_run_revision" AND '
                f'resource.labels.service_name = "{public_service_name}" AND '
                f'jsonPayload.code = "{NO_SEAT_CODE}"'
            ),
            metric_descriptor=LoggingMetricMetricDescriptor(
                metric_kind="DELTA", value_type="INT64", unit="1"
            ),
            depends_on=deps,
        )
        # Counts the seat-pressure events of the sweeper (and of reports run in the cloud).
        self.seat_pressure_metric = LoggingMetric(
            self,
            "seat-pressure-metric",
            project=project,
            name=f"license_api_{config.name}_seat_pressure",
            description="Licenses found with seats in use at or above the pressure threshold.",
            filter=(
                'resource.type = "cloud_run_revision" AND '
                f'jsonPayload.event = "{SEAT_PRESSURE_EVENT}"'
            ),
            metric_descriptor=LoggingMetricMetricDescriptor(
                metric_kind="DELTA", value_type="INT64", unit="1"
            ),
            depends_on=deps,
        )

        self.uptime_alert = self._threshold_alert(
            "uptime-alert",
            title="health check failing",
            filter_=(
                'resource.type = "uptime_url" AND '
                'metric.type = "monitoring.googleapis.com/uptime_check/check_passed" AND '
                f'metric.labels.check_id = "{self.uptime_check.uptime_check_id}"'
            ),
            aggregation=MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                alignment_period="300s",
                per_series_aligner="ALIGN_NEXT_OLDER",
                cross_series_reducer="REDUCE_COUNT_FALSE",
                group_by_fields=["resource.label.*"],
            ),
            threshold=1,
            duration="60s",
            documentation=f"{HEALTH_PATH} on https://{config.domain} fails from several regions.",
        )
        self.error_ratio_alert = self._threshold_alert(
            "error-ratio-alert",
            title="5xx ratio high",
            filter_=_run_filter(
                public_service_name,
                "run.googleapis.com/request_count",
                'metric.labels.response_code_class = "5xx"',
            ),
            denominator_filter=_run_filter(public_service_name, "run.googleapis.com/request_count"),
            aggregation=MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                alignment_period=WINDOW,
                per_series_aligner="ALIGN_RATE",
                cross_series_reducer="REDUCE_SUM",
            ),
            threshold=config.alerts.server_error_ratio,
            duration="0s",
            documentation=(
                f"More than {config.alerts.server_error_ratio:.0%} of responses over 5 minutes "
                "were 5xx. Check the service logs; roll back (docs/runbook.md) if a new "
                "revision caused it."
            ),
        )
        self.latency_alert = self._threshold_alert(
            "latency-alert",
            title="p99 latency high",
            filter_=_run_filter(public_service_name, "run.googleapis.com/request_latencies"),
            aggregation=MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                alignment_period=WINDOW,
                per_series_aligner="ALIGN_DELTA",
                cross_series_reducer="REDUCE_PERCENTILE_99",
            ),
            threshold=config.alerts.latency_p99_ms,
            duration="300s",
            documentation=(
                f"The 99th percentile request latency exceeded {config.alerts.latency_p99_ms} ms "
                "for 5 minutes."
            ),
        )
        self.no_seat_alert = self._threshold_alert(
            "no-seat-alert",
            title="no_seat_available denials spiking",
            filter_=(
                'resource.type = "cloud_run_revision" AND '
                f'metric.type = "logging.googleapis.com/user/{self.no_seat_metric.name}"'
            ),
            aggregation=MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                alignment_period=WINDOW,
                per_series_aligner="ALIGN_DELTA",
                cross_series_reducer="REDUCE_SUM",
            ),
            threshold=config.alerts.no_seat_denials_per_5_min,
            duration="0s",
            documentation=(
                f"More than {config.alerts.no_seat_denials_per_5_min} acquisitions in 5 minutes "
                "were denied for lack of a free seat: a customer may need more seats, or "
                "clients are not releasing their leases."
            ),
            depends_on=[self.no_seat_metric],
        )
        self.seat_pressure_alert = self._threshold_alert(
            "seat-pressure-alert",
            title="licenses under seat pressure",
            filter_=(
                'resource.type = "cloud_run_revision" AND '
                f'metric.type = "logging.googleapis.com/user/{self.seat_pressure_metric.name}"'
            ),
            aggregation=MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                alignment_period=WINDOW,
                per_series_aligner="ALIGN_DELTA",
                cross_series_reducer="REDUCE_SUM",
            ),
            threshold=0,
            duration="0s",
            documentation=(
                "The sweep found at least one license with its seats in use at or above "
                "LICENSE_SEAT_PRESSURE_THRESHOLD (80 % by default). The log entries name the "
                "license and customer; sales may offer more seats."
            ),
            depends_on=[self.seat_pressure_metric],
        )

    def _threshold_alert(
        self,
        id_: str,
        *,
        title: str,
        filter_: str,
        aggregation: MonitoringAlertPolicyConditionsConditionThresholdAggregations,
        threshold: float,
        duration: str,
        documentation: str,
        denominator_filter: str | None = None,
        depends_on: Sequence[ITerraformDependable] = (),
    ) -> MonitoringAlertPolicy:
        denominator_aggregations = None
        if denominator_filter is not None:
            denominator_aggregations = [
                MonitoringAlertPolicyConditionsConditionThresholdDenominatorAggregations(
                    alignment_period=aggregation.alignment_period,
                    per_series_aligner=aggregation.per_series_aligner,
                    cross_series_reducer=aggregation.cross_series_reducer,
                )
            ]
        condition = MonitoringAlertPolicyConditionsConditionThreshold(
            filter=filter_,
            comparison="COMPARISON_GT",
            threshold_value=threshold,
            duration=duration,
            aggregations=[aggregation],
            denominator_filter=denominator_filter,
            denominator_aggregations=denominator_aggregations,
        )
        return MonitoringAlertPolicy(
            self,
            id_,
            project=self._project,
            display_name=f"License API ({self._env}): {title}",
            combiner="OR",
            conditions=[
                MonitoringAlertPolicyConditions(display_name=title, condition_threshold=condition)
            ],
            notification_channels=[self.channel.id],
            documentation=MonitoringAlertPolicyDocumentation(
                content=documentation, mime_type="text/markdown"
            ),
            depends_on=list(depends_on),
        )
