"""The A record of the API's host name in the existing Cloud DNS zone."""

from __future__ import annotations

from cdktf_cdktf_provider_google.data_google_dns_managed_zone import DataGoogleDnsManagedZone
from cdktf_cdktf_provider_google.dns_record_set import DnsRecordSet
from constructs import Construct

from license_infra.config import EnvironmentConfig

RECORD_TTL_SECONDS = 300


class ApiDnsRecord(Construct):
    """Reads the zone as a data source and manages exactly one record in it.

    The zone and its other records (the GKE ingress hosts among them) stay outside Terraform's
    control: the stack never creates, changes or imports them.
    """

    def __init__(
        self, scope: Construct, id_: str, *, config: EnvironmentConfig, ip_address: str
    ) -> None:
        super().__init__(scope, id_)
        self.zone = DataGoogleDnsManagedZone(
            self, "zone", project=config.dns_project_id, name=config.dns_zone_name
        )
        self.record = DnsRecordSet(
            self,
            "a-record",
            project=config.dns_project_id,
            managed_zone=self.zone.name,
            name=f"{config.domain}.",
            type="A",
            ttl=RECORD_TTL_SECONDS,
            rrdatas=[ip_address],
        )
