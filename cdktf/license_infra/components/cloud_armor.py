"""Cloud Armor policy of the load balancer's backend service."""

from __future__ import annotations

from collections.abc import Sequence

from cdktf import ITerraformDependable
from cdktf_cdktf_provider_google.compute_security_policy import (
    ComputeSecurityPolicy,
    ComputeSecurityPolicyRule,
    ComputeSecurityPolicyRuleMatch,
    ComputeSecurityPolicyRuleMatchConfig,
    ComputeSecurityPolicyRuleMatchExpr,
    ComputeSecurityPolicyRuleRateLimitOptions,
    ComputeSecurityPolicyRuleRateLimitOptionsRateLimitThreshold,
)
from constructs import Construct

from license_infra.app_contract import LICENSE_PATH_PREFIX
from license_infra.config import EnvironmentConfig

DEFAULT_RULE_PRIORITY = 2147483647
# CEL expressions of Cloud Armor's rules language.
LICENSE_PATHS_EXPRESSION = f"request.path.startsWith('{LICENSE_PATH_PREFIX}')"
LOG4J_EXPRESSION = "evaluatePreconfiguredWaf('cve-canary', {'sensitivity': 1})"


class RateLimitPolicy(Construct):
    """Per-client-IP throttle on the license paths (HTTP 429 above the limit).

    A second rule blocks the Log4Shell probes of the preconfigured `cve-canary` rule set. The
    service is not written in Java; the rule drops scanner traffic before it costs a request.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        depends_on: Sequence[ITerraformDependable],
    ) -> None:
        super().__init__(scope, id_)
        self.policy = ComputeSecurityPolicy(
            self,
            "policy",
            project=config.project_id,
            name=config.resource_name("armor"),
            type="CLOUD_ARMOR",
            description="Per-client-IP rate limit on the license API paths.",
            rule=[
                ComputeSecurityPolicyRule(
                    priority=900,
                    action="deny(403)",
                    description="Block Log4Shell probes (cve-canary).",
                    match=ComputeSecurityPolicyRuleMatch(
                        expr=ComputeSecurityPolicyRuleMatchExpr(expression=LOG4J_EXPRESSION)
                    ),
                ),
                ComputeSecurityPolicyRule(
                    priority=1000,
                    action="throttle",
                    description="Rate limit per client IP on the license paths.",
                    match=ComputeSecurityPolicyRuleMatch(
                        expr=ComputeSecurityPolicyRuleMatchExpr(expression=LICENSE_PATHS_EXPRESSION)
                    ),
                    rate_limit_options=ComputeSecurityPolicyRuleRateLimitOptions(
                        conform_action="allow",
                        exceed_action="deny(429)",
                        enforce_on_key="IP",
                        rate_limit_threshold=(
                            ComputeSecurityPolicyRuleRateLimitOptionsRateLimitThreshold(
                                count=config.rate_limit_requests,
                                interval_sec=config.rate_limit_interval_sec,
                            )
                        ),
                    ),
                ),
                ComputeSecurityPolicyRule(
                    priority=DEFAULT_RULE_PRIORITY,
                    action="allow",
                    description="Default rule: allow.",
                    match=ComputeSecurityPolicyRuleMatch(
                        versioned_expr="SRC_IPS_V1",
                        config=ComputeSecurityPolicyRuleMatchConfig(src_ip_ranges=["*"]),
                    ),
                ),
            ],
            depends_on=list(depends_on),
        )
