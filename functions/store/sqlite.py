"""Embedded seat store on SQLite, the default for local runs and tests.

One database file in the data folder, in WAL mode so that readers never block the writer.
Every transaction starts with `BEGIN IMMEDIATE`, which takes the write lock up front: two
transactions that read the same seat count can therefore never both commit, which is what
keeps the seat cap exact across threads and processes.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from functions.billing.records import (
    ClosedPeriod,
    CommitmentKind,
    DenialEvent,
    MoneyRounding,
    PeriodAlreadyClosed,
    PricePlan,
    UsageRecord,
)
from functions.errors import StoreContention
from functions.files import OWNER_ONLY_FOLDER
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

DATABASE_FILENAME = "licenses.sqlite3"
# How long one attempt waits for the write lock before it counts as a conflict.
_BUSY_TIMEOUT_MS = 5000
_MAX_ATTEMPTS = 5

_SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS policies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    seats INTEGER NOT NULL CHECK (seats > 0),
    heartbeat_interval_seconds INTEGER NOT NULL CHECK (heartbeat_interval_seconds > 0),
    lease_lifetime_seconds INTEGER NOT NULL,
    seat_scope TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CHECK (lease_lifetime_seconds > heartbeat_interval_seconds)
);
CREATE TABLE IF NOT EXISTS licenses (
    id TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    customer TEXT NOT NULL,
    product_id TEXT NOT NULL REFERENCES products (id),
    product_slug TEXT NOT NULL,
    policy_id TEXT REFERENCES policies (id),
    seats INTEGER NOT NULL CHECK (seats > 0),
    heartbeat_interval_seconds INTEGER NOT NULL,
    lease_lifetime_seconds INTEGER NOT NULL,
    seat_scope TEXT NOT NULL,
    status TEXT NOT NULL,
    expires_at TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    id TEXT PRIMARY KEY,
    license_id TEXT NOT NULL REFERENCES licenses (id),
    license_key_hash TEXT NOT NULL,
    product_slug TEXT NOT NULL,
    seats_total INTEGER NOT NULL,
    seat_key TEXT NOT NULL,
    hardware_id TEXT NOT NULL,
    user_email TEXT NOT NULL,
    heartbeat_interval_seconds INTEGER NOT NULL,
    lease_lifetime_seconds INTEGER NOT NULL,
    license_expires_at TEXT,
    acquired_at TEXT NOT NULL,
    last_heartbeat_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    released_at TEXT,
    close_reason TEXT,
    customer TEXT NOT NULL DEFAULT '',
    shard INTEGER NOT NULL DEFAULT 0
);
-- Seats in use per counter shard of a license; the seat logic keeps these in step with the
-- open leases.
CREATE TABLE IF NOT EXISTS seat_shards (
    license_id TEXT NOT NULL REFERENCES licenses (id),
    shard INTEGER NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (license_id, shard)
);
-- At most one open lease per seat: a second insert for the same seat fails instead of
-- taking a second seat, even if the seat logic had a bug.
CREATE UNIQUE INDEX IF NOT EXISTS leases_open_seat
    ON leases (license_id, seat_key) WHERE released_at IS NULL;
CREATE INDEX IF NOT EXISTS leases_open_expiry
    ON leases (license_id, expires_at) WHERE released_at IS NULL;
"""

# The usage ledger and billing. Decimal amounts are stored as text so that no value passes
# through a binary float.
_BILLING_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage_records (
    lease_id TEXT PRIMARY KEY REFERENCES leases (id),
    license_id TEXT NOT NULL,
    customer TEXT NOT NULL,
    product_slug TEXT NOT NULL,
    seat_key TEXT NOT NULL,
    device_hash TEXT NOT NULL,
    user_hash TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    closed_at TEXT NOT NULL,
    seconds_held TEXT NOT NULL,
    close_reason TEXT NOT NULL,
    CHECK (ended_at >= acquired_at)
);
CREATE INDEX IF NOT EXISTS usage_records_time ON usage_records (acquired_at, ended_at);
CREATE TABLE IF NOT EXISTS denials (
    id TEXT PRIMARY KEY,
    license_id TEXT NOT NULL,
    customer TEXT NOT NULL,
    product_slug TEXT NOT NULL,
    code TEXT NOT NULL,
    occurred_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS denials_time ON denials (occurred_at);
CREATE TABLE IF NOT EXISTS price_plans (
    id TEXT PRIMARY KEY,
    product_slug TEXT,
    license_id TEXT,
    effective_from TEXT NOT NULL,
    currency TEXT NOT NULL,
    price_per_seat_hour TEXT NOT NULL,
    commitment TEXT NOT NULL,
    included_quantity TEXT NOT NULL,
    overage_price_per_seat_hour TEXT NOT NULL,
    granularity_seconds INTEGER NOT NULL CHECK (granularity_seconds > 0),
    rounding TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CHECK ((product_slug IS NULL) <> (license_id IS NULL))
);
CREATE TABLE IF NOT EXISTS closed_periods (
    month TEXT PRIMARY KEY,
    closed_at TEXT NOT NULL,
    report_json TEXT NOT NULL
);
"""


def _to_text(value: datetime | None) -> str | None:
    """Store datetimes as fixed-width UTC ISO 8601 text, which sorts in time order."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"Refusing to store naive datetime {value!r}; use UTC.")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _from_text(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _required_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _license_from_row(row: sqlite3.Row) -> License:
    return License(
        id=row["id"],
        key_hash=row["key_hash"],
        customer=row["customer"],
        product_id=row["product_id"],
        product_slug=row["product_slug"],
        policy_id=row["policy_id"],
        seats=row["seats"],
        heartbeat_interval_seconds=row["heartbeat_interval_seconds"],
        lease_lifetime_seconds=row["lease_lifetime_seconds"],
        seat_scope=SeatScope(row["seat_scope"]),
        status=LicenseStatus(row["status"]),
        expires_at=_from_text(row["expires_at"]),
        created_at=_required_time(row["created_at"]),
    )


def _lease_from_row(row: sqlite3.Row) -> Lease:
    return Lease(
        id=row["id"],
        license_id=row["license_id"],
        license_key_hash=row["license_key_hash"],
        product_slug=row["product_slug"],
        seats_total=row["seats_total"],
        seat_key=row["seat_key"],
        hardware_id=row["hardware_id"],
        user_email=row["user_email"],
        heartbeat_interval_seconds=row["heartbeat_interval_seconds"],
        lease_lifetime_seconds=row["lease_lifetime_seconds"],
        license_expires_at=_from_text(row["license_expires_at"]),
        acquired_at=_required_time(row["acquired_at"]),
        last_heartbeat_at=_required_time(row["last_heartbeat_at"]),
        expires_at=_required_time(row["expires_at"]),
        released_at=_from_text(row["released_at"]),
        close_reason=CloseReason(row["close_reason"]) if row["close_reason"] else None,
        customer=row["customer"],
        shard=row["shard"],
    )


def _lease_values(lease: Lease) -> dict[str, Any]:
    return {
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
        "license_expires_at": _to_text(lease.license_expires_at),
        "acquired_at": _to_text(lease.acquired_at),
        "last_heartbeat_at": _to_text(lease.last_heartbeat_at),
        "expires_at": _to_text(lease.expires_at),
        "released_at": _to_text(lease.released_at),
        "close_reason": lease.close_reason.value if lease.close_reason else None,
        "customer": lease.customer,
        "shard": lease.shard,
    }


def _usage_record_from_row(row: sqlite3.Row) -> UsageRecord:
    return UsageRecord(
        lease_id=row["lease_id"],
        license_id=row["license_id"],
        customer=row["customer"],
        product_slug=row["product_slug"],
        seat_key=row["seat_key"],
        device_hash=row["device_hash"],
        user_hash=row["user_hash"],
        acquired_at=_required_time(row["acquired_at"]),
        ended_at=_required_time(row["ended_at"]),
        closed_at=_required_time(row["closed_at"]),
        close_reason=CloseReason(row["close_reason"]),
    )


def _denial_from_row(row: sqlite3.Row) -> DenialEvent:
    return DenialEvent(
        id=row["id"],
        license_id=row["license_id"],
        customer=row["customer"],
        product_slug=row["product_slug"],
        code=row["code"],
        occurred_at=_required_time(row["occurred_at"]),
    )


def _price_plan_from_row(row: sqlite3.Row) -> PricePlan:
    return PricePlan(
        id=row["id"],
        product_slug=row["product_slug"],
        license_id=row["license_id"],
        effective_from=_required_time(row["effective_from"]),
        currency=row["currency"],
        price_per_seat_hour=Decimal(row["price_per_seat_hour"]),
        commitment=CommitmentKind(row["commitment"]),
        included_quantity=Decimal(row["included_quantity"]),
        overage_price_per_seat_hour=Decimal(row["overage_price_per_seat_hour"]),
        granularity_seconds=row["granularity_seconds"],
        rounding=MoneyRounding(row["rounding"]),
        created_at=_required_time(row["created_at"]),
    )


class _SqliteTransaction:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    def _one(self, sql: str, *params: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db.execute(sql, params).fetchone()
        return row

    def license_by_key_hash(self, key_hash: str) -> License | None:
        row = self._one("SELECT * FROM licenses WHERE key_hash = ?", key_hash)
        return _license_from_row(row) if row else None

    def license(self, license_id: str) -> License | None:
        row = self._one("SELECT * FROM licenses WHERE id = ?", license_id)
        return _license_from_row(row) if row else None

    def lease(self, lease_id: str) -> Lease | None:
        row = self._one("SELECT * FROM leases WHERE id = ?", lease_id)
        return _lease_from_row(row) if row else None

    def open_lease_for_seat(self, license_id: str, seat_key: str) -> Lease | None:
        row = self._one(
            "SELECT * FROM leases WHERE license_id = ? AND seat_key = ? AND released_at IS NULL",
            license_id,
            seat_key,
        )
        return _lease_from_row(row) if row else None

    def shard_counts(self, license_id: str, shards: Sequence[int]) -> list[int]:
        counts = _shard_counts(self._db, license_id)
        return [counts.get(shard, 0) for shard in shards]

    def peek_open_lease_count(self, license_id: str) -> int:
        # The shard counters count exactly the open leases, and this transaction holds the
        # write lock, so their sum is exact here. It reads a few rows, where counting the
        # leases would walk one index entry per open lease.
        row = self._one(
            "SELECT COALESCE(SUM(used), 0) FROM seat_shards WHERE license_id = ?", license_id
        )
        assert row is not None
        return int(row[0])

    def add_to_shard(self, license_id: str, shard: int, delta: int) -> None:
        self._db.execute(
            "INSERT INTO seat_shards (license_id, shard, used) VALUES (?, ?, ?)"
            " ON CONFLICT (license_id, shard) DO UPDATE SET used = used + excluded.used",
            (license_id, shard, delta),
        )

    def expired_open_leases(self, license_id: str, now: datetime, limit: int) -> list[Lease]:
        rows = self._db.execute(
            "SELECT * FROM leases WHERE license_id = ? AND released_at IS NULL"
            " AND expires_at <= ? ORDER BY expires_at LIMIT ?",
            (license_id, _to_text(now), limit),
        ).fetchall()
        return [_lease_from_row(row) for row in rows]

    def open_leases(self, license_id: str, limit: int) -> list[Lease]:
        rows = self._db.execute(
            "SELECT * FROM leases WHERE license_id = ? AND released_at IS NULL"
            " ORDER BY acquired_at LIMIT ?",
            (license_id, limit),
        ).fetchall()
        return [_lease_from_row(row) for row in rows]

    def insert_lease(self, lease: Lease) -> None:
        values = _lease_values(lease)
        columns = ", ".join(values)
        placeholders = ", ".join(f":{name}" for name in values)
        # Column names come from _lease_values, never from input, so formatting them is safe.
        self._db.execute(f"INSERT INTO leases ({columns}) VALUES ({placeholders})", values)  # noqa: S608

    def update_lease(self, lease: Lease) -> None:
        values = _lease_values(lease)
        assignments = ", ".join(f"{name} = :{name}" for name in values if name != "id")
        cursor = self._db.execute(f"UPDATE leases SET {assignments} WHERE id = :id", values)  # noqa: S608
        if cursor.rowcount != 1:
            raise LookupError(f"Lease {lease.id} does not exist; cannot update it.")

    def set_license_status(self, license_id: str, status: LicenseStatus) -> None:
        cursor = self._db.execute(
            "UPDATE licenses SET status = ? WHERE id = ?", (status.value, license_id)
        )
        if cursor.rowcount != 1:
            raise LookupError(f"License {license_id} does not exist.")

    def set_license_expiry(self, license_id: str, expires_at: datetime | None) -> None:
        cursor = self._db.execute(
            "UPDATE licenses SET expires_at = ? WHERE id = ?", (_to_text(expires_at), license_id)
        )
        if cursor.rowcount != 1:
            raise LookupError(f"License {license_id} does not exist.")

    def insert_usage_record(self, record: UsageRecord) -> None:
        self._db.execute(
            "INSERT INTO usage_records (lease_id, license_id, customer, product_slug, seat_key,"
            " device_hash, user_hash, acquired_at, ended_at, closed_at, seconds_held,"
            " close_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.lease_id,
                record.license_id,
                record.customer,
                record.product_slug,
                record.seat_key,
                record.device_hash,
                record.user_hash,
                _to_text(record.acquired_at),
                _to_text(record.ended_at),
                _to_text(record.closed_at),
                str(record.seconds_held),
                record.close_reason.value,
            ),
        )

    def insert_denial(self, event: DenialEvent) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO denials (id, license_id, customer, product_slug, code,"
            " occurred_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                event.id,
                event.license_id,
                event.customer,
                event.product_slug,
                event.code,
                _to_text(event.occurred_at),
            ),
        )


def _shard_counts(db: sqlite3.Connection, license_id: str) -> dict[int, int]:
    rows = db.execute(
        "SELECT shard, used FROM seat_shards WHERE license_id = ?", (license_id,)
    ).fetchall()
    return {int(row["shard"]): int(row["used"]) for row in rows}


def _is_lock_conflict(error: sqlite3.OperationalError) -> bool:
    message = str(error).lower()
    return "locked" in message or "busy" in message


class SqliteSeatStore:
    """Seat store on one SQLite file, safe to share between threads and processes."""

    def __init__(self, data_dir: Path, *, max_attempts: int = _MAX_ATTEMPTS) -> None:
        data_dir.mkdir(mode=OWNER_ONLY_FOLDER, parents=True, exist_ok=True)
        self.path = data_dir / DATABASE_FILENAME
        # The database contains emails and hardware ids, so only the owner may read it. SQLite
        # gives its -wal and -shm files the database file's permissions.
        os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._max_attempts = max_attempts
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        # Threads of this process take turns here before `BEGIN IMMEDIATE`. Without it they
        # wait in SQLite's default busy handler (sqliteDefaultBusyCallback), which polls with
        # sleeps of up to 100 ms and leaves the write lock idle between holders. Other
        # processes still wait in the busy handler. Reentrant, so a nested transaction fails
        # in SQLite instead of deadlocking.
        self._write_turn = threading.RLock()
        db = self._connection()
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)
        db.executescript(_BILLING_SCHEMA)

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        # FULL syncs the write-ahead log on every commit, so a granted seat or a closed
        # lease survives a power loss, not only a process crash.
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._open()
            self._local.db = db
            with self._connections_lock:
                self._connections.append(db)
        return db

    def run_transaction(self, work: Callable[[_SqliteTransaction], T]) -> T:
        db = self._connection()
        with self._write_turn:
            return self._run_attempts(db, work)

    def _run_attempts(self, db: sqlite3.Connection, work: Callable[[_SqliteTransaction], T]) -> T:
        for attempt in range(1, self._max_attempts + 1):
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                if not _is_lock_conflict(error):
                    raise
                log.warning(
                    "SQLite write lock busy, retrying",
                    extra={"attempt": attempt, "max_attempts": self._max_attempts},
                )
                # Jittered backoff so that waiting processes do not retry in lockstep.
                time.sleep(random.uniform(0, 0.05 * attempt))  # noqa: S311 (backoff jitter)
                continue
            try:
                result = work(_SqliteTransaction(db))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result
        raise StoreContention(self._max_attempts)

    # Administration.

    def create_product(self, product: Product) -> None:
        self._connection().execute(
            "INSERT INTO products (id, slug, name, created_at) VALUES (?, ?, ?, ?)",
            (product.id, product.slug, product.name, _to_text(product.created_at)),
        )

    def product_by_slug(self, slug: str) -> Product | None:
        row = (
            self._connection().execute("SELECT * FROM products WHERE slug = ?", (slug,)).fetchone()
        )
        if row is None:
            return None
        return Product(row["id"], row["slug"], row["name"], _required_time(row["created_at"]))

    def list_products(self) -> Sequence[Product]:
        rows = self._connection().execute("SELECT * FROM products ORDER BY slug").fetchall()
        return [
            Product(row["id"], row["slug"], row["name"], _required_time(row["created_at"]))
            for row in rows
        ]

    def create_policy(self, policy: Policy) -> None:
        self._connection().execute(
            "INSERT INTO policies (id, name, seats, heartbeat_interval_seconds,"
            " lease_lifetime_seconds, seat_scope, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                policy.id,
                policy.name,
                policy.seats,
                policy.heartbeat_interval_seconds,
                policy.lease_lifetime_seconds,
                policy.seat_scope.value,
                _to_text(policy.created_at),
            ),
        )

    def _policy_from_row(self, row: sqlite3.Row) -> Policy:
        return Policy(
            id=row["id"],
            name=row["name"],
            seats=row["seats"],
            heartbeat_interval_seconds=row["heartbeat_interval_seconds"],
            lease_lifetime_seconds=row["lease_lifetime_seconds"],
            seat_scope=SeatScope(row["seat_scope"]),
            created_at=_required_time(row["created_at"]),
        )

    def policy_by_name(self, name: str) -> Policy | None:
        row = (
            self._connection().execute("SELECT * FROM policies WHERE name = ?", (name,)).fetchone()
        )
        return self._policy_from_row(row) if row else None

    def list_policies(self) -> Sequence[Policy]:
        rows = self._connection().execute("SELECT * FROM policies ORDER BY name").fetchall()
        return [self._policy_from_row(row) for row in rows]

    def create_license(self, license: License) -> None:
        self._connection().execute(
            "INSERT INTO licenses (id, key_hash, customer, product_id, product_slug, policy_id,"
            " seats, heartbeat_interval_seconds, lease_lifetime_seconds, seat_scope, status,"
            " expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                license.id,
                license.key_hash,
                license.customer,
                license.product_id,
                license.product_slug,
                license.policy_id,
                license.seats,
                license.heartbeat_interval_seconds,
                license.lease_lifetime_seconds,
                license.seat_scope.value,
                license.status.value,
                _to_text(license.expires_at),
                _to_text(license.created_at),
            ),
        )

    def list_licenses(self) -> Sequence[License]:
        rows = (
            self._connection().execute("SELECT * FROM licenses ORDER BY created_at, id").fetchall()
        )
        return [_license_from_row(row) for row in rows]

    def list_open_leases(self, license_id: str | None = None) -> Sequence[Lease]:
        if license_id is None:
            rows = (
                self._connection()
                .execute("SELECT * FROM leases WHERE released_at IS NULL ORDER BY acquired_at")
                .fetchall()
            )
        else:
            rows = (
                self._connection()
                .execute(
                    "SELECT * FROM leases WHERE released_at IS NULL AND license_id = ?"
                    " ORDER BY acquired_at",
                    (license_id,),
                )
                .fetchall()
            )
        return [_lease_from_row(row) for row in rows]

    def expired_open_lease_ids(self, now: datetime, limit: int) -> Sequence[str]:
        rows = (
            self._connection()
            .execute(
                "SELECT id FROM leases WHERE released_at IS NULL AND expires_at <= ?"
                " ORDER BY expires_at LIMIT ?",
                (_to_text(now), limit),
            )
            .fetchall()
        )
        return [row["id"] for row in rows]

    def seat_counters(self, license_id: str) -> dict[int, int]:
        return _shard_counts(self._connection(), license_id)

    # Billing reads and writes, outside the seat path.

    def usage_records(self, start: datetime, end: datetime) -> Sequence[UsageRecord]:
        rows = (
            self._connection()
            .execute(
                "SELECT * FROM usage_records WHERE acquired_at < ? AND ended_at >= ?"
                " ORDER BY acquired_at, lease_id",
                (_to_text(end), _to_text(start)),
            )
            .fetchall()
        )
        return [_usage_record_from_row(row) for row in rows]

    def denials(self, start: datetime, end: datetime) -> Sequence[DenialEvent]:
        rows = (
            self._connection()
            .execute(
                "SELECT * FROM denials WHERE occurred_at >= ? AND occurred_at < ?"
                " ORDER BY occurred_at, id",
                (_to_text(start), _to_text(end)),
            )
            .fetchall()
        )
        return [_denial_from_row(row) for row in rows]

    def insert_price_plan(self, plan: PricePlan) -> None:
        self._connection().execute(
            "INSERT INTO price_plans (id, product_slug, license_id, effective_from, currency,"
            " price_per_seat_hour, commitment, included_quantity, overage_price_per_seat_hour,"
            " granularity_seconds, rounding, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                plan.id,
                plan.product_slug,
                plan.license_id,
                _to_text(plan.effective_from),
                plan.currency,
                str(plan.price_per_seat_hour),
                plan.commitment.value,
                str(plan.included_quantity),
                str(plan.overage_price_per_seat_hour),
                plan.granularity_seconds,
                plan.rounding.value,
                _to_text(plan.created_at),
            ),
        )

    def list_price_plans(self) -> Sequence[PricePlan]:
        rows = (
            self._connection()
            .execute("SELECT * FROM price_plans ORDER BY effective_from, created_at, id")
            .fetchall()
        )
        return [_price_plan_from_row(row) for row in rows]

    def insert_closed_period(self, period: ClosedPeriod) -> None:
        try:
            self._connection().execute(
                "INSERT INTO closed_periods (month, closed_at, report_json) VALUES (?, ?, ?)",
                (period.month, _to_text(period.closed_at), period.report_json),
            )
        except sqlite3.IntegrityError:
            raise PeriodAlreadyClosed(period.month) from None

    def list_closed_periods(self) -> Sequence[ClosedPeriod]:
        rows = self._connection().execute("SELECT * FROM closed_periods ORDER BY month").fetchall()
        return [
            ClosedPeriod(row["month"], _required_time(row["closed_at"]), row["report_json"])
            for row in rows
        ]

    def close(self) -> None:
        with self._connections_lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()
