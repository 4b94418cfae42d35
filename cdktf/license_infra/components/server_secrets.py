"""Secret Manager secrets for the server secrets, created without any version."""

from __future__ import annotations

from collections.abc import Sequence

from cdktf import ITerraformDependable
from cdktf_cdktf_provider_google.secret_manager_secret import (
    SecretManagerSecret,
    SecretManagerSecretReplication,
    SecretManagerSecretReplicationAuto,
)
from cdktf_cdktf_provider_google.secret_manager_secret_iam_member import (
    SecretManagerSecretIamMember,
)
from constructs import Construct

from license_infra.config import EnvironmentConfig


class ServerSecrets(Construct):
    """One secret per server secret name; values are added out of band, never by Terraform.

    The stack defines no `google_secret_manager_secret_version`, so no secret value can enter
    the configuration or the Terraform state.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        names: Sequence[str],
        reader_member: str,
        depends_on: Sequence[ITerraformDependable],
    ) -> None:
        super().__init__(scope, id_)
        self.secrets: dict[str, SecretManagerSecret] = {}
        self.grants: list[ITerraformDependable] = []
        for name in names:
            secret = SecretManagerSecret(
                self,
                name,
                project=config.project_id,
                secret_id=name,
                replication=SecretManagerSecretReplication(
                    auto=SecretManagerSecretReplicationAuto()
                ),
                labels={"app": "license-api", "env": config.name},
                depends_on=list(depends_on),
            )
            grant = SecretManagerSecretIamMember(
                self,
                f"{name}-accessor",
                project=config.project_id,
                secret_id=secret.secret_id,
                role="roles/secretmanager.secretAccessor",
                member=reader_member,
            )
            self.grants.append(grant)
            self.secrets[name] = secret
