"""Load balancer, Cloud Armor, certificate and DNS record, per synthesized environment."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import only, reference, resources

ENVIRONMENTS = ("dev", "staging", "prod")
# Fields a backend service with a serverless NEG backend rejects or ignores.
SERVERLESS_REJECTED_SERVICE_FIELDS = {"timeout_sec", "health_checks", "port_name"}
SERVERLESS_REJECTED_BACKEND_FIELDS = {
    "balancing_mode",
    "capacity_scaler",
    "max_utilization",
    "max_rate",
    "max_rate_per_instance",
    "max_rate_per_endpoint",
    "max_connections",
    "max_connections_per_instance",
    "max_connections_per_endpoint",
}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_neg_is_serverless_on_public_service(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    neg = only(stack, "google_compute_region_network_endpoint_group")
    public = next(
        name
        for name, body in resources(stack, "google_cloud_run_v2_service").items()
        if body["name"].endswith("-api")
    )
    assert neg["network_endpoint_type"] == "SERVERLESS"
    assert neg["cloud_run"] == {"service": f"${{google_cloud_run_v2_service.{public}.name}}"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_backend_service_external_managed(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    backend = only(stack, "google_compute_backend_service")
    assert backend["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    assert backend["log_config"] == {"enable": True, "sample_rate": 1}
    assert backend["security_policy"] == reference(stack, "google_compute_security_policy", "id")
    assert backend["backend"] == [
        {"group": reference(stack, "google_compute_region_network_endpoint_group", "id")}
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_backend_has_no_serverless_rejected_fields(stacks: dict[str, Any], env: str) -> None:
    backend = only(stacks[env], "google_compute_backend_service")
    assert not SERVERLESS_REJECTED_SERVICE_FIELDS & set(backend)
    for item in backend["backend"]:
        assert not SERVERLESS_REJECTED_BACKEND_FIELDS & set(item)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_armor_throttles_license_paths_per_ip(
    stacks: dict[str, Any], configs: dict[str, Any], env: str
) -> None:
    policy = only(stacks[env], "google_compute_security_policy")
    throttles = [rule for rule in policy["rule"] if rule["action"] == "throttle"]
    assert len(throttles) == 1
    rule = throttles[0]
    assert rule["match"]["expr"]["expression"] == ("request.path.startsWith('/api/v1/licenses/')")
    options = rule["rate_limit_options"]
    assert options["enforce_on_key"] == "IP"
    assert options["exceed_action"] == "deny(429)"
    assert options["rate_limit_threshold"] == {
        "count": configs[env].rate_limit_requests,
        "interval_sec": configs[env].rate_limit_interval_sec,
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_armor_default_rule_allows(stacks: dict[str, Any], env: str) -> None:
    policy = only(stacks[env], "google_compute_security_policy")
    default = [rule for rule in policy["rule"] if rule["priority"] == 2147483647]
    assert len(default) == 1
    assert default[0]["action"] == "allow"
    assert default[0]["match"]["config"]["src_ip_ranges"] == ["*"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_armor_blocks_log4shell_probes(stacks: dict[str, Any], env: str) -> None:
    policy = only(stacks[env], "google_compute_security_policy")
    expressions = [
        rule["match"]["expr"]["expression"]
        for rule in policy["rule"]
        if rule["action"].startswith("deny") and "expr" in rule["match"]
    ]
    assert any("cve-canary" in expression for expression in expressions)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_url_map_defaults_to_backend(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    maps = resources(stack, "google_compute_url_map")
    serving = [body for body in maps.values() if "default_service" in body]
    assert len(serving) == 1
    assert serving[0]["default_service"] == reference(stack, "google_compute_backend_service", "id")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_https_proxy_certificate_and_tls_policy(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    proxy = only(stack, "google_compute_target_https_proxy")
    assert proxy["ssl_certificates"] == [
        reference(stack, "google_compute_managed_ssl_certificate", "id")
    ]
    assert proxy["ssl_policy"] == reference(stack, "google_compute_ssl_policy", "id")
    policy = only(stack, "google_compute_ssl_policy")
    assert policy["min_tls_version"] in {"TLS_1_2", "TLS_1_3"}
    assert policy["profile"] in {"MODERN", "RESTRICTED"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_certificate_replaceable_without_outage(
    stacks: dict[str, Any], configs: dict[str, Any], env: str
) -> None:
    certificate = only(stacks[env], "google_compute_managed_ssl_certificate")
    assert certificate["managed"] == {"domains": [configs[env].domain]}
    assert certificate["lifecycle"] == {"create_before_destroy": True}
    assert certificate["name"].startswith(f"licenses-{env}-cert-")


def test_certificate_name_changes_with_domains(configs: dict[str, Any]) -> None:
    from license_infra.components.load_balancer import certificate_name

    config = configs["prod"]
    one = certificate_name(config, ["licenses.coditect.ai"])
    two = certificate_name(config, ["licenses.coditect.ai", "www.licenses.coditect.ai"])
    assert one != two
    assert certificate_name(config, ["b.coditect.ai", "a.coditect.ai"]) == certificate_name(
        config, ["a.coditect.ai", "b.coditect.ai"]
    )


def test_prod_certificate_for_licenses_domain(stacks: dict[str, Any]) -> None:
    certificate = only(stacks["prod"], "google_compute_managed_ssl_certificate")
    assert certificate["managed"]["domains"] == ["licenses.coditect.ai"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_forwarding_rules_share_static_ip(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    address = only(stack, "google_compute_global_address")
    assert address["address_type"] == "EXTERNAL"
    rules = {
        body["port_range"]: body
        for body in resources(stack, "google_compute_global_forwarding_rule").values()
    }
    assert sorted(rules) == ["443", "80"]
    ip = reference(stack, "google_compute_global_address", "id")
    for rule in rules.values():
        assert rule["ip_address"] == ip
        assert rule["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    assert rules["443"]["target"] == reference(stack, "google_compute_target_https_proxy", "id")
    assert rules["80"]["target"] == reference(stack, "google_compute_target_http_proxy", "id")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_port_80_redirects_to_https(stacks: dict[str, Any], env: str) -> None:
    stack = stacks[env]
    proxy = only(stack, "google_compute_target_http_proxy")
    maps = resources(stack, "google_compute_url_map")
    redirect_name = proxy["url_map"].split(".")[1]
    redirect = maps[redirect_name]["default_url_redirect"]
    assert redirect["https_redirect"] is True
    assert redirect["strip_query"] is False
    assert "default_service" not in maps[redirect_name]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_dns_a_record_in_existing_zone(
    stacks: dict[str, Any], configs: dict[str, Any], env: str
) -> None:
    stack = stacks[env]
    zones = stack["data"]["google_dns_managed_zone"]
    assert len(zones) == 1
    ((zone_name, zone),) = zones.items()
    assert zone["name"] == configs[env].dns_zone_name
    record = only(stack, "google_dns_record_set")
    assert record["name"] == f"{configs[env].domain}."
    assert record["type"] == "A"
    assert record["ttl"] == 300
    assert record["managed_zone"] == f"${{data.google_dns_managed_zone.{zone_name}.name}}"
    assert record["rrdatas"] == [reference(stack, "google_compute_global_address", "address")]


def test_prod_record_is_licenses_host(stacks: dict[str, Any]) -> None:
    assert only(stacks["prod"], "google_dns_record_set")["name"] == "licenses.coditect.ai."
