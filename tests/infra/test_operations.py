"""APIs, remote state, monitoring, budget and outputs, per synthesized environment."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import only, reference, resources

ENVIRONMENTS = ("dev", "staging", "prod")


def alert_policies(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the alert policies by the display name of their single condition."""
    found: dict[str, dict[str, Any]] = {}
    for body in resources(stack, "google_monitoring_alert_policy").values():
        (condition,) = body["conditions"]
        found[condition["display_name"]] = body
    return found


def logging_metric(stack: dict[str, Any], suffix: str) -> tuple[str, dict[str, Any]]:
    """Return the logical name and body of the log-based metric whose name ends in `suffix`."""
    (found,) = [
        (name, body)
        for name, body in resources(stack, "google_logging_metric").items()
        if body["name"].endswith(suffix)
    ]
    return found


def public_service_name(stack: dict[str, Any]) -> str:
    """Return the Terraform expression of the public service's name."""
    runs = resources(stack, "google_cloud_run_v2_service")
    public = next(name for name, body in runs.items() if body["name"].endswith("-api"))
    return f"${{google_cloud_run_v2_service.{public}.name}}"


def threshold(policy: dict[str, Any]) -> dict[str, Any]:
    (condition,) = policy["conditions"]
    result: dict[str, Any] = condition["condition_threshold"]
    return result


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_apis_enabled_and_kept_on_destroy(stacks: dict[str, Any], env: str) -> None:
    services = resources(stacks[env], "google_project_service").values()
    enabled = {body["service"] for body in services}
    for api in (
        "run.googleapis.com",
        "compute.googleapis.com",
        "firestore.googleapis.com",
        "cloudkms.googleapis.com",
        "secretmanager.googleapis.com",
        "cloudscheduler.googleapis.com",
        "monitoring.googleapis.com",
        "billingbudgets.googleapis.com",
    ):
        assert api in enabled
    for body in services:
        assert body["disable_on_destroy"] is False
        assert body["disable_dependent_services"] is False


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_state_in_gcs_per_environment(
    stacks: dict[str, Any], configs: dict[str, Any], env: str
) -> None:
    backend = stacks[env]["terraform"]["backend"]
    assert backend == {"gcs": {"bucket": configs[env].state_bucket, "prefix": f"license-api/{env}"}}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_provider_targets_environment_project(
    stacks: dict[str, Any], configs: dict[str, Any], env: str
) -> None:
    (provider,) = stacks[env]["provider"]["google"]
    assert provider["project"] == configs[env].project_id
    assert provider["region"] == configs[env].region


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_uptime_check_on_healthz(stacks: dict[str, Any], configs: dict[str, Any], env: str) -> None:
    check = only(stacks[env], "google_monitoring_uptime_check_config")
    assert check["http_check"]["path"] == "/healthz"
    assert check["http_check"]["use_ssl"] is True
    assert check["http_check"]["validate_ssl"] is True
    assert check["http_check"]["port"] == 443
    assert check["monitored_resource"] == {
        "type": "uptime_url",
        "labels": {"project_id": configs[env].project_id, "host": configs[env].domain},
    }


def test_prod_uptime_host_is_licenses_domain(stacks: dict[str, Any]) -> None:
    check = only(stacks["prod"], "google_monitoring_uptime_check_config")
    assert check["monitored_resource"]["labels"]["host"] == "licenses.coditect.ai"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_email_channel_from_config(
    stacks: dict[str, Any], configs: dict[str, Any], env: str
) -> None:
    channel = only(stacks[env], "google_monitoring_notification_channel")
    assert channel["type"] == "email"
    assert channel["labels"] == {"email_address": configs[env].alert_email}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_alerts_notify_channel(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    policies = alert_policies(stack)
    assert sorted(policies) == [
        "5xx ratio high",
        "health check failing",
        "licenses under seat pressure",
        "no_seat_available denials spiking",
        "p99 latency high",
    ]
    channel = reference(stack, "google_monitoring_notification_channel", "id")
    for policy in policies.values():
        assert policy["notification_channels"] == [channel]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_uptime_alert_watches_check(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    condition = threshold(alert_policies(stack)["health check failing"])
    check_id = reference(stack, "google_monitoring_uptime_check_config", "uptime_check_id")
    assert "monitoring.googleapis.com/uptime_check/check_passed" in condition["filter"]
    assert check_id in condition["filter"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_error_ratio_alert_uses_5xx_over_all(
    stacks: dict[str, Any], configs: dict[str, Any], env: str
) -> None:
    condition = threshold(alert_policies(stacks[env])["5xx ratio high"])
    assert 'metric.labels.response_code_class = "5xx"' in condition["filter"]
    assert "response_code_class" not in condition["denominator_filter"]
    assert f'"{public_service_name(stacks[env])}"' in condition["denominator_filter"]
    assert condition["threshold_value"] == configs[env].alerts.server_error_ratio


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_latency_alert_on_p99(stacks: dict[str, Any], configs: dict[str, Any], env: str) -> None:
    condition = threshold(alert_policies(stacks[env])["p99 latency high"])
    assert "run.googleapis.com/request_latencies" in condition["filter"]
    (aggregation,) = condition["aggregations"]
    assert aggregation["cross_series_reducer"] == "REDUCE_PERCENTILE_99"
    assert condition["threshold_value"] == configs[env].alerts.latency_p99_ms


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_seat_metric_and_alert(
    stacks: dict[str, Any], configs: dict[str, Any], env: str
) -> None:
    from functions.errors import ProblemCode

    stack = stacks[env]
    name, metric = logging_metric(stack, "no_seat_denials")
    assert f'jsonPayload.code = "{ProblemCode.NO_SEAT_AVAILABLE.value}"' in metric["filter"]
    assert f'"{public_service_name(stack)}"' in metric["filter"]
    policy = alert_policies(stack)["no_seat_available denials spiking"]
    condition = threshold(policy)
    assert (
        f"logging.googleapis.com/user/${{google_logging_metric.{name}.name}}"
        in (condition["filter"])
    )
    assert condition["threshold_value"] == configs[env].alerts.no_seat_denials_per_5_min
    assert f"google_logging_metric.{name}" in policy["depends_on"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_seat_pressure_metric_and_alert(stacks: dict[str, Any], env: str) -> None:
    from functions.billing.pressure import SEAT_PRESSURE_EVENT

    stack = stacks[env]
    name, metric = logging_metric(stack, "seat_pressure")
    assert f'jsonPayload.event = "{SEAT_PRESSURE_EVENT}"' in metric["filter"]
    policy = alert_policies(stack)["licenses under seat pressure"]
    condition = threshold(policy)
    assert (
        f"logging.googleapis.com/user/${{google_logging_metric.{name}.name}}"
        in (condition["filter"])
    )
    assert condition["threshold_value"] == 0
    assert condition["comparison"] == "COMPARISON_GT"
    assert f"google_logging_metric.{name}" in policy["depends_on"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_budget_thresholds_and_amount(
    stacks: dict[str, Any], configs: dict[str, Any], env: str
) -> None:
    stack = stacks[env]
    budget = only(stack, "google_billing_budget")
    assert budget["billing_account"] == configs[env].budget.billing_account
    assert sorted(rule["threshold_percent"] for rule in budget["threshold_rules"]) == [
        0.5,
        0.9,
        1,
    ]
    assert budget["amount"]["specified_amount"] == {
        "currency_code": configs[env].budget.currency_code,
        "units": str(configs[env].budget.monthly_amount),
    }
    (project,) = stack["data"]["google_project"]
    assert budget["budget_filter"]["projects"] == [
        f"projects/${{data.google_project.{project}.number}}"
    ]
    assert budget["all_updates_rule"]["monitoring_notification_channels"] == [
        reference(stack, "google_monitoring_notification_channel", "id")
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_outputs(stacks: dict[str, Any], configs: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    outputs = {name: body["value"] for name, body in stack["output"].items()}
    runs = resources(stack, "google_cloud_run_v2_service")
    public = next(name for name, body in runs.items() if body["name"].endswith("-api"))
    sweeper = next(name for name, body in runs.items() if body["name"].endswith("-sweeper"))
    assert outputs == {
        "load_balancer_ip": reference(stack, "google_compute_global_address", "address"),
        "api_url": f"https://{configs[env].domain}",
        "public_service_url": f"${{google_cloud_run_v2_service.{public}.uri}}",
        "sweeper_service_url": f"${{google_cloud_run_v2_service.{sweeper}.uri}}",
        "jwks_url": f"https://{configs[env].domain}/.well-known/jwks.json",
    }


def test_prod_jwks_url(stacks: dict[str, Any]) -> None:
    jwks = stacks["prod"]["output"]["jwks_url"]["value"]
    assert jwks == "https://licenses.coditect.ai/.well-known/jwks.json"
