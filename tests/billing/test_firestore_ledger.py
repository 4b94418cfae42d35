"""The usage ledger on Firestore when a commit's reply is lost and the store retries the commit.

The fault is injected in the client's API object: the commit takes effect, then the client
sees UNAVAILABLE, so the store runs the whole transaction again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from functions.billing.records import UsageRecord
from functions.errors import LicenseError, ProblemCode
from functions.models import CloseReason
from functions.store.firestore import FirestoreSeatStore
from tests.billing.conftest import LIFETIME_SECONDS, Billing, open_billing, open_store
from tests.store.firestore_api import FaultyCommits, install

LEDGER_START = datetime(2000, 1, 1, tzinfo=UTC)
LEDGER_END = datetime(2100, 1, 1, tzinfo=UTC)


@pytest.fixture
def on_firestore(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Billing]:
    store = open_store("firestore", tmp_path / "data", request)
    env = open_billing(tmp_path / "data", datetime(2026, 11, 1, tzinfo=UTC), store)
    yield env
    env.store.close()


def firestore_client(billing: Billing) -> object:
    assert isinstance(billing.store, FirestoreSeatStore)
    return billing.store.client


def all_records(billing: Billing) -> list[UsageRecord]:
    return list(billing.store.usage_records(LEDGER_START, LEDGER_END))


def test_lost_release_reply_records_once(on_firestore: Billing) -> None:
    billing = on_firestore
    created = billing.license(seats=1)
    lease_id = billing.hold(created, "hw-1", 120)
    faults = install(firestore_client(billing), FaultyCommits, ["unavailable"])

    released = billing.service.release(lease_id, created.key, "hw-1")

    # The first commit closed the lease; the retry found it closed and wrote nothing.
    assert faults.commits == 2
    assert released.already_closed is True
    [record] = all_records(billing)
    assert record.lease_id == lease_id
    assert record.close_reason is CloseReason.RELEASED
    assert record.ended_at - record.acquired_at == timedelta(seconds=120)


def test_lost_reclaim_reply_records_once(on_firestore: Billing) -> None:
    billing = on_firestore
    created = billing.license(seats=1)
    silent = billing.hold(created, "hw-silent", 60)
    billing.clock.advance(LIFETIME_SECONDS)
    faults = install(firestore_client(billing), FaultyCommits, ["unavailable"])

    # This acquire closes the silent client's expired lease and takes its seat in one commit.
    granted = billing.service.acquire(created.key, "hw-2", "two@example.com")

    assert faults.commits == 2
    assert granted.renewed is True
    [record] = all_records(billing)
    assert record.lease_id == silent
    assert record.close_reason is CloseReason.EXPIRED
    assert [lease.id for lease in billing.store.list_open_leases()] == [granted.lease.id]


def test_aborted_release_records_once(on_firestore: Billing) -> None:
    billing = on_firestore
    created = billing.license(seats=1)
    lease_id = billing.hold(created, "hw-1", 60)
    faults = install(firestore_client(billing), FaultyCommits, ["abort", "abort"])

    released = billing.service.release(lease_id, created.key, "hw-1")

    assert faults.commits == 3
    assert released.already_closed is False
    assert [record.lease_id for record in all_records(billing)] == [lease_id]


def test_lost_denial_reply_records_once(on_firestore: Billing) -> None:
    billing = on_firestore
    created = billing.license(seats=1)
    billing.service.acquire(created.key, "hw-1", "one@example.com")
    faults = install(firestore_client(billing), FaultyCommits, ["unavailable"])

    with pytest.raises(LicenseError) as denied:
        billing.service.acquire(created.key, "hw-2", "two@example.com")

    # Both attempts wrote the denial; the retry overwrote the first attempt's document.
    assert faults.commits == 2
    assert denied.value.code is ProblemCode.NO_SEAT_AVAILABLE
    [event] = billing.store.denials(LEDGER_START, LEDGER_END)
    assert event.code == "no_seat_available"
    assert event.license_id == created.license.id
