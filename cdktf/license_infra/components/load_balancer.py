"""Global external HTTPS load balancer in front of the public Cloud Run service.

Request path: static IP :443 -> forwarding rule -> target HTTPS proxy (managed certificate,
TLS 1.2+) -> URL map -> backend service (Cloud Armor, request logs) -> serverless NEG -> Cloud
Run. Port 80 of the same IP redirects every request to HTTPS.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cdktf import ITerraformDependable, TerraformResourceLifecycle
from cdktf_cdktf_provider_google.compute_backend_service import (
    ComputeBackendService,
    ComputeBackendServiceBackend,
    ComputeBackendServiceLogConfig,
)
from cdktf_cdktf_provider_google.compute_global_address import ComputeGlobalAddress
from cdktf_cdktf_provider_google.compute_global_forwarding_rule import (
    ComputeGlobalForwardingRule,
)
from cdktf_cdktf_provider_google.compute_managed_ssl_certificate import (
    ComputeManagedSslCertificate,
    ComputeManagedSslCertificateManaged,
)
from cdktf_cdktf_provider_google.compute_region_network_endpoint_group import (
    ComputeRegionNetworkEndpointGroup,
    ComputeRegionNetworkEndpointGroupCloudRun,
)
from cdktf_cdktf_provider_google.compute_ssl_policy import ComputeSslPolicy
from cdktf_cdktf_provider_google.compute_target_http_proxy import ComputeTargetHttpProxy
from cdktf_cdktf_provider_google.compute_target_https_proxy import ComputeTargetHttpsProxy
from cdktf_cdktf_provider_google.compute_url_map import (
    ComputeUrlMap,
    ComputeUrlMapDefaultUrlRedirect,
)
from constructs import Construct

from license_infra.components.cloud_armor import RateLimitPolicy
from license_infra.config import EnvironmentConfig

LOAD_BALANCING_SCHEME = "EXTERNAL_MANAGED"


def certificate_name(config: EnvironmentConfig, domains: Sequence[str]) -> str:
    """Derive the certificate name from its domains.

    A change of domains yields a new name, so Terraform creates the new certificate next to
    the old one and moves the proxy before deleting the old one (create_before_destroy).
    NOTE: the proxy serves the new certificate while it is still provisioning; the runbook's
    "Certificate provisioning" section gives the gap-free procedure for a domain change.
    """
    digest = hashlib.sha256(",".join(sorted(domains)).encode()).hexdigest()[:10]
    return config.resource_name(f"cert-{digest}")


class HttpsLoadBalancer(Construct):
    """Serverless NEG, backend service, URL maps, proxies, certificate, address and rules."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        cloud_run_service_name: str,
        depends_on: Sequence[ITerraformDependable],
    ) -> None:
        super().__init__(scope, id_)
        project = config.project_id
        deps = list(depends_on)

        self.neg = ComputeRegionNetworkEndpointGroup(
            self,
            "neg",
            project=project,
            name=config.resource_name("neg"),
            region=config.region,
            network_endpoint_type="SERVERLESS",
            cloud_run=ComputeRegionNetworkEndpointGroupCloudRun(service=cloud_run_service_name),
            depends_on=deps,
        )
        self.armor = RateLimitPolicy(self, "armor", config=config, depends_on=deps)
        # Serverless NEG backends reject timeout_sec, health checks, port_name and the
        # balancing-mode fields (capacity_scaler, max_utilization, max_rate*), so none is set.
        self.backend = ComputeBackendService(
            self,
            "backend",
            project=project,
            name=config.resource_name("backend"),
            load_balancing_scheme=LOAD_BALANCING_SCHEME,
            protocol="HTTPS",
            backend=[ComputeBackendServiceBackend(group=self.neg.id)],
            security_policy=self.armor.policy.id,
            log_config=ComputeBackendServiceLogConfig(enable=True, sample_rate=1),
        )
        self.url_map = ComputeUrlMap(
            self,
            "url-map",
            project=project,
            name=config.resource_name("urlmap"),
            default_service=self.backend.id,
        )
        self.redirect_map = ComputeUrlMap(
            self,
            "redirect-map",
            project=project,
            name=config.resource_name("redirect"),
            default_url_redirect=ComputeUrlMapDefaultUrlRedirect(
                https_redirect=True,
                redirect_response_code="MOVED_PERMANENTLY_DEFAULT",
                strip_query=False,
            ),
            depends_on=deps,
        )

        domains = [config.domain]
        self.certificate = ComputeManagedSslCertificate(
            self,
            "certificate",
            project=project,
            name=certificate_name(config, domains),
            managed=ComputeManagedSslCertificateManaged(domains=domains),
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
            depends_on=deps,
        )
        self.ssl_policy = ComputeSslPolicy(
            self,
            "ssl-policy",
            project=project,
            name=config.resource_name("tls"),
            profile="MODERN",
            min_tls_version="TLS_1_2",
            depends_on=deps,
        )
        self.https_proxy = ComputeTargetHttpsProxy(
            self,
            "https-proxy",
            project=project,
            name=config.resource_name("https"),
            url_map=self.url_map.id,
            ssl_certificates=[self.certificate.id],
            ssl_policy=self.ssl_policy.id,
        )
        self.http_proxy = ComputeTargetHttpProxy(
            self,
            "http-proxy",
            project=project,
            name=config.resource_name("http"),
            url_map=self.redirect_map.id,
        )

        self.address = ComputeGlobalAddress(
            self,
            "address",
            project=project,
            name=config.resource_name("ip"),
            address_type="EXTERNAL",
            ip_version="IPV4",
            depends_on=deps,
        )
        self.https_rule = ComputeGlobalForwardingRule(
            self,
            "https-rule",
            project=project,
            name=config.resource_name("https-rule"),
            load_balancing_scheme=LOAD_BALANCING_SCHEME,
            ip_protocol="TCP",
            port_range="443",
            ip_address=self.address.id,
            target=self.https_proxy.id,
        )
        self.http_rule = ComputeGlobalForwardingRule(
            self,
            "http-rule",
            project=project,
            name=config.resource_name("http-rule"),
            load_balancing_scheme=LOAD_BALANCING_SCHEME,
            ip_protocol="TCP",
            port_range="80",
            ip_address=self.address.id,
            target=self.http_proxy.id,
        )

    @property
    def ip_address(self) -> str:
        return self.address.address
