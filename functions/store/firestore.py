"""Seat store on Cloud Firestore (native mode), the production backend.

Layout (see docs/firestore.md for the per-call costs):

- `licenses/{key_hash}`: one license, named by its keyed hash so that an acquire finds it
  with one document read.
- `leases/{lease_id}`: one lease with a copy of the license terms it needs, `open`, and
  `delete_at` (a TTL field) once closed. A heartbeat reads and writes this document alone.
- `seats/{seat_key}`: the open lease holding one seat identity. It exists exactly while
  that lease is open, so an acquire finds a returning client with one read.
- `seat_shards/{license_id}-{shard}`: seats in use counted per shard of a license.
- `products/{id}`, `policies/{id}`: administration records.
- `usage_records/{lease_id}`: the usage record of one closed lease, written in the
  transaction that closes it and kept without a TTL.
- `denials/{id}`: one rejected acquire of a known license.
- `price_plans/{id}`, `closed_periods/{month}` with `closed_periods/{month}/parts/{n}`:
  billing administration.

Transactions run with pessimistic locking on the server, so two transactions that read the
same shard counter cannot both commit a change to it: that is what keeps the seat cap exact.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from google.api_core import exceptions as google_exceptions
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from functions.billing.records import (
    ClosedPeriod,
    CommitmentKind,
    DenialEvent,
    MoneyRounding,
    PeriodAlreadyClosed,
    PricePlan,
    UsageRecord,
)
from functions.errors import ServiceUnavailable, StoreContention
from functions.models import (
    CloseReason,
    Lease,
    License,
    LicenseStatus,
    Policy,
    Product,
    SeatScope,
)

T = TypeVar("T")

log = logging.getLogger(__name__)

LICENSES = "licenses"
LEASES = "leases"
SEATS = "seats"
SEAT_SHARDS = "seat_shards"
PRODUCTS = "products"
POLICIES = "policies"
USAGE_RECORDS = "usage_records"
DENIALS = "denials"
PRICE_PLANS = "price_plans"
CLOSED_PERIODS = "closed_periods"
# Subcollection of a closed period holding its report JSON in parts.
CLOSED_PERIOD_PARTS = "parts"

# A Firestore document is limited to 1 MiB, so a closed period's report JSON is split into
# parts of this many characters, each at most 4 bytes in UTF-8.
REPORT_PART_CHARACTERS = 200_000

# Closed lease documents carry `delete_at` = close time + this retention. A TTL policy on
# that field deletes them some time later, so no logic may depend on the deletion. Usage
# records and denials get no TTL field, because they are the billing ledger and must stay.
CLOSED_LEASE_RETENTION = timedelta(days=30)
# The TTL field; functions/store/firestore_indexes.json declares the same name.
TTL_FIELD = "delete_at"

_MAX_ATTEMPTS = 6
_BACKOFF_BASE_SECONDS = 0.05
_BACKOFF_CAP_SECONDS = 1.0

# Aborted means a conflicting transaction or a lock timeout. After Unavailable or
# DeadlineExceeded the commit may have been applied. Retrying is still safe, because acquire
# finds its own lease by seat identity and heartbeat and release are idempotent.
_RETRYABLE = (
    google_exceptions.Aborted,
    google_exceptions.ServiceUnavailable,
    google_exceptions.DeadlineExceeded,
)

_READ_AFTER_WRITE = (
    "A seat transaction read after it wrote; Firestore transactions need every read first."
)


def _utc(value: datetime | None) -> datetime | None:
    """Convert a timestamp read from Firestore into a plain timezone-aware UTC datetime."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=UTC,
    )


def _required_utc(value: datetime) -> datetime:
    converted = _utc(value)
    assert converted is not None
    return converted


def _checked(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"Cannot store naive datetime {value!r}; pass a timezone-aware UTC one.")
    return None if value is None else value.astimezone(UTC)


def _license_data(license: License) -> dict[str, Any]:
    return {
        "id": license.id,
        "key_hash": license.key_hash,
        "customer": license.customer,
        "product_id": license.product_id,
        "product_slug": license.product_slug,
        "policy_id": license.policy_id,
        "seats": license.seats,
        "heartbeat_interval_seconds": license.heartbeat_interval_seconds,
        "lease_lifetime_seconds": license.lease_lifetime_seconds,
        "seat_scope": license.seat_scope.value,
        "status": license.status.value,
        "expires_at": _checked(license.expires_at),
        "created_at": _checked(license.created_at),
    }


def _license_from(data: dict[str, Any]) -> License:
    return License(
        id=data["id"],
        key_hash=data["key_hash"],
        customer=data["customer"],
        product_id=data["product_id"],
        product_slug=data["product_slug"],
        policy_id=data["policy_id"],
        seats=data["seats"],
        heartbeat_interval_seconds=data["heartbeat_interval_seconds"],
        lease_lifetime_seconds=data["lease_lifetime_seconds"],
        seat_scope=SeatScope(data["seat_scope"]),
        status=LicenseStatus(data["status"]),
        expires_at=_utc(data["expires_at"]),
        created_at=_required_utc(data["created_at"]),
    )


def _lease_data(lease: Lease) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": lease.id,
        "license_id": lease.license_id,
        "license_key_hash": lease.license_key_hash,
        "product_slug": lease.product_slug,
        "seats_total": lease.seats_total,
        "seat_key": lease.seat_key,
        "hardware_id": lease.hardware_id,
        "user_email": lease.user_email,
        "heartbeat_interval_seconds": lease.heartbeat_interval_seconds,
        "lease_lifetime_seconds": lease.lease_lifetime_seconds,
        "license_expires_at": _checked(lease.license_expires_at),
        "acquired_at": _checked(lease.acquired_at),
        "last_heartbeat_at": _checked(lease.last_heartbeat_at),
        "expires_at": _checked(lease.expires_at),
        "released_at": _checked(lease.released_at),
        "close_reason": lease.close_reason.value if lease.close_reason else None,
        "customer": lease.customer,
        "shard": lease.shard,
        "open": lease.is_open,
    }
    if lease.released_at is not None:
        data[TTL_FIELD] = _checked(lease.released_at + CLOSED_LEASE_RETENTION)
    return data


def _lease_from(data: dict[str, Any]) -> Lease:
    return Lease(
        id=data["id"],
        license_id=data["license_id"],
        license_key_hash=data["license_key_hash"],
        product_slug=data["product_slug"],
        seats_total=data["seats_total"],
        seat_key=data["seat_key"],
        hardware_id=data["hardware_id"],
        user_email=data["user_email"],
        heartbeat_interval_seconds=data["heartbeat_interval_seconds"],
        lease_lifetime_seconds=data["lease_lifetime_seconds"],
        license_expires_at=_utc(data["license_expires_at"]),
        acquired_at=_required_utc(data["acquired_at"]),
        last_heartbeat_at=_required_utc(data["last_heartbeat_at"]),
        expires_at=_required_utc(data["expires_at"]),
        released_at=_utc(data["released_at"]),
        close_reason=CloseReason(data["close_reason"]) if data["close_reason"] else None,
        # Leases written before the customer was copied into them have none.
        customer=data.get("customer", ""),
        shard=data["shard"],
    )


def _product_from(data: dict[str, Any]) -> Product:
    return Product(data["id"], data["slug"], data["name"], _required_utc(data["created_at"]))


def _policy_from(data: dict[str, Any]) -> Policy:
    return Policy(
        id=data["id"],
        name=data["name"],
        seats=data["seats"],
        heartbeat_interval_seconds=data["heartbeat_interval_seconds"],
        lease_lifetime_seconds=data["lease_lifetime_seconds"],
        seat_scope=SeatScope(data["seat_scope"]),
        created_at=_required_utc(data["created_at"]),
    )


# Decimal values are stored as strings, so that no amount passes through a binary float.


def _usage_record_data(record: UsageRecord) -> dict[str, Any]:
    return {
        "lease_id": record.lease_id,
        "license_id": record.license_id,
        "customer": record.customer,
        "product_slug": record.product_slug,
        "seat_key": record.seat_key,
        "device_hash": record.device_hash,
        "user_hash": record.user_hash,
        "acquired_at": _checked(record.acquired_at),
        "ended_at": _checked(record.ended_at),
        "closed_at": _checked(record.closed_at),
        # Derived from the two times and stored for people reading the documents directly.
        "seconds_held": str(record.seconds_held),
        "close_reason": record.close_reason.value,
    }


def _usage_record_from(data: dict[str, Any]) -> UsageRecord:
    return UsageRecord(
        lease_id=data["lease_id"],
        license_id=data["license_id"],
        customer=data["customer"],
        product_slug=data["product_slug"],
        seat_key=data["seat_key"],
        device_hash=data["device_hash"],
        user_hash=data["user_hash"],
        acquired_at=_required_utc(data["acquired_at"]),
        ended_at=_required_utc(data["ended_at"]),
        closed_at=_required_utc(data["closed_at"]),
        close_reason=CloseReason(data["close_reason"]),
    )


def _denial_data(event: DenialEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "license_id": event.license_id,
        "customer": event.customer,
        "product_slug": event.product_slug,
        "code": event.code,
        "occurred_at": _checked(event.occurred_at),
    }


def _denial_from(data: dict[str, Any]) -> DenialEvent:
    return DenialEvent(
        id=data["id"],
        license_id=data["license_id"],
        customer=data["customer"],
        product_slug=data["product_slug"],
        code=data["code"],
        occurred_at=_required_utc(data["occurred_at"]),
    )


def _price_plan_data(plan: PricePlan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "product_slug": plan.product_slug,
        "license_id": plan.license_id,
        "effective_from": _checked(plan.effective_from),
        "currency": plan.currency,
        "price_per_seat_hour": str(plan.price_per_seat_hour),
        "commitment": plan.commitment.value,
        "included_quantity": str(plan.included_quantity),
        "overage_price_per_seat_hour": str(plan.overage_price_per_seat_hour),
        "granularity_seconds": plan.granularity_seconds,
        "rounding": plan.rounding.value,
        "created_at": _checked(plan.created_at),
    }


def _price_plan_from(data: dict[str, Any]) -> PricePlan:
    return PricePlan(
        id=data["id"],
        product_slug=data["product_slug"],
        license_id=data["license_id"],
        effective_from=_required_utc(data["effective_from"]),
        currency=data["currency"],
        price_per_seat_hour=Decimal(data["price_per_seat_hour"]),
        commitment=CommitmentKind(data["commitment"]),
        included_quantity=Decimal(data["included_quantity"]),
        overage_price_per_seat_hour=Decimal(data["overage_price_per_seat_hour"]),
        granularity_seconds=data["granularity_seconds"],
        rounding=MoneyRounding(data["rounding"]),
        created_at=_required_utc(data["created_at"]),
    )


def _report_parts(report_json: str) -> list[str]:
    return [
        report_json[start : start + REPORT_PART_CHARACTERS]
        for start in range(0, max(len(report_json), 1), REPORT_PART_CHARACTERS)
    ]


def _data(snapshot: Any) -> dict[str, Any]:
    data: dict[str, Any] | None = snapshot.to_dict()
    if data is None:
        raise LookupError(f"Document {snapshot.reference.path} vanished while it was read.")
    return data


def shard_document_id(license_id: str, shard: int) -> str:
    return f"{license_id}-{shard}"


def _counts_by_path(snapshots: Iterable[Any]) -> dict[str, int]:
    # get_all returns documents in any order, so results are matched by path.
    return {
        snapshot.reference.path: int(snapshot.get("used")) if snapshot.exists else 0
        for snapshot in snapshots
    }


class _FirestoreTransaction:
    """The `SeatTransaction` of one Firestore transaction attempt.

    Writes are buffered and applied at the end with one write per document, which keeps the
    billed writes to a minimum. The seat logic may, for example, close a seat's lease and
    then give that seat a new lease, or change one shard counter several times.
    """

    def __init__(self, client: firestore.Client, transaction: firestore.Transaction) -> None:
        self._client = client
        self._transaction = transaction
        self._writes: dict[str, tuple[str, Any, dict[str, Any] | None]] = {}
        self._shard_deltas: dict[str, tuple[Any, str, int, int]] = {}
        self._license_refs: dict[str, Any] = {}

    # Reads.

    def _check_no_writes(self) -> None:
        if self._writes or self._shard_deltas:
            raise RuntimeError(_READ_AFTER_WRITE)

    def _get(self, ref: Any) -> dict[str, Any] | None:
        self._check_no_writes()
        snapshot = ref.get(transaction=self._transaction)
        return snapshot.to_dict() if snapshot.exists else None

    def _query(self, query: Any) -> list[dict[str, Any]]:
        self._check_no_writes()
        return [snapshot.to_dict() for snapshot in query.stream(transaction=self._transaction)]

    def _remember_license(self, data: dict[str, Any] | None) -> License | None:
        if data is None:
            return None
        license = _license_from(data)
        self._license_refs[license.id] = self._client.collection(LICENSES).document(
            license.key_hash
        )
        return license

    def license_by_key_hash(self, key_hash: str) -> License | None:
        return self._remember_license(
            self._get(self._client.collection(LICENSES).document(key_hash))
        )

    def license(self, license_id: str) -> License | None:
        query = (
            self._client.collection(LICENSES)
            .where(filter=FieldFilter("id", "==", license_id))
            .limit(1)
        )
        found = self._query(query)
        return self._remember_license(found[0] if found else None)

    def lease(self, lease_id: str) -> Lease | None:
        data = self._get(self._client.collection(LEASES).document(lease_id))
        return _lease_from(data) if data else None

    def open_lease_for_seat(self, license_id: str, seat_key: str) -> Lease | None:
        seat = self._get(self._client.collection(SEATS).document(seat_key))
        if seat is None:
            return None
        lease = self.lease(seat["lease_id"])
        if lease is None or not lease.is_open or lease.license_id != license_id:
            log.warning(
                "seat document names no open lease of its license",
                extra={"license_id": license_id, "lease_id": seat["lease_id"]},
            )
            return None
        return lease

    def _shard_refs(self, license_id: str, shards: Sequence[int]) -> list[Any]:
        collection = self._client.collection(SEAT_SHARDS)
        return [collection.document(shard_document_id(license_id, shard)) for shard in shards]

    def shard_counts(self, license_id: str, shards: Sequence[int]) -> list[int]:
        self._check_no_writes()
        refs = self._shard_refs(license_id, shards)
        counts = _counts_by_path(self._client.get_all(refs, transaction=self._transaction))
        return [counts.get(ref.path, 0) for ref in refs]

    def peek_open_lease_count(self, license_id: str) -> int:
        # A count aggregation outside the transaction takes no locks, so other acquires never
        # wait on it. Firestore bills one document read per 1000 index entries it matches (or
        # fewer), per the aggregation section of its pricing page.
        query = (
            self._client.collection(LEASES)
            .where(filter=FieldFilter("license_id", "==", license_id))
            .where(filter=FieldFilter("open", "==", True))
        )
        # The library's annotations for aggregation queries do not match its behaviour.
        aggregation: Any = query.count()
        (results,) = aggregation.get()
        return int(results[0].value)

    def expired_open_leases(self, license_id: str, now: datetime, limit: int) -> list[Lease]:
        query = (
            self._client.collection(LEASES)
            .where(filter=FieldFilter("license_id", "==", license_id))
            .where(filter=FieldFilter("open", "==", True))
            .where(filter=FieldFilter("expires_at", "<=", now))
            .order_by("expires_at")
            .limit(limit)
        )
        return [_lease_from(data) for data in self._query(query)]

    def open_leases(self, license_id: str, limit: int) -> list[Lease]:
        query = (
            self._client.collection(LEASES)
            .where(filter=FieldFilter("license_id", "==", license_id))
            .where(filter=FieldFilter("open", "==", True))
            .limit(limit)
        )
        leases = [_lease_from(data) for data in self._query(query)]
        return sorted(leases, key=lambda lease: (lease.acquired_at, lease.id))

    # Writes, buffered until `flush`.

    def _write(self, kind: str, ref: Any, data: dict[str, Any] | None) -> None:
        previous = self._writes.get(ref.path)
        if previous is not None and previous[0] == "create" and kind == "set":
            kind = "create"
        self._writes[ref.path] = (kind, ref, data)

    def insert_lease(self, lease: Lease) -> None:
        self._write(
            "create", self._client.collection(LEASES).document(lease.id), _lease_data(lease)
        )
        self._write(
            "set",
            self._client.collection(SEATS).document(lease.seat_key),
            {"license_id": lease.license_id, "lease_id": lease.id},
        )

    def update_lease(self, lease: Lease) -> None:
        self._write("set", self._client.collection(LEASES).document(lease.id), _lease_data(lease))
        if not lease.is_open:
            # The seat document exists only while its lease is open. The seat logic closes a
            # seat's lease before it inserts a new one for that seat, so this never deletes
            # the document of another open lease.
            self._write("delete", self._client.collection(SEATS).document(lease.seat_key), None)

    def add_to_shard(self, license_id: str, shard: int, delta: int) -> None:
        (ref,) = self._shard_refs(license_id, [shard])
        previous = self._shard_deltas.get(ref.path)
        total = delta + (previous[3] if previous else 0)
        self._shard_deltas[ref.path] = (ref, license_id, shard, total)

    def set_license_status(self, license_id: str, status: LicenseStatus) -> None:
        ref = self._license_refs.get(license_id)
        if ref is None:
            raise LookupError(f"License {license_id} was not read in this transaction.")
        self._write("update", ref, {"status": status.value})

    def set_license_expiry(self, license_id: str, expires_at: datetime | None) -> None:
        ref = self._license_refs.get(license_id)
        if ref is None:
            raise LookupError(f"License {license_id} was not read in this transaction.")
        self._write("update", ref, {"expires_at": _checked(expires_at)})

    def insert_usage_record(self, record: UsageRecord) -> None:
        # A create fails the whole commit if a record for this lease exists, so a close that
        # is retried after its commit took effect can never count the lease twice.
        ref = self._client.collection(USAGE_RECORDS).document(record.lease_id)
        if ref.path in self._writes:
            raise ValueError(f"Lease {record.lease_id} already has a usage record in this commit.")
        self._write("create", ref, _usage_record_data(record))

    def insert_denial(self, event: DenialEvent) -> None:
        # A set, not a create: an acquire retried after its commit took effect writes the
        # same denial id again and so replaces its own record instead of failing.
        ref = self._client.collection(DENIALS).document(event.id)
        self._write("set", ref, _denial_data(event))

    def flush(self) -> None:
        """Hand the buffered writes to the Firestore transaction, which commits them."""
        for kind, ref, data in self._writes.values():
            if data is None:
                self._transaction.delete(ref)
            elif kind == "create":
                self._transaction.create(ref, data)
            elif kind == "set":
                self._transaction.set(ref, data)
            else:
                self._transaction.update(ref, data)
        for ref, license_id, shard, delta in self._shard_deltas.values():
            if delta == 0:
                continue
            self._transaction.set(
                ref,
                {"license_id": license_id, "shard": shard, "used": firestore.Increment(delta)},
                merge=True,
            )


def _backoff_seconds(attempt: int) -> float:
    # Full jitter, so that clashing transactions do not retry in lockstep.
    ceiling = min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2**attempt)
    return random.uniform(0, ceiling)  # noqa: S311 (backoff jitter)


def _retryable_cause(error: ValueError) -> Exception | None:
    """Return the Aborted error behind the client's "exceeded max attempts" ValueError."""
    cause = error.__cause__
    return cause if isinstance(cause, google_exceptions.Aborted) else None


class FirestoreSeatStore:
    """Seat store on one Firestore database; one client is shared by all threads."""

    def __init__(self, client: firestore.Client, *, max_attempts: int = _MAX_ATTEMPTS) -> None:
        self.client = client
        self._max_attempts = max_attempts

    @classmethod
    def connect(
        cls, project: str, database: str, *, max_attempts: int = _MAX_ATTEMPTS
    ) -> FirestoreSeatStore:
        """Open a client for `project` and `database`.

        The client library connects to the emulator instead when FIRESTORE_EMULATOR_HOST is set.
        """
        client = firestore.Client(project=project, database=database)
        return cls(client, max_attempts=max_attempts)

    def _attempt(self, work: Callable[[_FirestoreTransaction], T]) -> T:
        @firestore.transactional
        def run(transaction: firestore.Transaction) -> T:
            seat_tx = _FirestoreTransaction(self.client, transaction)
            result = work(seat_tx)
            seat_tx.flush()
            return result

        # One attempt per client transaction: this loop retries with backoff instead.
        result: T = run(self.client.transaction(max_attempts=1))
        return result

    def run_transaction(self, work: Callable[[_FirestoreTransaction], T]) -> T:
        last_error: Exception | None = None
        for attempt in range(1, self._max_attempts + 1):
            try:
                return self._attempt(work)
            except ValueError as error:
                cause = _retryable_cause(error)
                if cause is None:
                    raise
                last_error = cause
            except _RETRYABLE as error:
                last_error = error
            except google_exceptions.GoogleAPICallError as error:
                # After a failed commit the client library rolls the transaction back; if the
                # rollback fails too, its error hides the retryable one in __context__.
                if not isinstance(error.__context__, _RETRYABLE):
                    raise
                last_error = error.__context__
            log.warning(
                "Firestore transaction failed, retrying",
                extra={
                    "attempt": attempt,
                    "max_attempts": self._max_attempts,
                    "error": type(last_error).__name__,
                },
            )
            if attempt < self._max_attempts:
                time.sleep(_backoff_seconds(attempt))
        if isinstance(last_error, google_exceptions.Aborted):
            raise StoreContention(self._max_attempts)
        raise ServiceUnavailable(
            f"The seat store did not respond after {self._max_attempts} attempts; retry shortly."
        )

    # Administration: single-document writes and queries outside transactions.

    def create_product(self, product: Product) -> None:
        self.client.collection(PRODUCTS).document(product.id).create(
            {
                "id": product.id,
                "slug": product.slug,
                "name": product.name,
                "created_at": _checked(product.created_at),
            }
        )

    def _first(self, collection: str, field: str, value: str) -> dict[str, Any] | None:
        query = self.client.collection(collection).where(filter=FieldFilter(field, "==", value))
        for snapshot in query.limit(1).stream():
            return _data(snapshot)
        return None

    def product_by_slug(self, slug: str) -> Product | None:
        data = self._first(PRODUCTS, "slug", slug)
        return _product_from(data) if data else None

    def list_products(self) -> Sequence[Product]:
        products = [_product_from(_data(s)) for s in self.client.collection(PRODUCTS).stream()]
        return sorted(products, key=lambda product: product.slug)

    def create_policy(self, policy: Policy) -> None:
        self.client.collection(POLICIES).document(policy.id).create(
            {
                "id": policy.id,
                "name": policy.name,
                "seats": policy.seats,
                "heartbeat_interval_seconds": policy.heartbeat_interval_seconds,
                "lease_lifetime_seconds": policy.lease_lifetime_seconds,
                "seat_scope": policy.seat_scope.value,
                "created_at": _checked(policy.created_at),
            }
        )

    def policy_by_name(self, name: str) -> Policy | None:
        data = self._first(POLICIES, "name", name)
        return _policy_from(data) if data else None

    def list_policies(self) -> Sequence[Policy]:
        policies = [_policy_from(_data(s)) for s in self.client.collection(POLICIES).stream()]
        return sorted(policies, key=lambda policy: policy.name)

    def create_license(self, license: License) -> None:
        # Named by the key hash, so a second license with the same key cannot be created.
        self.client.collection(LICENSES).document(license.key_hash).create(_license_data(license))

    def list_licenses(self) -> Sequence[License]:
        licenses = [_license_from(_data(s)) for s in self.client.collection(LICENSES).stream()]
        return sorted(licenses, key=lambda license: (license.created_at, license.id))

    def list_open_leases(self, license_id: str | None = None) -> Sequence[Lease]:
        query = self.client.collection(LEASES).where(filter=FieldFilter("open", "==", True))
        if license_id is not None:
            query = query.where(filter=FieldFilter("license_id", "==", license_id))
        leases = [_lease_from(_data(snapshot)) for snapshot in query.stream()]
        return sorted(leases, key=lambda lease: (lease.acquired_at, lease.id))

    def expired_open_lease_ids(self, now: datetime, limit: int) -> Sequence[str]:
        query = (
            self.client.collection(LEASES)
            .where(filter=FieldFilter("open", "==", True))
            .where(filter=FieldFilter("expires_at", "<=", now))
            .order_by("expires_at")
            .limit(limit)
        )
        return [snapshot.id for snapshot in query.stream()]

    def seat_counters(self, license_id: str) -> dict[int, int]:
        query = self.client.collection(SEAT_SHARDS).where(
            filter=FieldFilter("license_id", "==", license_id)
        )
        return {int(s.get("shard")): int(s.get("used")) for s in query.stream()}

    # Billing reads and writes, outside the seat path.

    def usage_records(self, start: datetime, end: datetime) -> Sequence[UsageRecord]:
        # Two range filters need the composite index (ended_at, acquired_at) declared in
        # firestore_indexes.json. The scan starts at `start` on ended_at, so a report of a
        # recent month reads few index entries of records outside it.
        query = (
            self.client.collection(USAGE_RECORDS)
            .where(filter=FieldFilter("ended_at", ">=", _checked(start)))
            .where(filter=FieldFilter("acquired_at", "<", _checked(end)))
            .order_by("ended_at")
            .order_by("acquired_at")
        )
        records = [_usage_record_from(_data(snapshot)) for snapshot in query.stream()]
        return sorted(records, key=lambda record: (record.acquired_at, record.lease_id))

    def denials(self, start: datetime, end: datetime) -> Sequence[DenialEvent]:
        query = (
            self.client.collection(DENIALS)
            .where(filter=FieldFilter("occurred_at", ">=", _checked(start)))
            .where(filter=FieldFilter("occurred_at", "<", _checked(end)))
            .order_by("occurred_at")
        )
        events = [_denial_from(_data(snapshot)) for snapshot in query.stream()]
        return sorted(events, key=lambda event: (event.occurred_at, event.id))

    def insert_price_plan(self, plan: PricePlan) -> None:
        self.client.collection(PRICE_PLANS).document(plan.id).create(_price_plan_data(plan))

    def list_price_plans(self) -> Sequence[PricePlan]:
        plans = [_price_plan_from(_data(s)) for s in self.client.collection(PRICE_PLANS).stream()]
        return sorted(plans, key=lambda plan: (plan.effective_from, plan.created_at, plan.id))

    def insert_closed_period(self, period: ClosedPeriod) -> None:
        # One batch creates the period and all its parts, so either all of them exist or none
        # does. The create fails if the month is already closed, even by a concurrent close.
        ref = self.client.collection(CLOSED_PERIODS).document(period.month)
        parts = _report_parts(period.report_json)
        batch = self.client.batch()
        batch.create(
            ref,
            {"month": period.month, "closed_at": _checked(period.closed_at), "parts": len(parts)},
        )
        for index, text in enumerate(parts):
            part_ref = ref.collection(CLOSED_PERIOD_PARTS).document(f"{index:04d}")
            batch.create(part_ref, {"index": index, "text": text})
        try:
            batch.commit()
        except google_exceptions.AlreadyExists:
            raise PeriodAlreadyClosed(period.month) from None

    def list_closed_periods(self) -> Sequence[ClosedPeriod]:
        periods = []
        for snapshot in self.client.collection(CLOSED_PERIODS).stream():
            data = _data(snapshot)
            parts_query = snapshot.reference.collection(CLOSED_PERIOD_PARTS).order_by("index")
            texts = [_data(part)["text"] for part in parts_query.stream()]
            if len(texts) != data["parts"]:
                raise LookupError(
                    f"Closed period {data['month']} has {len(texts)} of its "
                    f"{data['parts']} report parts; the store is inconsistent."
                )
            periods.append(
                ClosedPeriod(data["month"], _required_utc(data["closed_at"]), "".join(texts))
            )
        return sorted(periods, key=lambda period: period.month)

    def close(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]
