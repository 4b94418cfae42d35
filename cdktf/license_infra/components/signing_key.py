"""Cloud KMS key ring and the asymmetric key that signs lease tokens."""

from __future__ import annotations

from collections.abc import Sequence

from cdktf import ITerraformDependable, TerraformResourceLifecycle
from cdktf_cdktf_provider_google.kms_crypto_key import KmsCryptoKey, KmsCryptoKeyVersionTemplate
from cdktf_cdktf_provider_google.kms_crypto_key_iam_member import KmsCryptoKeyIamMember
from cdktf_cdktf_provider_google.kms_key_ring import KmsKeyRing
from constructs import Construct

from license_infra.config import EnvironmentConfig

SIGNING_ALGORITHM = "EC_SIGN_P256_SHA256"  # ES256 in JOSE terms

# signerVerifier signs and reads public keys. viewer lists the key versions, which the
# service needs to publish every enabled version in the JWKS during a rotation.
RUNTIME_KEY_ROLES = ("roles/cloudkms.signerVerifier", "roles/cloudkms.viewer")


class SigningKey(Construct):
    """The ES256 signing key; Terraform refuses to destroy it and its key ring."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        signer_member: str,
        depends_on: Sequence[ITerraformDependable],
    ) -> None:
        super().__init__(scope, id_)
        # Key rings and keys cannot be deleted in Cloud KMS, only their versions destroyed, so
        # a destroy would orphan them and a re-create under the same name would fail.
        protected = TerraformResourceLifecycle(prevent_destroy=True)
        self.key_ring = KmsKeyRing(
            self,
            "key-ring",
            project=config.project_id,
            name=config.resource_name("keys"),
            location=config.region,
            lifecycle=protected,
            depends_on=list(depends_on),
        )
        self.key = KmsCryptoKey(
            self,
            "key",
            name="lease-token-signing",
            key_ring=self.key_ring.id,
            purpose="ASYMMETRIC_SIGN",
            version_template=KmsCryptoKeyVersionTemplate(
                algorithm=SIGNING_ALGORITHM,
                protection_level=config.key_protection.value,
            ),
            lifecycle=protected,
        )
        self.grants: list[ITerraformDependable] = []
        for role in RUNTIME_KEY_ROLES:
            grant = KmsCryptoKeyIamMember(
                self,
                f"runtime-{role.split('.')[-1]}",
                crypto_key_id=self.key.id,
                role=role,
                member=signer_member,
            )
            self.grants.append(grant)

    @property
    def key_resource_name(self) -> str:
        """Full key name, `projects/P/locations/L/keyRings/R/cryptoKeys/K` (a token)."""
        return self.key.id
