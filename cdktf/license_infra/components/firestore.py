"""Firestore database in native mode with the TTL policy and indexes the seat store declares."""

from __future__ import annotations

from collections.abc import Sequence

from cdktf import ITerraformDependable
from cdktf_cdktf_provider_google.firestore_database import FirestoreDatabase
from cdktf_cdktf_provider_google.firestore_field import FirestoreField, FirestoreFieldTtlConfig
from cdktf_cdktf_provider_google.firestore_index import FirestoreIndex, FirestoreIndexFields
from constructs import Construct

from license_infra.app_contract import FirestoreDeclaration
from license_infra.config import EnvironmentConfig


class SeatDatabase(Construct):
    """The database, its TTL field policies and its composite indexes."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        declaration: FirestoreDeclaration,
        depends_on: Sequence[ITerraformDependable],
    ) -> None:
        super().__init__(scope, id_)
        self.database = FirestoreDatabase(
            self,
            "database",
            project=config.project_id,
            name=config.firestore_database_id,
            location_id=config.firestore_location,
            type="FIRESTORE_NATIVE",
            delete_protection_state=(
                "DELETE_PROTECTION_ENABLED"
                if config.firestore_delete_protection
                else "DELETE_PROTECTION_DISABLED"
            ),
            # ABANDON keeps the data when Terraform stops managing a protected database.
            deletion_policy="ABANDON" if config.firestore_delete_protection else "DELETE",
            point_in_time_recovery_enablement=(
                "POINT_IN_TIME_RECOVERY_ENABLED"
                if config.firestore_point_in_time_recovery
                else "POINT_IN_TIME_RECOVERY_DISABLED"
            ),
            depends_on=list(depends_on),
        )
        for ttl in declaration.ttl_fields:
            FirestoreField(
                self,
                f"ttl-{ttl.collection_group}-{ttl.field}",
                project=config.project_id,
                database=self.database.name,
                collection=ttl.collection_group,
                field=ttl.field,
                ttl_config=FirestoreFieldTtlConfig(),
            )
        for index in declaration.composite_indexes:
            # The id names the indexed fields, so reordering the declaration moves no index.
            field_paths = "-".join(field.field_path for field in index.fields)
            FirestoreIndex(
                self,
                f"index-{index.collection_group}-{index.query_scope.lower()}-{field_paths}",
                project=config.project_id,
                database=self.database.name,
                collection=index.collection_group,
                query_scope=index.query_scope,
                fields=[
                    FirestoreIndexFields(field_path=field.field_path, order=field.order)
                    for field in index.fields
                ],
            )
