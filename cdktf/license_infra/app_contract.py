"""Names and settings the deployed application expects from its infrastructure.

Names come from the application package itself (secret names, problem codes, the Firestore
index declaration), so the stack cannot drift from the code it deploys. The repository root
must be on `sys.path`; `cdktf/main.py` and the tests put it there.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import functions
from functions.billing import pressure as billing_pressure
from functions.errors import ProblemCode
from functions.secrets import SERVER_SECRETS

# functions-framework targets in main.py.
PUBLIC_TARGET = "licenses"
SWEEP_TARGET = "sweep"

HEALTH_PATH = "/healthz"
JWKS_PATH = "/.well-known/jwks.json"
LICENSE_PATH_PREFIX = "/api/v1/licenses/"

# The HTTP layer logs every denial as a JSON line with this `code` member.
NO_SEAT_CODE = ProblemCode.NO_SEAT_AVAILABLE.value

# The sweep (and a monthly report) logs a license whose seats in use reach the pressure
# threshold as a JSON line with this `event` member.
SEAT_PRESSURE_EVENT = billing_pressure.SEAT_PRESSURE_EVENT

INDEX_DECLARATION = Path(functions.__file__).parent / "store" / "firestore_indexes.json"


@dataclasses.dataclass(frozen=True)
class TtlField:
    collection_group: str
    field: str


@dataclasses.dataclass(frozen=True)
class IndexField:
    field_path: str
    order: str  # ASCENDING or DESCENDING


@dataclasses.dataclass(frozen=True)
class CompositeIndex:
    collection_group: str
    query_scope: str  # COLLECTION or COLLECTION_GROUP
    fields: tuple[IndexField, ...]


@dataclasses.dataclass(frozen=True)
class FirestoreDeclaration:
    ttl_fields: tuple[TtlField, ...]
    composite_indexes: tuple[CompositeIndex, ...]


def server_secret_names() -> tuple[str, ...]:
    return tuple(SERVER_SECRETS)


def load_firestore_declaration(path: Path | None = None) -> FirestoreDeclaration:
    """Read the TTL fields and composite indexes that the Firestore seat store declares."""
    path = INDEX_DECLARATION if path is None else path
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    try:
        ttl_fields = tuple(
            TtlField(collection_group=item["collection_group"], field=item["field"])
            for item in raw["ttl_fields"]
        )
        indexes = tuple(
            CompositeIndex(
                collection_group=item["collection_group"],
                query_scope=item["query_scope"],
                fields=tuple(
                    IndexField(field_path=field["field_path"], order=field["order"])
                    for field in item["fields"]
                ),
            )
            for item in raw["composite_indexes"]
        )
    except (KeyError, TypeError) as error:
        raise ValueError(f"{path} does not have the expected shape: missing {error}") from error
    return FirestoreDeclaration(ttl_fields=ttl_fields, composite_indexes=indexes)
