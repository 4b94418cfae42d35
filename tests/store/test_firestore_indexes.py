"""The index and TTL declarations that the infrastructure app reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from functions.store import firestore as firestore_store

DECLARATIONS = Path(firestore_store.__file__).with_name("firestore_indexes.json")


def load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DECLARATIONS.read_text())
    return data


def test_ttl_field_matches_store() -> None:
    assert load()["ttl_fields"] == [
        {"collection_group": firestore_store.LEASES, "field": firestore_store.TTL_FIELD}
    ]


def test_composite_indexes_are_on_known_collections() -> None:
    indexes = load()["composite_indexes"]
    assert indexes
    for index in indexes:
        assert index["collection_group"] in {firestore_store.LEASES, firestore_store.USAGE_RECORDS}
        assert index["query_scope"] == "COLLECTION"
        assert len(index["fields"]) >= 2
        if index["collection_group"] == firestore_store.LEASES:
            assert index["fields"][-1] == {"field_path": "expires_at", "order": "ASCENDING"}


def test_usage_record_range_index_declared() -> None:
    # The ledger query filters on two ranges and orders by ended_at, then acquired_at.
    usage = [
        [field["field_path"] for field in index["fields"]]
        for index in load()["composite_indexes"]
        if index["collection_group"] == firestore_store.USAGE_RECORDS
    ]
    assert usage == [["ended_at", "acquired_at"]]
